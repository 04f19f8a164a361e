"""Errors RedisCluster raises for bad addresses, servers and arguments."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import AuthenticationError

import rediscluster
from rediscluster import RedisCluster
from rediscluster.testing import (
    LocalCluster,
    ServerNode,
    find_server_binary,
    launch_node,
)

PASSWORD = "s3cret"


def closed_port() -> int:
    """Return a loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerNode]:
    directory: Path = tmp_path_factory.mktemp("standalone")
    binary = find_server_binary()
    node = launch_node(
        lambda port: ServerNode(
            binary=binary,
            directory=directory / str(port),
            host="127.0.0.1",
            port=port,
            cluster=False,
        ),
        "127.0.0.1",
    )
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def secured() -> Iterator[LocalCluster]:
    # The password is set after the cluster forms, because LocalCluster pings
    # and joins its nodes without one.
    with LocalCluster(masters=3, replicas=0) as local:
        for node in local.nodes:
            with node.client() as client:
                client.config_set("masterauth", PASSWORD)
                client.config_set("requirepass", PASSWORD)
        yield local


def test_unreachable_node_raises() -> None:
    port = closed_port()
    started = time.monotonic()
    with pytest.raises(rediscluster.NoReachableNodeError) as raised:
        RedisCluster(host="127.0.0.1", port=port, socket_connect_timeout=1)
    assert time.monotonic() - started < 2
    assert f"127.0.0.1:{port}" in str(raised.value)


def test_unreachable_message_has_cause() -> None:
    port = closed_port()
    with pytest.raises(rediscluster.NoReachableNodeError) as raised:
        RedisCluster(host="127.0.0.1", port=port, socket_connect_timeout=1)
    assert "refused" in str(raised.value).lower()


def test_unreachable_lists_every_node() -> None:
    ports = [closed_port(), closed_port() + 1]
    nodes = [{"host": "127.0.0.1", "port": port} for port in ports]
    started = time.monotonic()
    with pytest.raises(rediscluster.NoReachableNodeError) as raised:
        RedisCluster(startup_nodes=nodes, socket_connect_timeout=1)
    assert time.monotonic() - started < 2
    for port in ports:
        assert f"127.0.0.1:{port}" in str(raised.value)


def test_unreachable_is_connection_error() -> None:
    with pytest.raises(redis.exceptions.ConnectionError):
        RedisCluster(host="127.0.0.1", port=closed_port(), socket_connect_timeout=1)


def test_one_reachable_node_enough(cluster: LocalCluster) -> None:
    nodes = [{"host": "127.0.0.1", "port": closed_port()}] + cluster.startup_nodes[:1]
    client = RedisCluster(startup_nodes=nodes, socket_connect_timeout=1)
    try:
        assert client.set("{e}k", "v") is True
        assert client.get("{e}k") == b"v"
    finally:
        client.delete("{e}k")
        client.close()


def test_standalone_server_not_cluster(standalone: ServerNode) -> None:
    with pytest.raises(rediscluster.NotClusterError) as raised:
        RedisCluster(host=standalone.host, port=standalone.port)
    assert f"{standalone.host}:{standalone.port}" in str(raised.value)


def test_wrong_password_raises(secured: LocalCluster) -> None:
    started = time.monotonic()
    with pytest.raises(AuthenticationError):
        RedisCluster(startup_nodes=secured.startup_nodes, password="wrong")
    assert time.monotonic() - started < 2


def test_wrong_password_message(secured: LocalCluster) -> None:
    with pytest.raises(AuthenticationError) as raised:
        RedisCluster(startup_nodes=secured.startup_nodes[:1], password="wrong")
    node = secured.startup_nodes[0]
    assert f"{node['host']}:{node['port']}" in str(raised.value)
    assert "invalid username-password pair" in str(raised.value)


def test_missing_password_raises(secured: LocalCluster) -> None:
    started = time.monotonic()
    with pytest.raises(AuthenticationError):
        RedisCluster(startup_nodes=secured.startup_nodes)
    assert time.monotonic() - started < 2


def test_right_password_works(secured: LocalCluster) -> None:
    client = RedisCluster(startup_nodes=secured.startup_nodes, password=PASSWORD)
    try:
        keys = [f"key:{index}" for index in range(30)]
        for key in keys:
            client.set(key, key)
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
        assert len(client.get_primaries()) == 3
    finally:
        for key in keys:
            client.delete(key)
        client.close()


def test_cross_slot_command_names_keys(rc: RedisCluster) -> None:
    assert rc.keyslot("foo") != rc.keyslot("bar")
    with pytest.raises(rediscluster.CrossSlotError) as raised:
        rc.sinterstore("foo", ["bar"])
    assert "'foo'" in str(raised.value)
    assert "'bar'" in str(raised.value)


def test_cross_slot_is_data_error(rc: RedisCluster) -> None:
    with pytest.raises(redis.exceptions.DataError):
        rc.msetnx({"foo": 1, "bar": 2})


def test_cross_slot_sends_nothing(rc: RedisCluster) -> None:
    with pytest.raises(rediscluster.CrossSlotError):
        rc.msetnx({"foo": 1, "bar": 2})
    assert rc.get("foo") is None


def test_same_tag_mget_works(rc: RedisCluster) -> None:
    rc.set("{u}foo", "1")
    assert rc.mget("{u}foo", "{u}bar") == [b"1", None]


@pytest.mark.parametrize("db", [1, "1", 15])
def test_nonzero_db_value_error(cluster: LocalCluster, db: object) -> None:
    with pytest.raises(ValueError) as raised:
        RedisCluster(startup_nodes=cluster.startup_nodes, db=db)
    assert f"db={db!r}" in str(raised.value)


def test_db_zero_accepted(cluster: LocalCluster) -> None:
    client = RedisCluster(startup_nodes=cluster.startup_nodes, db=0)
    try:
        assert client.ping() is True
    finally:
        client.close()


@pytest.mark.parametrize("fast_pack", [True, False], ids=["hiredis", "redis-py"])
def test_unencodable_value_raises_encode_error(
    cluster: LocalCluster, fast_pack: bool
) -> None:
    # A lone surrogate cannot be encoded as UTF-8. Nothing reaches the
    # server, so the error is the caller's, as in a pipeline and in redis-py.
    rc = RedisCluster(startup_nodes=cluster.startup_nodes)
    try:
        rc.delete("errors:unencodable")
        if not fast_pack:
            rc.wire = dataclasses.replace(rc.wire, fast_pack=False)
        with pytest.raises(UnicodeEncodeError):
            rc.set("errors:unencodable", "\udc80")
        assert rc.exists("errors:unencodable") == 0
        assert rc.set("errors:unencodable", "ok") is True
    finally:
        rc.close()
