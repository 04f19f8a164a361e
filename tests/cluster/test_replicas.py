"""Reads from replicas: where commands land, strategies, and a dead replica."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

import rediscluster
from rediscluster.testing import LocalCluster

STRATEGIES = ["round_robin", "random_replica", "primaries_and_replicas"]


def spread(rc: rediscluster.RedisCluster, count: int = 300) -> list[str]:
    keys = [f"rep:{n}" for n in range(count)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    return keys


def reset_stats(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        with node.client() as plain:
            plain.config_resetstat()


def calls(nodes: list[Any], command: str) -> list[int]:
    found = []
    for node in nodes:
        with node.client() as plain:
            stats = plain.info("commandstats")
        found.append(int(stats.get(f"cmdstat_{command}", {}).get("calls", 0)))
    return found


def moved_replies(nodes: list[Any]) -> list[int]:
    found = []
    for node in nodes:
        with node.client() as plain:
            stats = plain.info("errorstats")
        found.append(int(stats.get("errorstat_MOVED", {}).get("count", 0)))
    return found


def replicated_only(cluster: LocalCluster) -> tuple[list[int], list[int]]:
    """Return the SET calls of each replica and of its master, after WAIT."""
    replicas = replicas_of(cluster)
    for node in cluster.masters:
        with node.client() as plain:
            plain.wait(1, 2000)
    return calls(replicas, "set"), calls([r.master_of for r in replicas], "set")


def replicas_of(cluster: LocalCluster) -> list[Any]:
    cluster.refresh_roles()
    return cluster.replicas


def masters_of(cluster: LocalCluster) -> list[Any]:
    cluster.refresh_roles()
    return cluster.masters


@pytest.fixture
def reader(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> Iterator[rediscluster.RedisCluster]:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, read_from_replicas=True
    )
    yield client
    client.close()


def test_gets_reach_replicas(
    cluster: LocalCluster, reader: rediscluster.RedisCluster
) -> None:
    keys = spread(reader)
    reset_stats(cluster)
    for key in keys:
        reader.set(key, "v")
    for key in keys:
        reader.get(key)
    assert all(count > 0 for count in calls(replicas_of(cluster), "get"))


def test_sets_skip_replicas(
    cluster: LocalCluster, reader: rediscluster.RedisCluster
) -> None:
    keys = spread(reader)
    reset_stats(cluster)
    for key in keys:
        reader.set(key, "v")
    for key in keys:
        reader.get(key)
    on_replicas, on_masters = replicated_only(cluster)
    assert on_replicas == on_masters


def test_no_moved_from_replicas(
    cluster: LocalCluster, reader: rediscluster.RedisCluster
) -> None:
    keys = spread(reader)
    reset_stats(cluster)
    for key in keys:
        reader.set(key, "v")
    for key in keys:
        reader.get(key)
    assert moved_replies(replicas_of(cluster)) == [0, 0, 0]


def test_sets_all_on_masters(
    cluster: LocalCluster, reader: rediscluster.RedisCluster
) -> None:
    keys = spread(reader)
    reset_stats(cluster)
    for key in keys:
        reader.set(key, "v")
    for key in keys:
        reader.get(key)
    assert sum(calls(masters_of(cluster), "set")) == len(keys)


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "no-threads"])
def test_pipeline_gets_reach_replicas(
    cluster: LocalCluster, reader: rediscluster.RedisCluster, use_threads: bool
) -> None:
    keys = spread(reader)
    reset_stats(cluster)
    pipe = reader.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.get(key)
    pipe.execute()
    assert all(count > 0 for count in calls(replicas_of(cluster), "get"))


def test_pipeline_sets_on_masters(
    cluster: LocalCluster, reader: rediscluster.RedisCluster
) -> None:
    keys = spread(reader)
    reset_stats(cluster)
    pipe = reader.pipeline()
    for key in keys:
        pipe.set(key, "v")
    pipe.execute()
    on_replicas, on_masters = replicated_only(cluster)
    assert on_replicas == on_masters


def test_pipeline_no_moved(
    cluster: LocalCluster, reader: rediscluster.RedisCluster
) -> None:
    keys = spread(reader)
    reset_stats(cluster)
    pipe = reader.pipeline()
    for key in keys:
        pipe.set(key, "v")
        pipe.get(key)
    pipe.execute()
    assert moved_replies(replicas_of(cluster)) == [0, 0, 0]


@pytest.mark.parametrize(
    ("strategy", "masters_read"),
    [("round_robin", False), ("random_replica", False),
     ("primaries_and_replicas", True)],
)
def test_strategy_spreads_reads(
    cluster: LocalCluster,
    rc: rediscluster.RedisCluster,
    strategy: str,
    masters_read: bool,
) -> None:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes,
        read_from_replicas=True,
        load_balancing_strategy=strategy,
    )
    try:
        keys = spread(client, 90)
        for key in keys:
            client.set(key, key)
        reset_stats(cluster)
        for key in keys:
            client.get(key)
    finally:
        client.close()
    on_replicas = sum(calls(replicas_of(cluster), "get"))
    on_masters = sum(calls(masters_of(cluster), "get"))
    assert on_replicas + on_masters == len(keys)
    assert (on_masters > 0) is masters_read
    assert on_replicas > 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategy_reads_values(
    cluster: LocalCluster, rc: rediscluster.RedisCluster, strategy: str
) -> None:
    keys = spread(rc, 30)
    for key in keys:
        rc.set(key, key)
    for node in masters_of(cluster):
        with node.client() as plain:
            plain.wait(1, 2000)
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes,
        read_from_replicas=True,
        load_balancing_strategy=strategy,
    )
    try:
        values = [client.get(key) for key in keys]
    finally:
        client.close()
    assert values == [k.encode() for k in keys]


def test_invalid_strategy_raises(cluster: LocalCluster) -> None:
    with pytest.raises(ValueError, match="'nearest'"):
        rediscluster.RedisCluster(
            startup_nodes=cluster.startup_nodes,
            read_from_replicas=True,
            load_balancing_strategy="nearest",
        )


def test_readonly_mode_reads_replicas(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, readonly_mode=True
    )
    try:
        keys = spread(client, 60)
        reset_stats(cluster)
        for key in keys:
            client.get(key)
    finally:
        client.close()
    assert sum(calls(replicas_of(cluster), "get")) == len(keys)


@pytest.fixture(scope="module")
def small() -> Iterator[LocalCluster]:
    from conftest import track

    with LocalCluster(masters=3, replicas=1) as local:
        track(local)
        yield local


def test_dead_replica_reads_succeed(small: LocalCluster) -> None:
    client = rediscluster.RedisCluster(
        startup_nodes=small.startup_nodes,
        read_from_replicas=True,
        socket_connect_timeout=1,
        socket_timeout=2,
    )
    try:
        victim = small.replicas[0]
        master = victim.master_of
        keys = [
            k for k in (f"dead:{n}" for n in range(300))
            if client.get_node_from_key(k).port == master.announced_port
        ]
        for key in keys:
            client.set(key, "v")
        small.kill(victim)
        errors = 0
        for _ in range(3):
            for key in keys:
                try:
                    client.get(key)
                except redis.RedisError:
                    errors += 1
    finally:
        client.close()
    assert keys
    assert errors == 0


def test_dead_replica_new_client(small: LocalCluster) -> None:
    small.kill(small.replicas[0])
    client = rediscluster.RedisCluster(
        startup_nodes=[
            {"host": n.host, "port": n.announced_port} for n in small.masters
        ],
        read_from_replicas=True,
        socket_connect_timeout=1,
    )
    errors = 0
    try:
        for n in range(200):
            try:
                client.get(f"fresh:{n}")
            except redis.RedisError:
                errors += 1
    finally:
        client.close()
    assert errors == 0
