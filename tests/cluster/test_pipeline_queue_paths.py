"""ClusterPipeline's queue-time paths against a real cluster.

Commands whose only key is their first argument take a one-step queueing path
that files them straight into a per-node buffer (the queue-time plan). The
results must equal one-by-one execution for mixed argument types and client
settings. The path must keep the checks of the general one: transaction
slots, unsupported commands, and DataError before any write. The plan must
be dropped when the slot map changes or a mode disables it.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
import redis
from conftest import flush
from redis.exceptions import DataError, ResponseError

import rediscluster
from rediscluster import CrossSlotError, PipelineUsageError
from rediscluster.batch import Command
from rediscluster.testing import LocalCluster

# With 30 keys over 3 masters, each master's batch of SETs with this value
# takes more than the 64 KiB from which a batch goes to a worker thread.
LARGE_VALUE = "L" * 20_000


def keys_on_every_master(rc: rediscluster.RedisCluster, count: int = 30) -> list[str]:
    keys = [f"qp:{n}" for n in range(count)]
    owners = {rc.get_node_from_key(k).name for k in keys}
    assert len(owners) == len(rc.get_primaries())
    return keys


def learn_set_and_get(rc: rediscluster.RedisCluster) -> None:
    """Run SET and GET once, so the router stores their key positions."""
    rc.set("qp:warm", "1")
    rc.get("qp:warm")
    assert {"SET", "GET"} <= rc.router.first_key_only


def keys_per_master(rc: rediscluster.RedisCluster) -> dict[str, str]:
    """Return one key per master, keyed by the master's name."""
    found: dict[str, str] = {}
    for number in range(1000):
        key = f"qp:owner:{number}"
        found.setdefault(rc.get_node_from_key(key).name, key)
    assert len(found) == len(rc.get_primaries())
    return found


# Transactions started with multi() on a pipeline made without
# transaction=True.


def test_multi_checks_slot_when_queued(rc: rediscluster.RedisCluster) -> None:
    learn_set_and_get(rc)
    pipe = rc.pipeline()
    pipe.multi()
    pipe.set("{a}:1", "x")
    with pytest.raises(CrossSlotError):
        pipe.set("{b}:1", "y")


def test_multi_runs_on_key_owner(rc: rediscluster.RedisCluster) -> None:
    learn_set_and_get(rc)
    failures = {}
    for name, key in keys_per_master(rc).items():
        pipe = rc.pipeline()
        pipe.multi()
        pipe.set(key, "in-transaction").get(key)
        try:
            results = pipe.execute()
        except redis.RedisError as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        assert results == [True, b"in-transaction"]
    assert failures == {}


def test_multi_matches_explicit_transaction(rc: rediscluster.RedisCluster) -> None:
    # The same commands through pipeline(transaction=True), which never takes
    # the one-step path, show what multi() should do.
    learn_set_and_get(rc)
    key = keys_per_master(rc)
    for name, owned in key.items():
        pipe = rc.pipeline(transaction=True)
        pipe.set(owned, "t").get(owned)
        assert pipe.execute() == [True, b"t"], name


def test_reset_ends_multi(rc: rediscluster.RedisCluster) -> None:
    # redis-py's Pipeline.reset() drops an explicit MULTI, so the pipeline
    # runs cross-slot batches again afterwards.
    pipe = rc.pipeline()
    pipe.multi()
    pipe.reset()
    pipe.set("{a}:1", "x").set("{b}:1", "y")
    assert pipe.execute() == [True, True]


# Results equal one-by-one execution.

KEY_KINDS = ("str", "bytes", "int", "float", "unicode", "tag", "bytes_tag", "view")
PLAIN_VALUES: tuple[Any, ...] = (
    "1", "x", "", "значение", 3, -2, 1.5, 10**20, b"raw", memoryview(b"view"),
)
# redis-py 8.0 added bytearray to the types its encoder sends as bytes;
# earlier versions reject it with DataError on the client and in pipelines.
if int(redis.__version__.split(".")[0]) >= 8:
    PLAIN_VALUES += (bytearray(b"array"),)
BINARY_VALUES: tuple[Any, ...] = (b"\x00\xff",)

Call = Callable[[Any, Any, Any], Any]

# Each entry queues on a pipeline or runs on the client: (target, key, value).
CALLS: dict[str, Call] = {
    "set": lambda t, k, v: t.set(k, v),
    "set_get": lambda t, k, v: t.set(k, v, get=True),
    "set_nx": lambda t, k, v: t.set(k, v, nx=True),
    "get": lambda t, k, v: t.get(k),
    "incr": lambda t, k, v: t.incr(k),
    "incrbyfloat": lambda t, k, v: t.incrbyfloat(k, 0.25),
    "append": lambda t, k, v: t.append(k, v),
    "strlen": lambda t, k, v: t.strlen(k),
    "hset": lambda t, k, v: t.hset(k, "field", v),
    "hgetall": lambda t, k, v: t.hgetall(k),
    "lpush": lambda t, k, v: t.lpush(k, v),
    "lrange": lambda t, k, v: t.lrange(k, 0, -1),
    "zadd": lambda t, k, v: t.zadd(k, {"member": 1.5}),
    "zrange_scores": lambda t, k, v: t.zrange(k, 0, -1, withscores=True),
    "exists": lambda t, k, v: t.exists(k),
    "delete": lambda t, k, v: t.delete(k),
    "type": lambda t, k, v: t.type(k),
    "lower_get": lambda t, k, v: t.execute_command("get", k),
    "lower_set": lambda t, k, v: t.execute_command("set", k, v),
    "upper_set": lambda t, k, v: t.execute_command("SET", k, v),
    "upper_incr": lambda t, k, v: t.execute_command("INCR", k),
    "upper_get": lambda t, k, v: t.execute_command("GET", k),
}


def mix_key(kind: str, number: int, space: str) -> Any:
    """Return key number of a kind; spaces "p" and "r" never share a key."""
    offset = 0 if space == "p" else 1000
    if kind == "str":
        return f"mix:{space}:{number}"
    if kind == "bytes":
        return f"mix:{space}:b{number}".encode()
    if kind == "int":
        return 7_000_000 + number + offset
    if kind == "float":
        return 0.5 + number + offset
    if kind == "unicode":
        return f"ключ:{space}:{number}:é"
    if kind == "tag":
        return f"{{mixtag}}:{space}:{number}"
    if kind == "bytes_tag":
        return f"x{{mixtag}}{space}{number}".encode()
    return memoryview(f"mix:{space}:view{number}".encode())


def comparable(result: Any) -> Any:
    """Return a result in a form that compares across the two paths."""
    if isinstance(result, ResponseError):
        # The pipeline prefixes the command's position to the message.
        return type(result).__name__, str(result).split("failed: ")[-1]
    if isinstance(result, Exception):
        return type(result).__name__
    return result


def run_one(call: Call, rc: rediscluster.RedisCluster, key: Any, value: Any) -> Any:
    try:
        return comparable(call(rc, key, value))
    except redis.RedisError as exc:
        return comparable(exc)


CLIENT_OPTIONS = [
    pytest.param({}, id="resp2"),
    pytest.param({"decode_responses": True}, id="resp2-decode"),
    pytest.param({"protocol": 3}, id="resp3"),
    pytest.param({"protocol": 3, "decode_responses": True}, id="resp3-decode"),
]


@pytest.fixture
def mix_client(
    cluster: LocalCluster, request: pytest.FixtureRequest
) -> Iterator[rediscluster.RedisCluster]:
    flush(cluster)
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, **request.param
    )
    yield client
    client.close()
    flush(cluster)


@pytest.mark.parametrize("mix_client", CLIENT_OPTIONS, indirect=True)
@pytest.mark.parametrize("use_threads", [True, False])
def test_mixed_pipelines_match_client(
    mix_client: rediscluster.RedisCluster, use_threads: bool
) -> None:
    rc = mix_client
    decoding = bool(rc.get_encoder().decode_responses)
    # Replies that are not UTF-8 cannot be decoded on either path.
    values = PLAIN_VALUES if decoding else PLAIN_VALUES + BINARY_VALUES
    rng = random.Random(f"mix-{decoding}-{use_threads}")
    mismatches = []
    for number in range(300):
        pipe = rc.pipeline(use_threads=use_threads)
        expected = []
        queued = []
        for _ in range(rng.randint(1, 25)):
            name = rng.choice(sorted(CALLS))
            kind = rng.choice(KEY_KINDS)
            value = rng.choice(values)
            suffix = rng.randint(0, 6)
            call = CALLS[name]
            call(pipe, mix_key(kind, suffix, "p"), value)
            expected.append(run_one(call, rc, mix_key(kind, suffix, "r"), value))
            queued.append((name, kind, value))
        results = [comparable(r) for r in pipe.execute(raise_on_error=False)]
        for entry, got, want in zip(queued, results, expected):
            if got != want:
                mismatches.append((number, entry, got, want))
    assert mismatches == []


# Commands the one-step path must leave to the general one.


@pytest.mark.parametrize("name", ["MOVE", "move", "Move"])
def test_move_rejected_after_learned(
    rc: rediscluster.RedisCluster, name: str
) -> None:
    # Routing MOVE once teaches the router its key position (a WATCH-ed
    # pipeline does so when it runs MOVE at once), which would make it a
    # one-step command.
    rc.router.slot(("MOVE", "qp:move", 1))
    assert "MOVE" in rc.router.first_key_only
    pipe = rc.pipeline()
    with pytest.raises(PipelineUsageError, match="MOVE"):
        pipe.execute_command(name, "qp:move", 1)
    assert len(pipe) == 0


@pytest.mark.parametrize("use_threads", [True, False])
@pytest.mark.parametrize(
    "bad", [True, None, [1], {"a": 1}], ids=["bool", "none", "list", "dict"]
)
@pytest.mark.parametrize("size", [10, len(LARGE_VALUE)], ids=["small", "large"])
def test_data_error_sends_nothing(
    rc: rediscluster.RedisCluster, use_threads: bool, bad: Any, size: int
) -> None:
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    calls_before = set_calls(rc)
    pipe = rc.pipeline(use_threads=use_threads)
    for number, key in enumerate(keys):
        pipe.set(key, bad if number == 17 else "v" * size)
    with pytest.raises(DataError):
        pipe.execute()
    assert set_calls(rc) == calls_before
    assert [rc.exists(key) for key in keys] == [0] * len(keys)
    assert len(pipe) == 0
    assert pipe.execute() == []


def set_calls(rc: rediscluster.RedisCluster) -> dict[str, int]:
    """Return the SET call count of every master, from INFO commandstats."""
    counts = {}
    for node in rc.get_primaries():
        stats = rc.info("commandstats", target_nodes=node)
        counts[node.name] = int(stats.get("cmdstat_set", {}).get("calls", 0))
    return counts


# The plan and the slot map.


def test_plan_dropped_after_refresh(rc: rediscluster.RedisCluster) -> None:
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, key)
    rc.topology.refresh()
    assert pipe._planned_batches(pipe.command_stack) is None
    for key in keys:
        pipe.get(key)
    assert pipe.execute() == [True] * len(keys) + [k.encode() for k in keys]


def test_layout_change_while_queueing(rc: rediscluster.RedisCluster) -> None:
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for number, key in enumerate(keys):
        pipe.set(key, key)
        if number == 10:
            rc.topology.refresh()
    assert pipe._planned_batches(pipe.command_stack) is None
    assert pipe.execute() == [True] * len(keys)
    assert [rc.get(key) for key in keys] == [k.encode() for k in keys]


def test_stale_plan_follows_moved(rc: rediscluster.RedisCluster) -> None:
    # The plan points one slot at the wrong master. Its replies are MOVED, and
    # the next round sends the commands to the owner.
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    owner = rc.get_node_from_key(keys[0])
    other = next(node for node in rc.get_primaries() if node is not owner)
    rc.topology.record_moved(rc.keyslot(keys[0]), other.host, other.port)
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, key).get(key)
    assert pipe._planned_batches(pipe.command_stack) is not None
    assert pipe.execute() == [v for k in keys for v in (True, k.encode())]
    assert pipe.last_stats[other.name].redirects == 2
    assert rc.get_node_from_key(keys[0]) is owner


def test_reused_pipeline_plans_again(rc: rediscluster.RedisCluster) -> None:
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for round_number in range(3):
        for key in keys:
            pipe.set(key, round_number)
        assert pipe._planned_batches(pipe.command_stack) is not None
        assert pipe.execute() == [True] * len(keys)
        # execute() leaves a fresh, empty plan for the next commands.
        assert pipe._plan is not None
        assert pipe._plan.queues == {}
    for key in keys:
        pipe.get(key)
    pipe.reset()
    pipe.get(keys[0])
    assert pipe.execute() == [b"2"]


def test_plain_commands_queued_as_untracked_tuples(
    rc: rediscluster.RedisCluster,
) -> None:
    # A tuple of strings and bytes leaves the garbage collector's lists at
    # its next collection, so a long queue adds no work to later ones.
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, b"v").get(key)
    gc.collect()
    entries = pipe.command_stack
    assert [type(entry) for entry in entries] == [tuple] * len(entries)
    assert not any(gc.is_tracked(entry) for entry in entries)
    assert pipe.execute() == [v for _ in keys for v in (True, b"v")]


def test_plan_stopped_midway_keeps_order(rc: rediscluster.RedisCluster) -> None:
    # redis-py packs a memoryview, which the plan does not take: the plan
    # stops, the tuples queued so far become Commands, and execute() groups
    # the whole queue itself.
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for key in keys[:10]:
        pipe.set(key, "before")
    pipe.execute_command("SET", keys[10], memoryview(b"view"))
    for key in keys[11:]:
        pipe.set(key, "after").get(key)
    assert pipe._plan is None
    assert not any(type(entry) is tuple for entry in pipe.command_stack)
    expected = [True] * 11 + [v for _ in keys[11:] for v in (True, b"after")]
    assert pipe.execute() == expected
    assert [rc.get(key) for key in keys[:11]] == [b"before"] * 10 + [b"view"]


def test_plan_missing_command_regrouped(
    rc: rediscluster.RedisCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # A command appended past the plan breaks the plan's invariant; execute()
    # notices, logs it and groups the whole queue itself.
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline()
    for key in keys[:-1]:
        pipe.set(key, "planned")
    pipe.command_stack.append(Command.first_key(("SET", keys[-1], "unplanned")))
    with caplog.at_level("ERROR", logger="rediscluster.pipeline"):
        assert pipe.execute() == [True] * len(keys)
    assert "plan is missing 1 of 30 commands" in caplog.text
    assert rc.get(keys[-1]) == b"unplanned"


def test_error_in_planned_round_names_command(
    rc: rediscluster.RedisCluster,
) -> None:
    learn_set_and_get(rc)
    pipe = rc.pipeline()
    pipe.execute_command("LPUSH", "qp:list", "a")  # teaches LPUSH's key position
    pipe.execute()
    pipe.set("qp:string", "x")
    pipe.execute_command("LPUSH", "qp:list", "b")
    pipe.execute_command("LPUSH", "qp:string", "c")
    assert [type(entry) for entry in pipe.command_stack] == [tuple] * 3
    with pytest.raises(ResponseError, match=r"command #3 \(LPUSH qp:string c\)"):
        pipe.execute()
    assert rc.lrange("qp:list", 0, -1) == [b"b", b"a"]


@pytest.mark.parametrize("use_threads", [True, False])
@pytest.mark.parametrize("size", [10, len(LARGE_VALUE)], ids=["small", "large"])
def test_plan_buffers_released(
    rc: rediscluster.RedisCluster, use_threads: bool, size: int
) -> None:
    learn_set_and_get(rc)
    keys = keys_on_every_master(rc)
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.set(key, "v" * size)
    plan = pipe._plan
    assert plan is not None
    tracked: list[Any] = [queue.payload for queue in plan.queues.values()]
    tracked += [queue.commands for queue in plan.queues.values()]
    del plan
    assert pipe.execute() == [True] * len(keys)
    # A worker drops its task right after the task's last step wakes the
    # caller, so allow it a moment to finish.
    deadline = time.monotonic() + 1.0
    while holders_of(tracked) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert holders_of(tracked) == []


def holders_of(tracked: list[Any]) -> list[str]:
    """Return the type names of objects that refer to a tracked object.

    The list itself and the test's frames are left out.
    """
    gc.collect()
    names = []
    for item in tracked:
        for referrer in gc.get_referrers(item):
            if referrer is not tracked and not isinstance(referrer, FrameType):
                names.append(type(referrer).__name__)
    return names


# Modes that disable the plan.


def test_replica_reads_skip_plan(cluster: LocalCluster) -> None:
    flush(cluster)
    rc = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, read_from_replicas=True
    )
    try:
        learn_set_and_get(rc)
        keys = keys_on_every_master(rc)
        for key in keys:
            rc.set(key, key)
        for node in rc.get_primaries():
            rc.execute_command("WAIT", 1, 1000, target_nodes=node)
        pipe = rc.pipeline()
        for key in keys:
            pipe.get(key)
        assert pipe._plan is None
        assert pipe.execute() == [k.encode() for k in keys]
        replicas = {node.name for node in rc.get_replicas()}
        assert set(pipe.last_stats) <= replicas
    finally:
        rc.close()
        flush(cluster)


def test_transaction_skips_plan(rc: rediscluster.RedisCluster) -> None:
    learn_set_and_get(rc)
    pipe = rc.pipeline(transaction=True)
    pipe.set("{t}:a", 1).get("{t}:a")
    assert pipe._plan is None
    with pytest.raises(CrossSlotError):
        pipe.set("{u}:a", 1)
    assert pipe.execute() == [True, b"1"]


def test_watch_skips_plan(rc: rediscluster.RedisCluster) -> None:
    learn_set_and_get(rc)
    rc.set("{w}:a", "0")
    pipe = rc.pipeline()
    pipe.watch("{w}:a")
    assert pipe.get("{w}:a") == b"0"
    pipe.multi()
    pipe.set("{w}:a", "1")
    with pytest.raises(CrossSlotError):
        pipe.set("{v}:a", "1")
    assert pipe.execute() == [True]
    assert rc.get("{w}:a") == b"1"


# The one-step paths and a closed client.

QUEUE_CALLS: dict[str, Callable[[Any], Any]] = {
    "set": lambda pipe: pipe.set("qp:closed", "v"),
    "set_int": lambda pipe: pipe.set("qp:closed", 1),
    "get": lambda pipe: pipe.get("qp:closed"),
    "upper_incr": lambda pipe: pipe.execute_command("INCR", "qp:closed"),
}


@pytest.mark.parametrize("made", ["before_close", "after_close"])
@pytest.mark.parametrize("name", sorted(QUEUE_CALLS))
def test_closed_client_rejects_fast_paths(
    rc: rediscluster.RedisCluster, cluster: LocalCluster, made: str, name: str
) -> None:
    # The general path rejects a command once the client is closed, so the
    # one-step paths for learned commands must reject it too.
    client = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    learn_set_and_get(client)
    client.execute_command("INCR", "qp:warm")
    assert "INCR" in client.router.first_key_only
    pipe = client.pipeline() if made == "before_close" else None
    client.close()
    if pipe is None:
        pipe = client.pipeline()
    with pytest.raises(PipelineUsageError, match="client is closed"):
        QUEUE_CALLS[name](pipe)
    assert len(pipe) == 0
