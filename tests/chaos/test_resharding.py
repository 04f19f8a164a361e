"""Pipelines and multi-key commands while 4,096 slots move between masters.

The slots move the way a resharding tool moves them (IMPORTING/MIGRATING,
MIGRATE ... KEYS, SETSLOT NODE), so the workload meets ASK, MOVED and
TRYAGAIN replies. The client must absorb all of them: no error reaches the
caller, and every read returns the value its thread wrote just before.
"""

from __future__ import annotations

import time

from redis.crc import key_slot

import rediscluster
from rediscluster.testing import LocalCluster

from .conftest import KeyLoad, keys_in_slots, migrate_slots, slot_owners, write_figures

MOVING = range(0, 4096)
PREFILLED_KEYS = 3000


def test_resharding_workload(chaos_cluster: LocalCluster) -> None:
    cluster = chaos_cluster
    owners = slot_owners(cluster)
    source = owners[MOVING.start]
    target = next(node for node in cluster.masters if node is not source)
    assert all(owners[slot] is source for slot in MOVING), "range spans masters"

    rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    filled = keys_in_slots("fill", MOVING, PREFILLED_KEYS)
    for first in range(0, len(filled), 500):
        rc.mset({key: f"{key}=fill" for key in filled[first : first + 500]})

    load = KeyLoad(rc, MOVING, threads=4, prefix="reshard")
    load.start()
    try:
        load.wait_rounds(5, timeout=30.0)
        started = time.monotonic()
        moved = migrate_slots(cluster.masters, source, target, list(MOVING))
        seconds = time.monotonic() - started
        load.wait_rounds(5, timeout=30.0)
    finally:
        load.stop()

    values = rc.mget(filled)
    layout = {node.name for node in rc.topology.table.primary_nodes()}
    target_slot_owner = rc.topology.table.primary_for(MOVING.start).port
    rc.close()
    errors = [error for thread_errors in load.errors for error in thread_errors]
    figures = {
        "slots_moved": len(MOVING),
        "keys_moved": moved,
        "migration_seconds": round(seconds, 3),
        "rounds_per_thread": load.rounds,
        "pipeline_redirects": load.redirects,
        "pipeline_retries": load.retries,
        "errors": len(errors),
        "errors_first_5": errors[:5],
        "stale_reads": len(load.stale_reads),
        "server": f"{cluster.server_name} {cluster.server_version}",
    }
    write_figures("resharding", figures)

    for index, thread_errors in enumerate(load.errors):
        assert thread_errors == [], f"thread {index} saw errors"
    assert load.stale_reads == [], "reads that missed their own write"
    assert moved >= PREFILLED_KEYS, f"only {moved} keys were migrated"
    lost = [
        key for key, value in zip(filled, values) if value != f"{key}=fill".encode()
    ]
    assert lost == [], f"{len(lost)} prefilled keys changed or vanished"
    assert target_slot_owner == target.port, "the client's slot map is stale"
    assert len(layout) == 3, f"the client sees masters {layout}"
    owners_after = slot_owners(cluster)
    for key in filled[:50]:
        assert owners_after[key_slot(key.encode())] is target, f"{key} did not move"
