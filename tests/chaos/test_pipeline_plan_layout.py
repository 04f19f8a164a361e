"""Pipelines queued under one slot map and executed under another.

A pipeline groups its commands per node while they are queued. When a slot
moves, or a replica takes over, between queueing and ``execute()``, the
client's slot map has not changed yet, so the first round goes to the old
owner. The MOVED, ASK or connection errors it gets must lead every command
to the new owner, and every write must apply exactly once.
"""

from __future__ import annotations

import signal

from redis.crc import key_slot

import rediscluster
from rediscluster.testing import LocalCluster, ServerNode

from .conftest import (
    failover_client,
    is_master,
    migrate_slots,
    run,
    slot_owners,
    text,
    wait_until_master,
)


def tagged_keys(tag: str, count: int) -> list[str]:
    return [f"{{{tag}}}:{n}" for n in range(count)]


def other_master(cluster: LocalCluster, node: ServerNode) -> ServerNode:
    return next(master for master in cluster.masters if master is not node)


def queue_counters(
    rc: rediscluster.RedisCluster, keys: list[str]
) -> rediscluster.ClusterPipeline:
    """Return a pipeline with INCR and GET of every key, planned at queue time."""
    pipe = rc.pipeline()
    for key in keys:
        pipe.incr(key).get(key)
    assert pipe._planned_batches(pipe.command_stack) is not None
    return pipe


def learn_commands(rc: rediscluster.RedisCluster) -> None:
    """Run INCRBY (what incr() sends) and GET once, for the one-step path."""
    rc.incr("layout:warm")
    rc.get("layout:warm")
    assert {"INCRBY", "GET"} <= rc.router.first_key_only


def test_plan_after_slot_moved(chaos_cluster: LocalCluster) -> None:
    cluster = chaos_cluster
    rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    try:
        learn_commands(rc)
        moving = tagged_keys("moving", 20)
        staying = [f"stay:{n}" for n in range(30)]
        slot = key_slot(moving[0].encode())
        source = slot_owners(cluster)[slot]
        target = other_master(cluster, source)
        for key in moving + staying:
            rc.set(key, 10)

        pipe = queue_counters(rc, moving + staying)
        migrate_slots(cluster.masters, source, target, [slot], pause=0)
        results = pipe.execute()

        expected = [v for _ in moving + staying for v in (11, b"11")]
        assert results == expected
        assert [rc.get(key) for key in moving] == [b"11"] * len(moving)
        source_stats = pipe.last_stats[f"{source.host}:{source.port}"]
        assert source_stats.redirects == 2 * len(moving)
        assert rc.get_node_from_key(moving[0]).port == target.port
    finally:
        rc.close()


def test_plan_during_slot_migration(chaos_cluster: LocalCluster) -> None:
    # Half of the slot's keys have moved: those get ASK, the rest run on the
    # source, and each INCR runs once.
    cluster = chaos_cluster
    rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    try:
        learn_commands(rc)
        keys = tagged_keys("half", 20)
        slot = key_slot(keys[0].encode())
        source = slot_owners(cluster)[slot]
        target = other_master(cluster, source)
        for key in keys:
            rc.set(key, 5)
        source_id = text(run(source, "CLUSTER", "MYID"))
        target_id = text(run(target, "CLUSTER", "MYID"))
        run(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        run(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        run(source, "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS",
            *keys[:10])

        pipe = queue_counters(rc, keys)
        results = pipe.execute()

        assert results == [v for _ in keys for v in (6, b"6")]
        assert pipe.last_stats[f"{target.host}:{target.port}"].commands >= 2 * 10
        migrate_slots(cluster.masters, source, target, [slot], pause=0)
        assert [rc.get(key) for key in keys] == [b"6"] * len(keys)
    finally:
        rc.close()


def test_plan_after_planned_failover(chaos_cluster: LocalCluster) -> None:
    cluster = chaos_cluster
    master = cluster.masters[0]
    heir = next(node for node in cluster.replicas if node.master_of is master)
    rc = failover_client(cluster)
    try:
        learn_commands(rc)
        keys = [f"planned:{n}" for n in range(60)]
        for key in keys:
            rc.set(key, 1)
        owned = [
            key for key in keys
            if cluster.node_for_slot(key_slot(key.encode())) is master
        ]
        assert owned

        pipe = queue_counters(rc, keys)
        run(heir, "CLUSTER", "FAILOVER")
        wait_until_master(heir, timeout=30.0)
        results = pipe.execute()

        assert results == [v for _ in keys for v in (2, b"2")]
        assert not is_master(master)
        assert [rc.get(key) for key in keys] == [b"2"] * len(keys)
    finally:
        rc.close()


def test_plan_after_master_killed(chaos_cluster: LocalCluster) -> None:
    # The pipeline was planned for the dead master. Its commands were never
    # sent anywhere, so after the replica takes over they must all run.
    cluster = chaos_cluster
    victim = cluster.masters[0]
    heir = next(node for node in cluster.replicas if node.master_of is victim)
    rc = failover_client(cluster)
    try:
        learn_commands(rc)
        keys = [f"killed:{n}" for n in range(60)]
        owned = [
            key for key in keys
            if cluster.node_for_slot(key_slot(key.encode())) is victim
        ]
        assert owned
        pipe = rc.pipeline()
        for key in keys:
            pipe.set(key, "after").get(key)
        assert pipe._planned_batches(pipe.command_stack) is not None

        cluster.kill(victim, signal.SIGKILL)
        wait_until_master(heir, timeout=30.0)
        results = pipe.execute()

        assert results == [v for _ in keys for v in (True, b"after")]
        assert sum(node.pool.in_use for node in rc.topology.nodes()) == 0
    finally:
        rc.close()
