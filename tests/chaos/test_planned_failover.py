"""Counters under load while a replica takes over with CLUSTER FAILOVER.

A planned failover pauses writes on the master until the replica has caught
up, then switches roles, so no write is lost and none may fail: the client
should absorb the pause and the MOVED replies that follow it.
"""

from __future__ import annotations

import time

from rediscluster.testing import LocalCluster

from .conftest import (
    CounterLoad,
    failover_client,
    is_master,
    run,
    wait_until_master,
    write_figures,
)


def test_planned_failover_counters(chaos_cluster: LocalCluster) -> None:
    cluster = chaos_cluster
    master = cluster.masters[0]
    heir = next(node for node in cluster.replicas if node.master_of is master)
    rc = failover_client(cluster)
    pools = {node.name: node.pool for node in rc.topology.nodes()}
    load = CounterLoad(rc, cluster, threads=8)
    load.start()
    try:
        load.wait_rounds(20, timeout=30.0)
        started_at = time.monotonic()
        run(heir, "CLUSTER", "FAILOVER")
        promoted_at = wait_until_master(heir, timeout=30.0)
        load.mark = promoted_at
        load.wait_recovered(timeout=15.0)
        time.sleep(0.5)
    finally:
        load.stop()

    tally = load.tally
    counters = [key for keys in load.counters for key in keys]
    final = {key: int(rc.get(key) or 0) for key in counters}
    pools.update({node.name: node.pool for node in rc.topology.nodes()})
    in_use = {name: pool.in_use for name, pool in pools.items()}
    rc.close()
    old_master_demoted = not is_master(master)

    acknowledged = {key: tally.acknowledged.get(key, 0) for key in counters}
    errors = [error for thread_errors in load.errors for error in thread_errors]
    figures = {
        "acknowledged": sum(acknowledged.values()),
        "unknown": sum(tally.unknown.values()),
        "failed": sum(tally.failed.values()),
        "errors_first_5": errors[:5],
        "promotion_seconds": round(promoted_at - started_at, 3),
        "recovery_seconds_per_thread": [
            None if end is None else round(end - promoted_at, 3)
            for end in load.first_success_after_mark
        ],
        "server": f"{cluster.server_name} {cluster.server_version}",
    }
    write_figures("planned_failover", figures)

    assert old_master_demoted, f"{master!r} is still a master"
    assert sum(tally.unknown.values()) == 0, "writes with unknown outcome"
    for index, thread_errors in enumerate(load.errors):
        assert thread_errors == [], f"thread {index} saw errors"
    for key in counters:
        assert final[key] == acknowledged[key], (
            f"{key} is {final[key]}, but {acknowledged[key]} INCRs were acknowledged"
        )
    assert load.misplaced == [], "replies at a wrong position"
    for name, count in in_use.items():
        assert count == 0, f"the pool of {name} has {count} connections in use"
