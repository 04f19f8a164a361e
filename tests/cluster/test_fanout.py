"""Keyless commands that run on several nodes, and the target_nodes keyword."""

from __future__ import annotations

from typing import Any

import pytest
import redis.cluster

import rediscluster
from rediscluster.testing import LocalCluster


def fill(rc: rediscluster.RedisCluster) -> set[bytes]:
    """Write strings and hashes on every master and return the keys written."""
    keys = [f"fan:{n}" for n in range(60)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    for n, key in enumerate(keys):
        if n % 3 == 0:
            rc.hset(key, "field", n)
        else:
            rc.set(key, n)
    return {key.encode() for key in keys}


def hashes(keys: set[bytes]) -> set[bytes]:
    return {key for key in keys if int(key.split(b":")[1]) % 3 == 0}


def master_dbsizes(cluster: LocalCluster) -> list[int]:
    sizes = []
    for node in cluster.masters:
        with node.client() as plain:
            sizes.append(plain.dbsize())
    return sizes


def names(nodes: Any) -> set[str]:
    return {f"{node.host}:{node.port}" for node in nodes}


def test_keys_returns_every_key(rc: rediscluster.RedisCluster) -> None:
    written = fill(rc)
    assert set(rc.keys()) == written


def test_keys_with_pattern(rc: rediscluster.RedisCluster) -> None:
    written = fill(rc)
    assert set(rc.keys("fan:1*")) == {k for k in written if k.startswith(b"fan:1")}


def test_keys_no_repeats(rc: rediscluster.RedisCluster) -> None:
    written = fill(rc)
    assert len(rc.keys()) == len(written)


def test_scan_iter_every_key(rc: rediscluster.RedisCluster) -> None:
    written = fill(rc)
    assert set(rc.scan_iter(count=5)) == written


def test_scan_iter_match(rc: rediscluster.RedisCluster) -> None:
    written = fill(rc)
    found = set(rc.scan_iter(match="fan:2*"))
    assert found == {k for k in written if k.startswith(b"fan:2")}


def test_scan_iter_type(rc: rediscluster.RedisCluster) -> None:
    written = fill(rc)
    assert set(rc.scan_iter(_type="hash")) == hashes(written)


def test_dbsize_sums_masters(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    fill(rc)
    assert rc.dbsize() == sum(master_dbsizes(cluster))


def test_flushall_empties_masters(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    fill(rc)
    assert rc.flushall() is True
    assert master_dbsizes(cluster) == [0, 0, 0]


def test_ping_is_true(rc: rediscluster.RedisCluster) -> None:
    assert rc.ping() is True


def test_info_keyed_by_node(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    assert set(rc.info()) == {f"{n.host}:{n.announced_port}" for n in cluster.nodes}


def test_info_values_are_dicts(rc: rediscluster.RedisCluster) -> None:
    assert all("redis_version" in info for info in rc.info().values())


def test_randomkey_existing(rc: rediscluster.RedisCluster) -> None:
    written = fill(rc)
    assert rc.randomkey() in written


def test_randomkey_one_key(rc: rediscluster.RedisCluster) -> None:
    rc.set("lonely", "v")
    assert {rc.randomkey() for _ in range(20)} == {b"lonely"}


def test_config_get_per_node(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    reply = rc.config_get("maxmemory")
    assert reply == {
        f"{n.host}:{n.announced_port}": {"maxmemory": "0"} for n in cluster.nodes
    }


TARGETS = [
    ("primaries", lambda rc: rc.PRIMARIES, lambda rc: rc.get_primaries()),
    ("replicas", lambda rc: rc.REPLICAS, lambda rc: rc.get_replicas()),
    ("all", lambda rc: rc.ALL_NODES, lambda rc: rc.get_nodes()),
    ("default", lambda rc: rc.DEFAULT_NODE, lambda rc: [rc.get_default_node()]),
    ("node", lambda rc: rc.get_primaries()[1], lambda rc: rc.get_primaries()[1:2]),
    ("list", lambda rc: rc.get_primaries()[:2], lambda rc: rc.get_primaries()[:2]),
    (
        "redis-py-node",
        lambda rc: redis.cluster.ClusterNode(
            rc.get_primaries()[2].host, rc.get_primaries()[2].port
        ),
        lambda rc: rc.get_primaries()[2:],
    ),
]


@pytest.mark.parametrize(
    ("target", "expected"),
    [case[1:] for case in TARGETS],
    ids=[case[0] for case in TARGETS],
)
def test_target_nodes_info(
    rc: rediscluster.RedisCluster, target: Any, expected: Any
) -> None:
    assert set(rc.info("server", target_nodes=target(rc))) == names(expected(rc))


@pytest.mark.parametrize(
    "target",
    [case[1] for case in TARGETS],
    ids=[case[0] for case in TARGETS],
)
def test_target_nodes_ping(rc: rediscluster.RedisCluster, target: Any) -> None:
    assert rc.ping(target_nodes=target(rc)) is True


def test_random_target_one_primary(rc: rediscluster.RedisCluster) -> None:
    reply = rc.info("server", target_nodes=rc.RANDOM)
    assert len(reply) == 1
    assert set(reply) <= names(rc.get_primaries())


def test_dbsize_of_one_node(rc: rediscluster.RedisCluster) -> None:
    fill(rc)
    node = rc.get_primaries()[0]
    with redis.Redis(host=node.host, port=node.port) as plain:
        expected = plain.dbsize()
    assert rc.dbsize(target_nodes=node) == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [("nowhere", "'nowhere'"), (42, "42"), ([], "[]"), (["a"], "['a']")],
    ids=["name", "int", "empty-list", "list-of-str"],
)
def test_invalid_target_raises(
    rc: rediscluster.RedisCluster, value: Any, shown: str
) -> None:
    with pytest.raises(ValueError) as error:
        rc.ping(target_nodes=value)
    assert shown in str(error.value)
