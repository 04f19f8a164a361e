"""A cluster that announces addresses the client cannot reach, used through a remap."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import rediscluster
from rediscluster.testing import ClusterNotReadyError, LocalCluster


def listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_offset(cluster: LocalCluster) -> int:
    for offset in range(1000, 3000, 137):
        ports = [node.port + offset for node in cluster.nodes]
        if all(p < 65536 and not listening(cluster.host, p) for p in ports):
            return offset
    raise AssertionError("no port offset without a listener")


def slot_ports(node: Any) -> set[int]:
    with node.client() as plain:
        return {int(entry[2][1]) for entry in plain.execute_command("CLUSTER SLOTS")}


def announce(cluster: LocalCluster, offset: int) -> None:
    """Make every node announce port + offset, keeping the real bus port."""
    for node in cluster.nodes:
        with node.client() as plain:
            plain.config_set("cluster-announce-port", node.port + offset)
            plain.config_set("cluster-announce-bus-port", node.bus_port)
        node.announced_port = node.port + offset
    expected = {node.port + offset for node in cluster.nodes}
    if any(slot_ports(node) != expected for node in cluster.nodes):
        # Redis 6.2 lists itself at its real port in CLUSTER SLOTS after
        # CONFIG SET, until it restarts with the announced port in its config.
        for node in cluster.nodes:
            cluster.restart(node, wait=False)
        cluster.wait_ready()
    deadline = time.monotonic() + 15
    while any(slot_ports(node) != expected for node in cluster.nodes):
        assert time.monotonic() < deadline, "announced ports did not spread"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def hidden() -> Iterator[tuple[LocalCluster, int]]:
    from conftest import track

    with LocalCluster(masters=3, replicas=0) as local:
        track(local)
        offset = free_offset(local)
        announce(local, offset)
        yield local, offset
        for node in local.nodes:
            if node.alive:
                with node.client() as plain:
                    plain.config_set("cluster-announce-port", 0)


def real_nodes(cluster: LocalCluster) -> list[dict[str, Any]]:
    return [{"host": node.host, "port": node.port} for node in cluster.nodes]


def remap_kwargs(kind: str, cluster: LocalCluster, offset: int) -> dict[str, Any]:
    if kind == "address_remap":
        return {"address_remap": lambda a: (a[0], a[1] - offset)}
    rules = [
        {"from_port": node.port + offset, "to_port": node.port}
        for node in cluster.nodes
    ]
    return {"host_port_remap": rules}


@pytest.fixture(params=["address_remap", "host_port_remap"])
def remapped(
    request: pytest.FixtureRequest, hidden: tuple[LocalCluster, int]
) -> Iterator[rediscluster.RedisCluster]:
    cluster, offset = hidden
    client = rediscluster.RedisCluster(
        startup_nodes=real_nodes(cluster),
        retry=Retry(NoBackoff(), 1),
        socket_connect_timeout=1,
        **remap_kwargs(request.param, cluster, offset),
    )
    yield client
    client.close()


def spread(rc: rediscluster.RedisCluster, prefix: str) -> list[str]:
    keys = [f"{prefix}:{n}" for n in range(30)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    return keys


def test_without_remap_fails(hidden: tuple[LocalCluster, int]) -> None:
    cluster, offset = hidden
    announced = [str(node.port + offset) for node in cluster.nodes]
    client = None
    with pytest.raises(redis.ConnectionError) as error:
        client = rediscluster.RedisCluster(
            startup_nodes=real_nodes(cluster),
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=1,
        )
        for n in range(10):
            client.get(f"unreachable:{n}")
    if client is not None:
        client.close()
    assert any(port in str(error.value) for port in announced)


def test_remap_node_ports(
    hidden: tuple[LocalCluster, int], remapped: rediscluster.RedisCluster
) -> None:
    cluster, _ = hidden
    found = {node.port for node in remapped.get_nodes()}
    assert found == {node.port for node in cluster.nodes}


def test_remap_get_set(remapped: rediscluster.RedisCluster) -> None:
    keys = spread(remapped, "nat")
    for key in keys:
        remapped.set(key, key)
    assert [remapped.get(k) for k in keys] == [k.encode() for k in keys]


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "no-threads"])
def test_remap_pipeline(remapped: rediscluster.RedisCluster, use_threads: bool) -> None:
    keys = spread(remapped, "natpipe")
    pipe = remapped.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.set(key, key)
        pipe.get(key)
    assert pipe.execute()[1::2] == [k.encode() for k in keys]


def test_remap_multikey(remapped: rediscluster.RedisCluster) -> None:
    keys = spread(remapped, "natmulti")
    remapped.mset({k: k for k in keys})
    assert remapped.mget(keys) == [k.encode() for k in keys]
    assert remapped.delete(*keys) == len(keys)


def test_remap_fanout(remapped: rediscluster.RedisCluster) -> None:
    assert remapped.ping() is True


def move_slot(cluster: LocalCluster, slot: int) -> Any:
    """Move slot from its master to another master and return the new owner."""
    source = cluster.node_for_slot(slot)
    target = next(node for node in cluster.masters if node is not source)
    with target.client() as plain:
        plain.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source.node_id)
    with source.client() as plain:
        plain.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target.node_id)
        keys = plain.execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
        if keys:
            plain.execute_command(
                "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys
            )
    # Back-to-back moves of one slot can leave nodes disagreeing, because
    # gossip sent before a SETSLOT still carries the old owner. A higher
    # config epoch makes the new owner's claim win; the assignment is
    # repeated until every node agrees.
    others = [n for n in cluster.masters if n not in (target, source)]
    for attempt in range(3):
        for node in [target, source, *others]:
            with node.client() as plain:
                plain.execute_command("CLUSTER SETSLOT", slot, "NODE", target.node_id)
        with target.client() as plain:
            plain.execute_command("CLUSTER BUMPEPOCH")
        try:
            cluster.wait_ready(timeout=10)
            return target
        except ClusterNotReadyError:
            if attempt == 2:
                raise
    return target


def test_moved_through_remap(
    hidden: tuple[LocalCluster, int], remapped: rediscluster.RedisCluster
) -> None:
    cluster, _ = hidden
    key = "moving"
    remapped.set(key, "v")
    move_slot(cluster, remapped.keyslot(key))
    assert remapped.get(key) == b"v"


def test_moved_updates_table(
    hidden: tuple[LocalCluster, int], remapped: rediscluster.RedisCluster
) -> None:
    cluster, _ = hidden
    key = "moving"
    slot = remapped.keyslot(key)
    remapped.set(key, "v")
    target = move_slot(cluster, slot)
    remapped.get(key)
    assert remapped.topology.table.primary_for(slot).port == target.port


def test_moved_pipeline_remap(
    hidden: tuple[LocalCluster, int], remapped: rediscluster.RedisCluster
) -> None:
    cluster, _ = hidden
    key = "moving"
    remapped.set(key, "v")
    move_slot(cluster, remapped.keyslot(key))
    pipe = remapped.pipeline()
    pipe.get(key)
    assert pipe.execute() == [b"v"]


def test_remap_after_refresh(remapped: rediscluster.RedisCluster) -> None:
    remapped.refresh_topology()
    remapped.set("refreshed", "v")
    assert remapped.get("refreshed") == b"v"
