"""ClusterPipeline's queue-time plan at its edges, against a real cluster.

While a plan exists, SET and commands whose one key comes first are queued
as bare argument tuples on fast paths that skip the general checks. These
tests drive those paths through a closed client, slots that move between
queueing and ``execute``, interrupted rounds and bounded pools shared by
threads, and compare every result with the same commands run one by one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis._parsers.hiredis import _HiredisParser

import rediscluster
from rediscluster import CrossSlotError, PipelineUsageError
from rediscluster.testing import LocalCluster, ServerNode
from tests.cluster.test_redirects import (
    KEY,
    OTHER_KEY,
    migrate_keys,
    move_slot,
    owners,
    start_migration,
)

__all__ = ["owners"]  # a fixture, used by name


def learn_positions(rc: rediscluster.RedisCluster) -> None:
    """Run each command once, so the router queues them as bare tuples."""
    rc.set("edge:warm", "1")
    rc.get("edge:warm")
    rc.incr("edge:count")
    rc.hset("edge:hash", "field", "1")
    assert {"SET", "GET", "INCRBY", "HSET"} <= rc.router.first_key_only


def keys_on_every_master(rc: rediscluster.RedisCluster, count: int = 30) -> list[str]:
    keys = [f"edge:{n}" for n in range(count)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    return keys


def in_use(rc: rediscluster.RedisCluster) -> dict[str, int]:
    """Return the number of connections in use in each node's pool."""
    return {node.name: node.pool.in_use for node in rc.topology.nodes()}


def redirect_count(pipe: Any) -> int:
    """Return the MOVED and ASK replies the pipeline's last execute() got."""
    return sum(stats.redirects for stats in pipe.last_stats.values())


# A client closed while a pipeline exists.

QUEUE_CALLS: dict[str, Callable[[Any], Any]] = {
    "set_str": lambda pipe: pipe.set("edge:a", "v"),
    "set_bytes": lambda pipe: pipe.set(b"edge:a", b"v"),
    "get": lambda pipe: pipe.get("edge:a"),
    "incr": lambda pipe: pipe.incr("edge:a"),
    "hset": lambda pipe: pipe.hset("edge:h", "f", "v"),
    "execute_command": lambda pipe: pipe.execute_command("GET", "edge:a"),
    "set_with_option": lambda pipe: pipe.set("edge:a", "v", ex=10),
    "ping": lambda pipe: pipe.ping(),
}


@pytest.mark.parametrize("call", sorted(QUEUE_CALLS))
def test_closed_client_rejects_queueing(cluster: LocalCluster, call: str) -> None:
    client = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    learn_positions(client)
    pipe = client.pipeline()
    client.close()
    with pytest.raises(PipelineUsageError, match="client is closed"):
        QUEUE_CALLS[call](pipe)
    assert len(pipe) == 0


# Slots that move between queueing and execute().


def planned_pipeline(
    rc: rediscluster.RedisCluster, use_threads: bool
) -> tuple[Any, list[Any]]:
    """Return a pipeline with tuple-path commands on KEY and OTHER_KEY queued
    around SETs on every master, and the results they must produce."""
    learn_positions(rc)
    others = keys_on_every_master(rc)
    pipe = rc.pipeline(use_threads=use_threads)
    pipe.get(KEY).set(KEY, "after").incr(OTHER_KEY).hset(OTHER_KEY + "h", "f", "v")
    for key in others:
        pipe.set(key, key)
    pipe.get(KEY).execute_command("INCRBY", OTHER_KEY, 2).get(OTHER_KEY)
    expected: list[Any] = [b"before", True, 1, 1]
    expected += [True] * len(others)
    expected += [b"after", 3, b"3"]
    assert all(type(entry) is tuple for entry in pipe.command_stack)
    return pipe, expected


@pytest.mark.parametrize("use_threads", [True, False])
def test_slot_moved_after_queueing(
    cluster: LocalCluster,
    rc: rediscluster.RedisCluster,
    owners: tuple[ServerNode, ServerNode],
    use_threads: bool,
) -> None:
    source, target = owners
    rc.set(KEY, "before")
    pipe, expected = planned_pipeline(rc, use_threads)

    move_slot(cluster, source, target, rc.keyslot(KEY))

    assert pipe._planned_batches(pipe.command_stack) is not None
    assert pipe.execute() == expected
    # Each of the 7 commands in the moved slot got one MOVED.
    assert redirect_count(pipe) == 7
    assert rc.get(KEY) == b"after"
    assert rc.get(OTHER_KEY) == b"3"
    assert rc.topology.table.primary_for(rc.keyslot(KEY)).port == target.port
    assert set(in_use(rc).values()) == {0}


@pytest.mark.parametrize("use_threads", [True, False])
def test_ask_in_planned_round(
    cluster: LocalCluster,
    rc: rediscluster.RedisCluster,
    owners: tuple[ServerNode, ServerNode],
    use_threads: bool,
) -> None:
    # KEY is on the target and OTHER_KEY still on the source. The planned
    # round goes to the source, which replies ASK for every key it lacks,
    # so a new key in the slot is created on the target.
    source, target = owners
    rc.set(KEY, "before")
    rc.set(OTHER_KEY, "0")
    start_migration(source, target, rc.keyslot(KEY))
    migrate_keys(source, target, [KEY])
    pipe, expected = planned_pipeline(rc, use_threads)
    pipe.set(KEY + "new", "n").get(KEY + "new")
    expected += [True, b"n"]

    assert pipe.execute() == expected
    # ASK for the 3 commands on KEY, the 2 on the new key and the HSET,
    # whose hash does not exist on the source either.
    assert redirect_count(pipe) == 6
    assert rc.get(KEY) == b"after"
    assert rc.get(KEY + "new") == b"n"
    assert rc.get(OTHER_KEY) == b"3"
    assert set(in_use(rc).values()) == {0}


# A KeyboardInterrupt while replies are read.


@pytest.mark.parametrize("use_threads", [True, False])
@pytest.mark.parametrize("count", [30, 300], ids=["in-order", "polled"])
def test_interrupted_read_frees_connections(
    rc: rediscluster.RedisCluster,
    monkeypatch: pytest.MonkeyPatch,
    use_threads: bool,
    count: int,
) -> None:
    learn_positions(rc)
    keys = keys_on_every_master(rc, count)
    original = _HiredisParser.read_from_socket
    reads = []

    def interrupted(parser: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(parser)
        if len(reads) == 2:
            raise KeyboardInterrupt
        return original(parser, *args, **kwargs)

    monkeypatch.setattr(_HiredisParser, "read_from_socket", interrupted)
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.set(key, "first").get(key)
    with pytest.raises(KeyboardInterrupt):
        pipe.execute()
    monkeypatch.setattr(_HiredisParser, "read_from_socket", original)

    assert set(in_use(rc).values()) == {0}
    assert len(pipe) == 0
    # The interrupted replies must not shift into the next pipeline's.
    for key in keys:
        pipe.set(key, "second").get(key)
    assert pipe.execute() == [True, b"second"] * len(keys)
    assert set(in_use(rc).values()) == {0}


# Bounded pools shared by threads.


@pytest.mark.parametrize("use_threads", [True, False])
@pytest.mark.parametrize("size", [10, 30_000], ids=["small", "large"])
def test_one_connection_pools_many_threads(
    cluster: LocalCluster, use_threads: bool, size: int
) -> None:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes,
        max_connections=1,
        pool_timeout=10,
        pipeline_use_threads=use_threads,
    )
    try:
        learn_positions(client)
        failures: list[str] = []

        def run_pipelines(thread: int) -> None:
            for number in range(20):
                pipe = client.pipeline()
                expected: list[Any] = []
                for key in (f"edge:{thread}:{n}" for n in range(12)):
                    value = f"{thread}:{number}:" + "v" * size
                    pipe.set(key, value).get(key)
                    expected += [True, value.encode()]
                try:
                    results = pipe.execute()
                except Exception as exc:  # reported by the assert below
                    failures.append(f"thread {thread}: {exc!r}")
                    return
                if results != expected:
                    failures.append(f"thread {thread}, pipeline {number}: wrong")

        threads = [
            threading.Thread(target=run_pipelines, args=(n,)) for n in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert set(in_use(client).values()) == {0}
        assert max(node.pool.created for node in client.topology.nodes()) == 1
    finally:
        client.close()


# WATCH after commands were queued.


def test_watch_after_cross_slot_queue(rc: rediscluster.RedisCluster) -> None:
    # After watch(), execute() runs the queue as one MULTI/EXEC on the
    # watched slot's node, so commands queued before it in other slots can
    # never run there. The mistake must show at watch(), not as a MOVED
    # loop that ends in "the cluster is resharding or misconfigured".
    learn_positions(rc)
    pipe = rc.pipeline()
    pipe.set("{a}1", "x").set("{b}1", "y")
    with pytest.raises(CrossSlotError, match="watch"):
        pipe.watch("{a}1")
    assert not pipe._watching
    assert pipe.execute() == [True, True]
    assert set(in_use(rc).values()) == {0}


def test_watch_after_same_slot_queue(rc: rediscluster.RedisCluster) -> None:
    learn_positions(rc)
    pipe = rc.pipeline()
    pipe.set("{a}1", "x").get("{a}1")
    assert pipe.watch("{a}1") is True
    assert pipe.execute() == [True, b"x"]
    assert set(in_use(rc).values()) == {0}


# Command names given as bytes.


@pytest.mark.parametrize("use_threads", [True, False])
def test_bytes_command_names_routed(
    rc: rediscluster.RedisCluster, use_threads: bool
) -> None:
    # redis-py sends b"SET" as it sends "SET", so the router must find its
    # key too; routed as keyless, it would get MOVED until max_redirects.
    keys = keys_on_every_master(rc, 12)
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.execute_command(b"SET", key, key).execute_command(b"GET", key)
    # redis-py finds no reply callback for a bytes name, so SET gives b"OK".
    assert pipe.execute() == [v for k in keys for v in (b"OK", k.encode())]
    for key in keys:
        assert rc.execute_command(b"GET", key) == key.encode()
    assert redirect_count(pipe) == 0


# Random queues of fast-path commands.

KEY_TEXT = st.text(alphabet="ab{}é:", max_size=8)
VALUE_SIZES = st.sampled_from([0, 1, 1022, 1023, 1024, 1025])
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["set", "set_text", "get", "append", "strlen", "getdel"]),
        KEY_TEXT,
        VALUE_SIZES,
    ),
    min_size=1,
    max_size=40,
)


def apply(target: Any, operation: str, key: str, size: int) -> Any:
    """Queue an operation on a pipeline or run it on the client."""
    if operation == "set":
        return target.set(key, b"\xff" * size)
    if operation == "set_text":
        # "é" is 2 bytes in UTF-8, so the header is sized in bytes, not chars.
        return target.set(key, "é" * size)
    if operation == "get":
        return target.get(key)
    if operation == "append":
        return target.append(key, "x" * size)
    if operation == "strlen":
        return target.strlen(key)
    return target.getdel(key)


@pytest.mark.parametrize("use_threads", [True, False])
def test_random_queues_match_client(
    rc: rediscluster.RedisCluster, use_threads: bool
) -> None:
    learn_positions(rc)
    rc.append("edge:warm", "x")
    rc.strlen("edge:warm")
    rc.getdel("edge:warm")
    assert {"APPEND", "STRLEN", "GETDEL"} <= rc.router.first_key_only

    @settings(max_examples=40, deadline=None, database=None)
    @given(operations=OPERATIONS)
    def check(operations: list[tuple[str, str, int]]) -> None:
        pipe = rc.pipeline(use_threads=use_threads)
        expected = []
        for operation, key, size in operations:
            apply(pipe, operation, f"p:{key}", size)
            expected.append(apply(rc, operation, f"c:{key}", size))
        assert pipe.execute() == expected
        assert set(in_use(rc).values()) == {0}

    check()


@pytest.mark.parametrize("use_threads", [True, False])
def test_interrupted_idle_check_frees_connection(
    rc: rediscluster.RedisCluster,
    monkeypatch: pytest.MonkeyPatch,
    use_threads: bool,
) -> None:
    # A signal arriving while the pool polls an idle connection for
    # staleness raises KeyboardInterrupt there, after the connection left
    # the idle list and before the batch has it.
    learn_positions(rc)
    keys = keys_on_every_master(rc)
    original = rediscluster.pool._is_stale
    checks = []

    def interrupted(connection: Any) -> bool:
        checks.append(connection)
        if len(checks) == 2:
            raise KeyboardInterrupt
        return original(connection)

    monkeypatch.setattr(rediscluster.pool, "_is_stale", interrupted)
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.set(key, "v")
    with pytest.raises(KeyboardInterrupt):
        pipe.execute()
    monkeypatch.setattr(rediscluster.pool, "_is_stale", original)

    assert set(in_use(rc).values()) == {0}
    # Batches written before the interrupt ran, so only later replies count.
    for key in keys:
        pipe.set(key, "w").get(key)
    assert pipe.execute() == [True, b"w"] * len(keys)
