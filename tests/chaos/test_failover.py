"""Counters under load while a master dies with SIGKILL and its replica takes over.

Redis may lose writes that the dead master acknowledged but had not yet sent
to its replica. ``WAIT 1 1000`` right before the kill bounds that window: an
increment acknowledged before the WAIT was sent must survive. The client may
not apply any increment twice, and may not hand a reply to the wrong command.
"""

from __future__ import annotations

import signal
import time

from redis.crc import key_slot

from rediscluster.testing import LocalCluster

from .conftest import (
    NODE_TIMEOUT_MS,
    CounterLoad,
    failover_client,
    wait_until_master,
    write_figures,
)

RECOVERY_LIMIT = NODE_TIMEOUT_MS / 1000 + 3.0


def test_failover_counters(chaos_cluster: LocalCluster) -> None:
    cluster = chaos_cluster
    victim = cluster.masters[0]
    heir = next(node for node in cluster.replicas if node.master_of is victim)
    rc = failover_client(cluster)
    pools = {node.name: node.pool for node in rc.topology.nodes()}
    load = CounterLoad(rc, cluster, threads=8)
    victim_keys = [
        key
        for keys in load.counters
        for key in keys
        if cluster.node_for_slot(key_slot(key.encode())) is victim
    ]
    load.start()
    try:
        load.wait_rounds(20, timeout=30.0)

        # Every increment acknowledged before WAIT was sent reached the master
        # before WAIT did, so WAIT returning 1 means the replica has it.
        acknowledged_at_wait = load.tally.snapshot()
        with victim.client(socket_timeout=5.0) as plain:
            replicated_to = plain.execute_command("WAIT", 1, 1000)
        with heir.client(single_connection_client=True, socket_timeout=5.0) as copy:
            copy.execute_command("READONLY")
            replica_values = {key: int(copy.get(key) or 0) for key in victim_keys}

        killed_at = time.monotonic()
        cluster.kill(victim, signal.SIGKILL)
        promoted_at = wait_until_master(heir, timeout=30.0)
        load.mark = promoted_at
        load.wait_recovered(timeout=RECOVERY_LIMIT + 10.0)
        time.sleep(0.5)
    finally:
        load.stop()

    tally = load.tally
    counters = [key for keys in load.counters for key in keys]
    final = {key: int(rc.get(key) or 0) for key in counters}
    pools.update({node.name: node.pool for node in rc.topology.nodes()})
    in_use = {name: pool.in_use for name, pool in pools.items()}
    rc.close()

    acknowledged = {key: tally.acknowledged.get(key, 0) for key in counters}
    unknown = {key: tally.unknown.get(key, 0) for key in counters}
    failed = {key: tally.failed.get(key, 0) for key in counters}
    after_wait = {
        key: acknowledged[key] - acknowledged_at_wait.get(key, 0) for key in counters
    }
    lost = {key: max(0, acknowledged[key] - final[key]) for key in counters}
    recovery = [
        None if end is None else round(end - promoted_at, 3)
        for end in load.first_success_after_mark
    ]
    figures = {
        "acknowledged": sum(acknowledged.values()),
        "unknown": sum(unknown.values()),
        "failed": sum(failed.values()),
        "lost_by_redis": sum(lost.values()),
        "acknowledged_after_wait_on_victim": sum(after_wait[k] for k in victim_keys),
        "replicated_to": replicated_to,
        "replica_total_before_kill": sum(replica_values.values()),
        "acknowledged_at_wait_on_victim": sum(
            acknowledged_at_wait.get(k, 0) for k in victim_keys
        ),
        "promotion_seconds": round(promoted_at - killed_at, 3),
        "recovery_seconds_per_thread": recovery,
        "error_kinds": sorted({e.split(":")[0] for errs in load.errors for e in errs}),
        "server": f"{cluster.server_name} {cluster.server_version}",
    }
    write_figures("failover", figures)

    assert replicated_to >= 1, "WAIT 1 1000 saw no replica; the bound is void"
    for key in counters:
        assert final[key] <= acknowledged[key] + unknown[key], (
            f"{key} is {final[key]}, above {acknowledged[key]} acknowledged "
            f"+ {unknown[key]} unknown increments: one was applied twice"
        )
    for key in counters:
        assert final[key] >= acknowledged[key] - after_wait[key], (
            f"{key} is {final[key]}, below the {acknowledged_at_wait.get(key, 0)} "
            f"increments acknowledged before WAIT"
        )
    for key in victim_keys:
        assert replica_values[key] >= acknowledged_at_wait.get(key, 0), (
            f"the replica held {key} = {replica_values[key]} after WAIT, below "
            f"{acknowledged_at_wait.get(key, 0)} acknowledged before it"
        )
    for key in set(counters) - set(victim_keys):
        assert final[key] >= acknowledged[key], (
            f"{key} on a surviving master lost increments: {final[key]} < "
            f"{acknowledged[key]}"
        )
    assert load.misplaced == [], "replies at a wrong position"
    for index, seconds in enumerate(recovery):
        assert seconds is not None and seconds <= RECOVERY_LIMIT, (
            f"thread {index} recovered after {seconds} s, limit {RECOVERY_LIMIT} s"
        )
    for name, count in in_use.items():
        assert count == 0, f"the pool of {name} has {count} connections in use"
