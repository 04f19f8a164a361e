"""MOVED, ASK and TRYAGAIN replies while a hash slot moves between masters.

Each test moves one slot by hand, the way a resharding tool does, and moves it
back to its first owner before it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import ConstantBackoff, NoBackoff
from redis.crc import key_slot
from redis.exceptions import TryAgainError
from redis.retry import Retry

from rediscluster import RedisCluster
from rediscluster.testing import ClusterNotReadyError, LocalCluster, ServerNode

TAG = "moving"
SLOT = key_slot(TAG.encode())
KEY = f"{{{TAG}}}one"
OTHER_KEY = f"{{{TAG}}}two"


def run(node: ServerNode, *args: Any) -> Any:
    with node.client() as client:
        return client.execute_command(*args)


def node_id(node: ServerNode) -> str:
    raw = run(node, "CLUSTER", "MYID")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def start_migration(source: ServerNode, target: ServerNode, slot: int) -> None:
    run(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(source))
    run(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(target))


def migrate_keys(source: ServerNode, target: ServerNode, keys: list[Any]) -> None:
    if keys:
        run(source, "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)


def finish_migration(
    cluster: LocalCluster, source: ServerNode, target: ServerNode, slot: int
) -> None:
    """Move the slot's remaining keys, then assign the slot to target everywhere."""
    left = run(source, "CLUSTER", "GETKEYSINSLOT", slot, 10_000)
    migrate_keys(source, target, list(left))
    target_id = node_id(target)
    others = [node for node in cluster.masters if node not in (source, target)]
    for node in [target, source, *others]:
        run(node, "CLUSTER", "SETSLOT", slot, "NODE", target_id)


def move_slot(
    cluster: LocalCluster, source: ServerNode, target: ServerNode, slot: int
) -> None:
    start_migration(source, target, slot)
    finish_migration(cluster, source, target, slot)


@pytest.fixture
def owners(cluster: LocalCluster) -> Iterator[tuple[ServerNode, ServerNode]]:
    """Yield the (source, target) masters of SLOT, then give SLOT back to source."""
    # An earlier test's slot move may still be spreading by gossip; a node
    # with the old view would name the wrong source.
    cluster.wait_ready(timeout=10)
    source = cluster.node_for_slot(SLOT)
    target = next(node for node in cluster.masters if node is not source)
    yield source, target
    # Whatever state the test left, complete the move to target, then move back.
    finish_migration(cluster, source, target, SLOT)
    move_slot(cluster, target, source, SLOT)
    settle_owner(cluster, source, SLOT)
    assert cluster.node_for_slot(SLOT) is source


def settle_owner(cluster: LocalCluster, owner: ServerNode, slot: int) -> None:
    """Wait until every node agrees that owner serves slot.

    A gossip message sent before the last SETSLOT can still carry the old
    owner, so the assignment is repeated on every master until the views
    agree.
    """
    owner_id = node_id(owner)
    for attempt in range(3):
        try:
            cluster.wait_ready(timeout=10)
            return
        except ClusterNotReadyError:
            if attempt == 2:
                raise
        # A higher config epoch makes the owner's claim win over stale gossip.
        run(owner, "CLUSTER", "BUMPEPOCH")
        for node in [owner, *cluster.masters]:
            run(node, "CLUSTER", "SETSLOT", slot, "NODE", owner_id)


def has_key(node: ServerNode, key: str) -> bool:
    left = run(node, "CLUSTER", "GETKEYSINSLOT", key_slot(key.encode()), 10_000)
    return key.encode() in left


def test_moved_followed(
    cluster: LocalCluster, rc: RedisCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    rc.set(KEY, "value")
    assert rc.topology.table.primary_for(SLOT).port == source.port

    move_slot(cluster, source, target, SLOT)

    assert rc.get(KEY) == b"value"
    assert rc.topology.table.primary_for(SLOT).port == target.port


def test_moved_updates_keyslot_node(
    cluster: LocalCluster, rc: RedisCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    rc.set(KEY, "value")
    move_slot(cluster, source, target, SLOT)
    rc.set(OTHER_KEY, "second")
    assert rc.get_node_from_key(OTHER_KEY).port == target.port
    assert has_key(target, OTHER_KEY)
    assert not has_key(source, OTHER_KEY)


def test_moved_only_one_slot(
    cluster: LocalCluster, rc: RedisCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    before = rc.topology.table.primaries
    move_slot(cluster, source, target, SLOT)
    rc.get(KEY)
    after = rc.topology.table.primaries
    changed = [slot for slot in range(len(before)) if before[slot] is not after[slot]]
    assert changed == [SLOT]


def test_moved_in_pipeline(
    cluster: LocalCluster, rc: RedisCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    rc.set(KEY, "value")
    rc.set("elsewhere", "x")
    move_slot(cluster, source, target, SLOT)

    pipe = rc.pipeline()
    pipe.get(KEY).set(OTHER_KEY, "second").get("elsewhere").get(OTHER_KEY)
    assert pipe.execute() == [b"value", True, b"x", b"second"]
    assert rc.topology.table.primary_for(SLOT).port == target.port


def test_ask_followed_by_get(
    cluster: LocalCluster, rc: RedisCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    rc.set(KEY, "migrated")
    rc.set(OTHER_KEY, "stays")
    start_migration(source, target, SLOT)
    migrate_keys(source, target, [KEY])
    assert has_key(target, KEY)

    assert rc.get(KEY) == b"migrated"
    assert rc.get(OTHER_KEY) == b"stays"
    assert rc.topology.table.primary_for(SLOT).port == source.port


def test_ask_followed_in_pipeline(
    cluster: LocalCluster, rc: RedisCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    rc.set(KEY, "migrated")
    rc.set(OTHER_KEY, "stays")
    rc.set("elsewhere", "x")
    start_migration(source, target, SLOT)
    migrate_keys(source, target, [KEY])

    pipe = rc.pipeline()
    pipe.get(KEY).get("elsewhere").get(OTHER_KEY).get(KEY)
    assert pipe.execute() == [b"migrated", b"x", b"stays", b"migrated"]


def test_ask_pipeline_without_threads(
    cluster: LocalCluster, rc: RedisCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    rc.set(KEY, "migrated")
    start_migration(source, target, SLOT)
    migrate_keys(source, target, [KEY])

    pipe = rc.pipeline(use_threads=False)
    pipe.get(KEY).get(KEY)
    assert pipe.execute() == [b"migrated", b"migrated"]


def test_ask_new_key_on_target(
    cluster: LocalCluster, rc: RedisCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    start_migration(source, target, SLOT)
    assert rc.set(KEY, "new") is True
    assert has_key(target, KEY)
    assert not has_key(source, KEY)
    assert rc.get(KEY) == b"new"


def test_tryagain_split_keys_raises(
    cluster: LocalCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    client = RedisCluster(
        startup_nodes=cluster.startup_nodes, retry=Retry(NoBackoff(), 2)
    )
    try:
        client.set(KEY, "migrated")
        client.set(OTHER_KEY, "stays")
        start_migration(source, target, SLOT)
        migrate_keys(source, target, [KEY])
        with pytest.raises(TryAgainError):
            client.mget(KEY, OTHER_KEY)
    finally:
        client.close()


def test_tryagain_retried_until_done(
    cluster: LocalCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    client = RedisCluster(
        startup_nodes=cluster.startup_nodes, retry=Retry(ConstantBackoff(0.1), 30)
    )
    try:
        client.set(KEY, "migrated")
        client.set(OTHER_KEY, "stays")
        start_migration(source, target, SLOT)
        migrate_keys(source, target, [KEY])
        finisher = threading.Timer(
            0.3, finish_migration, (cluster, source, target, SLOT)
        )
        finisher.start()
        try:
            values = client.mget(KEY, OTHER_KEY)
        finally:
            finisher.join()
        # The reply may come through ASK once both keys reached the target, or
        # through MOVED once the slot is reassigned. Both give these values.
        assert values == [b"migrated", b"stays"]
    finally:
        client.close()


def test_tryagain_pipeline_retried(
    cluster: LocalCluster, owners: tuple[ServerNode, ServerNode]
) -> None:
    source, target = owners
    client = RedisCluster(
        startup_nodes=cluster.startup_nodes, retry=Retry(ConstantBackoff(0.1), 30)
    )
    try:
        client.set(KEY, "migrated")
        client.set(OTHER_KEY, "stays")
        start_migration(source, target, SLOT)
        migrate_keys(source, target, [KEY])
        finisher = threading.Timer(
            0.3, finish_migration, (cluster, source, target, SLOT)
        )
        finisher.start()
        try:
            pipe = client.pipeline()
            pipe.mget(KEY, OTHER_KEY).get("elsewhere")
            values = pipe.execute()
        finally:
            finisher.join()
        assert values == [[b"migrated", b"stays"], None]
    finally:
        for node in cluster.masters:
            with node.client() as plain:
                plain.flushall()
        client.close()


def test_slot_owner_restored(cluster: LocalCluster, rc: RedisCluster) -> None:
    source = cluster.node_for_slot(SLOT)
    assert rc.topology.table.primary_for(SLOT).port == source.port
    assert isinstance(rc, redis.Redis)
