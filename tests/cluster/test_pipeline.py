"""ClusterPipeline against a real cluster: results, threads, errors, transactions."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.exceptions import ResponseError, WatchError

import rediscluster
from rediscluster import ClusterPipeline, CrossSlotError, PipelineUsageError
from rediscluster.testing import LocalCluster

# With 30 keys spread over 3 masters, each master's batch of SETs with this
# value exceeds the 64 KiB from which a batch goes to a worker thread.
LARGE_VALUE = b"v" * 16_384


def keys_on_every_master(rc: rediscluster.RedisCluster, count: int = 30) -> list[str]:
    keys = [f"spread:{n}" for n in range(count)]
    owners = {rc.get_node_from_key(k).name for k in keys}
    assert len(owners) == len(rc.get_primaries())
    return keys


def pool_counts(rc: rediscluster.RedisCluster) -> dict[str, int]:
    return {node.name: node.pool.in_use for node in rc.topology.nodes()}


@pytest.mark.parametrize(
    ("client_default", "argument", "expected"),
    [
        (None, None, True),
        (None, True, True),
        (None, False, False),
        (True, None, True),
        (True, True, True),
        (True, False, False),
        (False, None, False),
        (False, True, True),
        (False, False, False),
    ],
)
def test_use_threads_resolution(
    cluster: LocalCluster,
    client_default: bool | None,
    argument: bool | None,
    expected: bool,
) -> None:
    kwargs: dict[str, Any] = {}
    if client_default is not None:
        kwargs["pipeline_use_threads"] = client_default
    rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes, **kwargs)
    try:
        pipe = rc.pipeline(use_threads=argument)
        assert isinstance(pipe, ClusterPipeline)
        assert pipe.use_threads is expected
    finally:
        rc.close()


def test_use_threads_fixed_at_creation(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    try:
        pipe = rc.pipeline()
        rc.pipeline_use_threads = False
        assert pipe.use_threads is True
        assert rc.pipeline().use_threads is False
    finally:
        rc.close()


class ThreadRecorder:
    """Records which threads send to or read from node connections."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: set[int] = set()
        connection = redis.connection.AbstractConnection
        for name in ("send_packed_command", "read_response", "connect"):
            original = getattr(connection, name)
            monkeypatch.setattr(connection, name, self._wrap(original))
        # Batches may read straight from the hiredis parser's socket reads.
        parser = redis._parsers.hiredis._HiredisParser
        original = parser.read_from_socket
        monkeypatch.setattr(parser, "read_from_socket", self._wrap(original))

    def _wrap(self, original: Any) -> Any:
        def recorded(connection: Any, *args: Any, **kwargs: Any) -> Any:
            self.threads.add(threading.get_ident())
            return original(connection, *args, **kwargs)

        return recorded


def test_no_threads_uses_only_caller(
    rc: rediscluster.RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = keys_on_every_master(rc)
    recorder = ThreadRecorder(monkeypatch)
    threads_before = threading.active_count()
    pipe = rc.pipeline(use_threads=False)
    for key in keys:
        pipe.set(key, key).get(key)
    results = pipe.execute()
    assert results == [v for k in keys for v in (True, k.encode())]
    assert recorder.threads == {threading.get_ident()}
    assert rc._executor is None
    assert threading.active_count() == threads_before


def test_threads_run_large_batches_on_workers(
    rc: rediscluster.RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = keys_on_every_master(rc)
    value = LARGE_VALUE
    recorder = ThreadRecorder(monkeypatch)
    pipe = rc.pipeline(use_threads=True)
    for key in keys:
        pipe.set(key, value).get(key)
    results = pipe.execute()
    assert results == [v for _ in keys for v in (True, value)]
    assert len(recorder.threads) > 1
    assert threading.get_ident() in recorder.threads


def test_threads_keep_small_batches_on_caller(
    rc: rediscluster.RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = keys_on_every_master(rc)
    recorder = ThreadRecorder(monkeypatch)
    pipe = rc.pipeline(use_threads=True)
    for key in keys:
        pipe.set(key, key).get(key)
    results = pipe.execute()
    assert results == [v for k in keys for v in (True, k.encode())]
    # A worker's wake-up would only add latency to batches this small.
    assert recorder.threads == {threading.get_ident()}


def test_pipeline_results_in_queue_order(rc: rediscluster.RedisCluster) -> None:
    keys = keys_on_every_master(rc, 200)
    pipe = rc.pipeline()
    for number, key in enumerate(keys):
        pipe.set(key, number)
    for key in reversed(keys):
        pipe.get(key)
    results = pipe.execute()
    assert results[:200] == [True] * 200
    assert results[200:] == [str(n).encode() for n in reversed(range(200))]


def test_plan_groups_at_queue_time(rc: rediscluster.RedisCluster) -> None:
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, key).get(key)
    pipe.ping()
    planned = pipe._planned_batches(pipe.command_stack)
    assert planned is not None
    assert sum(len(batch.indices) for batch in planned) == len(keys) * 2 + 1
    assert pipe.execute() == [v for k in keys for v in (True, k.encode())] + [True]


def test_pipeline_places_braced_keys(rc: rediscluster.RedisCluster) -> None:
    keys = ["{a}1", "{a}2", "x{b}y", "{}c", "{{d}}", "e{", "}f{g}", "h{}{i}"]
    keys += [key.encode() for key in keys] + ["plain", "\u00e9{\u00e9}"]
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, "placed")
    assert pipe.execute() == [True] * len(keys)
    first = rc.get_primaries()[0]
    probe = redis.Redis(host=first.host, port=first.port)
    try:
        for key in keys:
            slot = probe.execute_command("CLUSTER KEYSLOT", key)
            assert rc.keyslot(key) == slot
            owner = rc.topology.table.primary_for(slot)
            direct = redis.Redis(host=owner.host, port=owner.port)
            try:
                assert direct.get(key) == b"placed", key
            finally:
                direct.close()
    finally:
        probe.close()


def test_plan_unused_after_layout_change(rc: rediscluster.RedisCluster) -> None:
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, key)
    # Point one queued key's slot at another master, as a MOVED reply would.
    slot = rc.keyslot(keys[0])
    owner = rc.get_node_from_key(keys[0])
    other = next(node for node in rc.get_primaries() if node is not owner)
    rc.topology.record_moved(slot, other.host, other.port)
    assert pipe._planned_batches(pipe.command_stack) is None
    for key in keys:
        pipe.get(key)
    assert pipe.execute() == [True] * len(keys) + [k.encode() for k in keys]
    assert rc.get_node_from_key(keys[0]) is owner


def test_plan_stops_at_unpackable_argument(rc: rediscluster.RedisCluster) -> None:
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    pipe.set(keys[0], "plain")
    # hiredis cannot pack a memoryview, so redis-py's encoder packs it later.
    pipe.set(keys[1], memoryview(b"view"))
    pipe.set(keys[2], "plain")
    assert pipe._planned_batches(pipe.command_stack) is None
    for key in keys[:3]:
        pipe.get(key)
    assert pipe.execute() == [True] * 3 + [b"plain", b"view", b"plain"]


def test_empty_pipeline_no_io(rc: rediscluster.RedisCluster) -> None:
    created = {n.name: n.pool.created for n in rc.topology.nodes()}
    assert rc.pipeline().execute() == []
    assert {n.name: n.pool.created for n in rc.topology.nodes()} == created


def test_pipeline_len_reset_reuse(rc: rediscluster.RedisCluster) -> None:
    with rc.pipeline() as pipe:
        pipe.set("a", 1).set("b", 2)
        assert len(pipe) == 2
        pipe.reset()
        assert len(pipe) == 0
        pipe.set("a", 3)
        assert pipe.execute() == [True]
        assert len(pipe) == 0
        pipe.get("a")
        assert pipe.execute() == [b"3"]
        pipe.get("b")
    assert len(pipe) == 0


def test_pipeline_error_reply_in_place(rc: rediscluster.RedisCluster) -> None:
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    pipe.set(keys[0], "text").lpush(keys[0], 1).get(keys[0]).incr(keys[1])
    results = pipe.execute(raise_on_error=False)
    assert results[0] is True
    assert isinstance(results[1], ResponseError)
    assert "WRONGTYPE" in str(results[1])
    assert results[2] == b"text"
    assert results[3] == 1


def test_pipeline_raises_first_error(rc: rediscluster.RedisCluster) -> None:
    pipe = rc.pipeline()
    pipe.set("x", "text").lpush("x", 1).incr("counter")
    with pytest.raises(ResponseError, match=r"command #2 \(LPUSH x 1\)"):
        pipe.execute()
    assert rc.get("counter") == b"1"


@pytest.mark.parametrize("command", ["MULTI", "EXEC", "SUBSCRIBE", "SELECT"])
def test_unsupported_command_rejected(
    rc: rediscluster.RedisCluster, command: str
) -> None:
    pipe = rc.pipeline()
    with pytest.raises(PipelineUsageError, match=command):
        pipe.execute_command(command, "1")


def test_pipeline_stats_per_node(rc: rediscluster.RedisCluster) -> None:
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for key in keys:
        pipe.get(key)
    pipe.execute()
    stats = pipe.last_stats
    assert set(stats) == {n.name for n in rc.get_primaries()}
    assert sum(s.commands for s in stats.values()) == len(keys)
    assert all(s.seconds > 0 for s in stats.values())


def test_pipeline_in_two_threads(rc: rediscluster.RedisCluster) -> None:
    pipe = rc.pipeline()
    pipe.blpop(["empty-list"], timeout=1)
    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: errors.append(_run_catching(pipe)))
    worker.start()
    time.sleep(0.3)
    with pytest.raises(PipelineUsageError, match="another thread"):
        pipe.execute()
    worker.join()
    assert errors == [None]


def _run_catching(pipe: ClusterPipeline) -> BaseException | None:
    try:
        pipe.execute()
    except BaseException as exc:  # the test asserts nothing was raised
        return exc
    return None


def test_pipeline_after_close(rc: rediscluster.RedisCluster) -> None:
    pipe = rc.pipeline()
    pipe.close()
    with pytest.raises(PipelineUsageError, match="closed"):
        pipe.set("a", 1)


def test_transaction_same_slot(rc: rediscluster.RedisCluster) -> None:
    with rc.pipeline(transaction=True) as pipe:
        pipe.set("{user}:a", 1).incrby("{user}:a", 5).get("{user}:a")
        assert pipe.execute() == [True, 6, b"6"]


def test_transaction_cross_slot_rejected(rc: rediscluster.RedisCluster) -> None:
    pipe = rc.pipeline(transaction=True)
    pipe.set("{a}x", 1)
    with pytest.raises(CrossSlotError, match="slot"):
        pipe.set("{b}x", 1)


def test_transaction_error_reply(rc: rediscluster.RedisCluster) -> None:
    rc.set("{t}s", "text")
    pipe = rc.pipeline(transaction=True)
    pipe.incr("{t}n").lpush("{t}s", 1).incr("{t}n")
    results = pipe.execute(raise_on_error=False)
    assert results[0] == 1
    assert isinstance(results[1], ResponseError)
    assert results[2] == 2


def test_watch_detects_change(rc: rediscluster.RedisCluster) -> None:
    rc.set("{w}balance", 10)
    pipe = rc.pipeline()
    pipe.watch("{w}balance")
    assert pipe.get("{w}balance") == b"10"
    rc.set("{w}balance", 20)
    pipe.multi()
    pipe.set("{w}balance", 11)
    with pytest.raises(WatchError):
        pipe.execute()
    assert rc.get("{w}balance") == b"20"


def test_watch_commits_unchanged(rc: rediscluster.RedisCluster) -> None:
    rc.set("{w}balance", 10)
    with rc.pipeline() as pipe:
        pipe.watch("{w}balance")
        balance = int(pipe.get("{w}balance"))
        pipe.multi()
        pipe.set("{w}balance", balance + 1).get("{w}balance")
        assert pipe.execute() == [True, b"11"]
    assert all(n == 0 for n in pool_counts(rc).values())


def test_watch_cross_slot_rejected(rc: rediscluster.RedisCluster) -> None:
    pipe = rc.pipeline()
    with pytest.raises(CrossSlotError):
        pipe.watch("{a}x", "{b}x")


# Randomized pipelines against one-by-one commands on the owning nodes.

STRING_COMMANDS = ("set", "get", "incr", "append", "strlen", "lpush", "rpop", "sadd",
                   "scard", "hset", "hget", "delete", "exists", "getset", "incrby")


def random_command(rng: random.Random, key: str) -> tuple[str, tuple[Any, ...]]:
    name = rng.choice(STRING_COMMANDS)
    value = rng.choice(["1", "2", "x", "10", "abc"])
    if name in ("set", "append", "lpush", "sadd", "getset"):
        return name, (key, value)
    if name == "hset":
        return name, (key, "field", value)
    if name == "hget":
        return name, (key, "field")
    if name == "incrby":
        return name, (key, rng.randint(-5, 5))
    return name, (key,)


def outcome(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except ResponseError as exc:
        return (type(exc), str(exc))


def normalized(result: Any) -> Any:
    if isinstance(result, ResponseError):
        return (type(result), str(result))
    return result


@pytest.fixture
def node_clients(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> Iterator[dict[str, redis.Redis]]:
    clients = {
        node.name: redis.Redis(host=node.host, port=node.port)
        for node in rc.get_primaries()
    }
    yield clients
    for client in clients.values():
        client.close()


@pytest.mark.parametrize("use_threads", [True, False])
def test_random_pipelines_match_single(
    rc: rediscluster.RedisCluster,
    node_clients: dict[str, redis.Redis],
    use_threads: bool,
) -> None:
    rng = random.Random(20261204 + use_threads)
    mismatches = []
    for number in range(5000):
        pipe = rc.pipeline(use_threads=use_threads)
        expected = []
        for _ in range(rng.randint(1, 12)):
            suffix = rng.randint(0, 40)
            name, args = random_command(rng, f"rand:p:{suffix}")
            getattr(pipe, name)(*args)
            reference_key = f"rand:r:{suffix}"
            reference = node_clients[rc.get_node_from_key(reference_key).name]
            expected.append(
                outcome(getattr(reference, name), reference_key, *args[1:])
            )
        results = [normalized(r) for r in pipe.execute(raise_on_error=False)]
        if results != expected:
            mismatches.append((number, results, expected))
    assert mismatches == []


def test_workers_reused_and_stopped(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, pipeline_max_workers=4
    )
    keys = keys_on_every_master(rc)
    for _ in range(50):
        pipe = rc.pipeline()
        for key in keys:
            pipe.set(key, LARGE_VALUE)
        pipe.execute()
    executor = rc._executor
    assert executor is not None
    assert 1 <= executor.worker_count <= 4
    workers = list(executor._workers)
    rc.close()
    assert not any(worker.is_alive() for worker in workers)
    with pytest.raises(PipelineUsageError, match="closed"):
        rc.pipeline().get(keys[0]).get(keys[1]).execute()


def test_max_workers_bounds_threads(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, pipeline_max_workers=2
    )
    keys = keys_on_every_master(rc)
    errors: list[BaseException] = []

    def run() -> None:
        for _ in range(20):
            pipe = rc.pipeline()
            for key in keys:
                pipe.set(key, LARGE_VALUE)
            if pipe.execute() != [True] * len(keys):
                errors.append(AssertionError("wrong results"))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert rc._executor is not None
    assert 1 <= rc._executor.worker_count <= 2
    rc.close()
