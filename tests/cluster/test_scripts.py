"""Lua scripts and locks on every master, and reloads after SCRIPT FLUSH."""

from __future__ import annotations

import pytest

import rediscluster
from rediscluster import CrossSlotError
from rediscluster.testing import LocalCluster

INCRBY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def spread(rc: rediscluster.RedisCluster, prefix: str, count: int = 12) -> list[str]:
    keys = [f"{prefix}:{n}" for n in range(count)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    return keys


def script_flush(nodes: list) -> None:  # type: ignore[type-arg]
    for node in nodes:
        with node.client() as plain:
            plain.script_flush()


def test_script_every_master(rc: rediscluster.RedisCluster) -> None:
    script = rc.register_script(INCRBY)
    keys = spread(rc, "lua")
    assert [script(keys=[k], args=[2]) for k in keys] == [2] * len(keys)


def test_script_after_one_flush(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    script = rc.register_script(INCRBY)
    keys = spread(rc, "lua")
    for key in keys:
        script(keys=[key], args=[1])
    script_flush(cluster.masters[:1])
    assert [script(keys=[k], args=[1]) for k in keys] == [2] * len(keys)


def test_script_after_every_flush(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    script = rc.register_script(INCRBY)
    keys = spread(rc, "lua")
    for key in keys:
        script(keys=[key], args=[1])
    script_flush(cluster.nodes)
    assert [script(keys=[k], args=[1]) for k in keys] == [2] * len(keys)


def test_lock_every_master(rc: rediscluster.RedisCluster) -> None:
    for name in spread(rc, "lock"):
        lock = rc.lock(name, timeout=5)
        assert lock.acquire(blocking=False) is True
        assert lock.owned() is True
        lock.release()
        assert rc.exists(name) == 0


def test_lock_held_blocks_other(rc: rediscluster.RedisCluster) -> None:
    for name in spread(rc, "lock"):
        first = rc.lock(name, timeout=5)
        second = rc.lock(name, timeout=5)
        assert first.acquire(blocking=False) is True
        assert second.acquire(blocking=False) is False
        first.release()


def test_lock_after_flush(cluster: LocalCluster, rc: rediscluster.RedisCluster) -> None:
    names = spread(rc, "lock")
    for name in names:
        rc.lock(name, timeout=5).acquire(blocking=False)
        rc.delete(name)
    script_flush(cluster.nodes)
    for name in names:
        lock = rc.lock(name, timeout=5)
        lock.acquire(blocking=False)
        lock.extend(5)
        lock.release()
    assert rc.exists(*names) == 0


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "no-threads"])
def test_pipeline_script_after_flush(
    cluster: LocalCluster, rc: rediscluster.RedisCluster, use_threads: bool
) -> None:
    script = rc.register_script(INCRBY)
    keys = spread(rc, "lua")
    for key in keys:
        script(keys=[key], args=[1])
    script_flush(cluster.nodes)
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        script(keys=[key], args=[5], client=pipe)
    assert pipe.execute() == [6] * len(keys)


def test_pipeline_one_call_per_node(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    script = rc.register_script(INCRBY)
    keys = spread(rc, "lua", count=30)
    one_each = list({rc.get_node_from_key(k).name: k for k in keys}.values())
    script_flush(cluster.nodes)
    pipe = rc.pipeline()
    for key in one_each:
        script(keys=[key], args=[5], client=pipe)
    assert pipe.execute() == [5, 5, 5]


def test_pipeline_two_calls_one_node(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> None:
    script = rc.register_script(INCRBY)
    first = rc.get_node_from_key("lua:0")
    same = [k for k in spread(rc, "lua", 30) if rc.get_node_from_key(k) is first]
    script_flush(cluster.nodes)
    pipe = rc.pipeline()
    for key in same[:2]:
        script(keys=[key], args=[5], client=pipe)
    assert pipe.execute() == [5, 5]


def test_pipeline_script_first_call(rc: rediscluster.RedisCluster) -> None:
    script = rc.register_script("return redis.call('GET', KEYS[1])")
    keys = spread(rc, "fresh")
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, key)
        script(keys=[key], client=pipe)
    assert pipe.execute()[1::2] == [k.encode() for k in keys]


def test_eval_one_slot(rc: rediscluster.RedisCluster) -> None:
    assert rc.eval("return #KEYS", 2, "{ev}:a", "{ev}:b") == 2


def test_eval_writes_owner(rc: rediscluster.RedisCluster) -> None:
    for key in spread(rc, "ev"):
        rc.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, key, "v")
        assert rc.get(key) == b"v"


def test_eval_cross_slot_raises(rc: rediscluster.RedisCluster) -> None:
    with pytest.raises(CrossSlotError):
        rc.eval("return #KEYS", 2, "ev:a", "ev:b")
