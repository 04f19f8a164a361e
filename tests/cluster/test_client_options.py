"""Connection keywords of redis.Redis reach every node; URL and RESP3 set-up."""

from __future__ import annotations

from typing import Any

import pytest
import redis

import rediscluster
from rediscluster.testing import LocalCluster


def spread_keys(rc: rediscluster.RedisCluster, prefix: str) -> list[str]:
    keys = [f"{prefix}:{n}" for n in range(30)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    return keys


def test_client_name_on_every_master(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, client_name="options-test"
    )
    try:
        pipe = rc.pipeline()
        for key in spread_keys(rc, "name"):
            pipe.get(key)
        pipe.execute()
        for node in cluster.masters:
            direct = node.client()
            names = [c["name"] for c in direct.client_list()]
            direct.close()
            assert "options-test" in names, node.port
    finally:
        rc.close()


def test_decode_responses_everywhere(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, decode_responses=True
    )
    try:
        keys = spread_keys(rc, "decode")
        pipe = rc.pipeline()
        for key in keys:
            pipe.set(key, "é").get(key)
        assert pipe.execute() == [v for _ in keys for v in (True, "é")]
        assert rc.get(keys[0]) == "é"
    finally:
        rc.close()


def test_resp3_protocol(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes, protocol=3)
    try:
        keys = spread_keys(rc, "resp3")
        pipe = rc.pipeline()
        for key in keys:
            pipe.hset(key, "f", 1).hgetall(key)
        assert pipe.execute() == [v for _ in keys for v in (1, {b"f": b"1"})]
        assert rc.hgetall(keys[0]) == {b"f": b"1"}
    finally:
        rc.close()


def test_from_url(cluster: LocalCluster) -> None:
    node = cluster.startup_nodes[0]
    rc = rediscluster.RedisCluster.from_url(
        f"redis://{node['host']}:{node['port']}/0?socket_timeout=3",
        decode_responses=True,
    )
    try:
        rc.set("url-key", "v")
        assert rc.get("url-key") == "v"
        assert len(rc.get_primaries()) == 3
        assert rc.get_primaries()[0].pool._factory().socket_timeout == 3
    finally:
        rc.close()


def test_from_url_rejects_unix() -> None:
    with pytest.raises(ValueError, match="unix"):
        rediscluster.RedisCluster.from_url("unix:///tmp/redis.sock")


def test_is_redis_instance(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    try:
        assert isinstance(rc, redis.Redis)
        assert "3 masters" in repr(rc)
    finally:
        rc.close()


def test_max_connections_bound(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, max_connections=2, pool_timeout=0.2
    )
    try:
        node = rc.get_primaries()[0]
        first = node.pool.acquire()
        second = node.pool.acquire()
        with pytest.raises(rediscluster.PoolTimeoutError, match="max_connections"):
            node.pool.acquire()
        node.pool.release(first)
        node.pool.release(second)
        assert node.pool.created == 2
        assert node.pool.in_use == 0
    finally:
        rc.close()


@pytest.mark.parametrize("value", [0, -1, 2.5, "4", True])
def test_pipeline_max_workers_rejected(cluster: LocalCluster, value: Any) -> None:
    with pytest.raises(ValueError, match="pipeline_max_workers must be a positive"):
        rediscluster.RedisCluster(
            startup_nodes=cluster.startup_nodes, pipeline_max_workers=value
        )


def test_pipeline_use_threads_read_only(rc: rediscluster.RedisCluster) -> None:
    pipe = rc.pipeline(use_threads=True)
    with pytest.raises(AttributeError):
        pipe.use_threads = False  # type: ignore[misc]
    assert pipe.use_threads is True
