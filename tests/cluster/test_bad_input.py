"""Bad input and bad peers give clear errors, never a hang or a crash."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.exceptions import DataError, ResponseError

import rediscluster
from rediscluster import RedisCluster
from rediscluster.testing import LocalCluster
from tests.cluster.fake_server import FakeServer, encode, standard_answer


def serve_slots(reply: bytes) -> FakeServer:
    """Return a fake node that replies to CLUSTER SLOTS with reply."""
    server = FakeServer()
    base = standard_answer(server.port)
    server.answer = lambda c: reply if c[:2] == [b"CLUSTER", b"SLOTS"] else base(c)
    return server


def serve_moved(nonsense: bytes) -> FakeServer:
    """Return a fake node that owns every slot but replies MOVED to GET and SET."""
    server = FakeServer()
    base = standard_answer(server.port)

    def answer(command: list[bytes]) -> bytes | None:
        if command[0].upper() in (b"GET", b"SET"):
            return b"-MOVED " + nonsense + b"\r\n"
        return base(command)

    server.answer = answer
    return server


BAD_SLOTS = {
    "not a list": b"+OK\r\n",
    "text slot": encode([[b"abc", 5, [b"127.0.0.1", 7000]]]),
    "no port": encode([[0, 16383, [b"127.0.0.1"]]]),
    "text port": encode([[0, 16383, [b"127.0.0.1", b"notaport"]]]),
    "port too big": encode([[0, 16383, [b"127.0.0.1", 99999]]]),
    "no server": encode([[0, 16383]]),
    "bare number": encode([5]),
}


@pytest.mark.parametrize("reply", BAD_SLOTS.values(), ids=BAD_SLOTS.keys())
def test_bad_slots_topology_error(reply: bytes) -> None:
    with serve_slots(reply) as server:
        with pytest.raises(rediscluster.TopologyError) as raised:
            RedisCluster(host="127.0.0.1", port=server.port, socket_timeout=1)
    assert f"127.0.0.1:{server.port} sent an unusable CLUSTER SLOTS" in str(
        raised.value
    )


def test_bad_slots_quotes_value() -> None:
    with serve_slots(BAD_SLOTS["text port"]) as server:
        with pytest.raises(rediscluster.TopologyError) as raised:
            RedisCluster(host="127.0.0.1", port=server.port, socket_timeout=1)
    assert "b'notaport'" in str(raised.value)


def test_bad_moved_names_node() -> None:
    with serve_moved(b"1 nonsense") as server:
        with RedisCluster(host="127.0.0.1", port=server.port, socket_timeout=1) as rc:
            with pytest.raises(rediscluster.TopologyError) as raised:
                rc.get("k")
    assert str(raised.value).startswith(f"127.0.0.1:{server.port} sent a reply")


def test_bad_moved_in_pipeline() -> None:
    with serve_moved(b"1 nonsense") as server:
        with RedisCluster(host="127.0.0.1", port=server.port, socket_timeout=1) as rc:
            results = rc.pipeline().get("k").execute(raise_on_error=False)
    assert isinstance(results[0], rediscluster.TopologyError)


def test_garbage_peer_protocol_error() -> None:
    with FakeServer(answer=lambda c: None, greeting=b"garbage\r\n\x00\xff") as fake:
        with pytest.raises(rediscluster.TopologyError) as raised:
            RedisCluster(host="127.0.0.1", port=fake.port, socket_timeout=0.5)
    assert "does not speak the Redis protocol" in str(raised.value)


def test_silent_peer_times_out() -> None:
    with FakeServer(answer=lambda c: None) as fake:
        started = time.monotonic()
        with pytest.raises(rediscluster.NoReachableNodeError) as raised:
            RedisCluster(host="127.0.0.1", port=fake.port, socket_timeout=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, (elapsed, raised.value)


def test_silent_peer_message() -> None:
    with FakeServer(answer=lambda c: None) as fake:
        with pytest.raises(rediscluster.NoReachableNodeError) as raised:
            RedisCluster(host="127.0.0.1", port=fake.port, socket_timeout=0.5)
    assert f"Timeout reading from 127.0.0.1:{fake.port}" in str(raised.value)


@pytest.mark.parametrize(
    "node, text",
    [
        ({"host": "127.0.0.1"}, "needs both 'host' and 'port'"),
        ({"host": "127.0.0.1", "port": 70000}, "port 70000, outside 1-65535"),
        ("127.0.0.1", "has no port"),
        (3.5, "of type float is not supported"),
    ],
)
def test_bad_startup_node(node: Any, text: str) -> None:
    with pytest.raises((ValueError, TypeError)) as raised:
        RedisCluster(startup_nodes=[node])
    assert text in str(raised.value)


def test_empty_startup_list() -> None:
    with pytest.raises(ValueError, match="no startup node given"):
        RedisCluster(startup_nodes=[])


@pytest.mark.parametrize("key", [None, {"a": 1}, [1, 2], object()])
def test_unsupported_key_type(rc: RedisCluster, key: Any) -> None:
    with pytest.raises(DataError, match="a key must be str, bytes, int or float"):
        rc.get(key)


def test_unsupported_key_names_value(rc: RedisCluster) -> None:
    with pytest.raises(DataError, match=r"invalid key \{'a': 1\} of type dict"):
        rc.set({"a": 1}, "v")


def test_unsupported_key_in_pipeline(rc: RedisCluster) -> None:
    with pytest.raises(DataError, match="invalid key None"):
        rc.pipeline().set(None, 1)


def test_empty_key_round_trip(rc: RedisCluster) -> None:
    rc.set("", "empty")
    assert rc.get("") == b"empty"


@pytest.fixture
def small_bulk(cluster: LocalCluster) -> Iterator[int]:
    limit = 1024 * 1024
    for node in cluster.masters:
        with node.client() as client:
            client.config_set("proto-max-bulk-len", limit)
    yield limit
    for node in cluster.masters:
        with node.client() as client:
            client.config_set("proto-max-bulk-len", 512 * 1024 * 1024)


# The server rejects a bulk length over proto-max-bulk-len as soon as it reads
# the length, replies with an error and closes the connection. When the close
# arrives before the client has written the whole value, which happens under
# load, the client sees a connection reset instead of the reply.
OVER_LIMIT_ERRORS = (ResponseError, redis.ConnectionError)


def test_value_over_limit_rejected(rc: RedisCluster, small_bulk: int) -> None:
    with pytest.raises(OVER_LIMIT_ERRORS) as raised:
        rc.set("big", "x" * (2 * small_bulk))
    if isinstance(raised.value, ResponseError):
        assert "invalid bulk length" in str(raised.value)
    assert rc.get("big") is None


def test_value_over_limit_harmless(rc: RedisCluster, small_bulk: int) -> None:
    with pytest.raises(OVER_LIMIT_ERRORS):
        rc.set("big", "x" * (2 * small_bulk))
    rc.set("after", "fine")
    assert rc.get("after") == b"fine"


def test_wrong_arity(rc: RedisCluster) -> None:
    with pytest.raises(ResponseError, match="wrong number of arguments"):
        rc.execute_command("GET", "a", "b")


def test_unknown_command(rc: RedisCluster) -> None:
    with pytest.raises(ResponseError, match="unknown command"):
        rc.execute_command("NOSUCHCMD", "k")


def test_numeric_first_argument(rc: RedisCluster) -> None:
    # WAIT replies with the number of replicas that acknowledged the
    # connection's writes. With no writes yet, Redis 6.2 and 7.0 reply 0 and
    # Valkey 8.1 counts the master's one replica.
    acknowledged = rc.wait(0, 10)
    assert isinstance(acknowledged, int)
    assert acknowledged in (0, 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda rc: rc.select(1),
        lambda rc: rc.move("k", 1),
        lambda rc: rc.swapdb(0, 1),
    ],
    ids=["select", "move", "swapdb"],
)
def test_database_commands_refused(rc: RedisCluster, call: Any) -> None:
    with pytest.raises(rediscluster.ClusterError, match="only database 0"):
        call(rc)


def test_database_command_sends_nothing(rc: RedisCluster) -> None:
    rc.set("k", "v")
    with pytest.raises(rediscluster.ClusterError):
        rc.move("k", 1)
    assert rc.get("k") == b"v"


def test_select_zero_allowed(rc: RedisCluster) -> None:
    assert rc.execute_command("SELECT", 0) is True


def test_move_in_pipeline_refused(rc: RedisCluster) -> None:
    with pytest.raises(rediscluster.PipelineUsageError, match="only database 0"):
        rc.pipeline().move("k", 1)


def test_cross_slot_transaction(rc: RedisCluster) -> None:
    with pytest.raises(rediscluster.CrossSlotError, match="one hash tag"):
        rc.pipeline(transaction=True).set("a", 1).set("b", 2)


def test_mset_empty(rc: RedisCluster) -> None:
    with pytest.raises(DataError, match="empty mapping"):
        rc.mset({})


def test_empty_pipeline(rc: RedisCluster) -> None:
    assert rc.pipeline().execute() == []


def test_pipeline_after_close(rc: RedisCluster) -> None:
    pipe = rc.pipeline()
    pipe.close()
    with pytest.raises(rediscluster.PipelineUsageError, match="create a new one"):
        pipe.set("a", 1)


def test_pipeline_after_client_close(cluster: LocalCluster) -> None:
    client = RedisCluster(startup_nodes=cluster.startup_nodes)
    pipe = client.pipeline().set("a", 1)
    client.close()
    with pytest.raises(rediscluster.PipelineUsageError, match="closed"):
        pipe.execute()


def test_non_cluster_server() -> None:
    # A fake standalone server replies to CLUSTER SLOTS as Redis does there.
    disabled = b"-ERR This instance has cluster support disabled\r\n"
    with serve_slots(disabled) as server:
        with pytest.raises(rediscluster.NotClusterError, match="cluster-enabled"):
            RedisCluster(host="127.0.0.1", port=server.port, socket_timeout=1)


def test_redis_error_base(rc: RedisCluster) -> None:
    with pytest.raises(redis.RedisError):
        rc.select(2)
