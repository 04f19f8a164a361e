"""Shared helpers of the chaos tests.

Every chaos test starts its own LocalCluster (3 masters, 1 replica each,
2000 ms node timeout), because it kills, fails over or reshards nodes, which
would break the suite's shared cluster.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import ExponentialBackoff
from redis.crc import key_slot
from redis.retry import Retry

import rediscluster
from rediscluster.testing import LocalCluster, ServerNode

NODE_TIMEOUT_MS = 2000
FIGURES_DIR = Path(__file__).parent / ".figures"


@pytest.fixture
def chaos_cluster() -> Iterator[LocalCluster]:
    """A cluster of 3 masters with 1 replica each, for one test only."""
    from conftest import track

    with LocalCluster(masters=3, replicas=1, node_timeout_ms=NODE_TIMEOUT_MS) as local:
        track(local)
        yield local


def run(node: ServerNode, *args: Any) -> Any:
    """Run one command on node through a short-lived plain client."""
    with node.client(socket_timeout=10.0) as client:
        return client.execute_command(*args)


def text(value: Any) -> str:
    """Return a reply as str, decoding bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


def slot_owners(cluster: LocalCluster) -> dict[int, ServerNode]:
    """Map every slot to its master node, as the first running node reports."""
    by_id = {node.node_id: node for node in cluster.nodes}
    for node in cluster.nodes:
        if not node.alive:
            continue
        owners: dict[int, ServerNode] = {}
        for entry in run(node, "CLUSTER", "SLOTS"):
            master_id = text(entry[2][2])
            for slot in range(int(entry[0]), int(entry[1]) + 1):
                owners[slot] = by_id[master_id]
        return owners
    raise RuntimeError(f"no running node in {cluster!r}")


def key_on(owners: dict[int, ServerNode], node: ServerNode, prefix: str) -> str:
    """Return the first key ``prefix:N`` whose slot node serves."""
    for number in range(100_000):
        key = f"{prefix}:{number}"
        if owners[key_slot(key.encode())] is node:
            return key
    raise LookupError(f"no key with prefix {prefix!r} maps to {node!r}")


def keys_in_slots(prefix: str, slots: range, count: int) -> list[str]:
    """Return count keys ``prefix:N`` whose slots lie in slots."""
    keys: list[str] = []
    number = 0
    while len(keys) < count:
        key = f"{prefix}:{number}"
        if key_slot(key.encode()) in slots:
            keys.append(key)
        number += 1
        if number > 1_000_000:
            raise LookupError(f"too few keys with prefix {prefix!r} in {slots}")
    return keys


def is_master(node: ServerNode) -> bool:
    """Tell whether node reports itself as a master (ROLE)."""
    try:
        role = run(node, "ROLE")
    except redis.RedisError:
        return False
    return text(role[0]) == "master"


def wait_until_master(node: ServerNode, timeout: float) -> float:
    """Poll ROLE until node is a master; return the time.monotonic() it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_master(node):
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"{node!r} was not promoted within {timeout} s")


def write_figures(name: str, figures: dict[str, Any]) -> None:
    """Print figures and store them as JSON in tests/chaos/.figures/NAME.json."""
    FIGURES_DIR.mkdir(exist_ok=True)
    path = FIGURES_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    text = json.dumps(figures, indent=2, sort_keys=True)
    print(f"\n{name} figures ({path}):\n{text}")


class Tally:
    """Thread-safe counts of outcomes per counter key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acknowledged: dict[str, int] = {}
        self.unknown: dict[str, int] = {}
        self.failed: dict[str, int] = {}

    def add(self, table: dict[str, int], key: str) -> None:
        with self.lock:
            table[key] = table.get(key, 0) + 1

    def attempts(self, key: str) -> int:
        """Return every INCR sent or tried on key so far."""
        with self.lock:
            return (
                self.acknowledged.get(key, 0)
                + self.unknown.get(key, 0)
                + self.failed.get(key, 0)
            )

    def snapshot(self) -> dict[str, int]:
        """Return a copy of the acknowledged counts."""
        with self.lock:
            return dict(self.acknowledged)


def failover_client(cluster: LocalCluster) -> rediscluster.RedisCluster:
    """Return a client whose retries outlast a failover of this cluster.

    A failover takes about the node timeout plus an election, so 14 retries of
    at most 0.5 s each (about 5.7 s in all) cover the 2 s node timeout.
    """
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=14)
    return rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, retry=retry, socket_timeout=5.0
    )


class CounterLoad:
    """Threads that increment counters of their own, one per master.

    Each round of a thread runs one pipeline with two INCRs of each of its
    counters, then one plain ``rc.incr`` of one counter. Every outcome is
    counted in ``tally``: a reply as acknowledged, ``OutcomeUnknownError`` as
    unknown, any other error as failed. Replies are checked as they arrive,
    and each one that cannot be right is stored in ``misplaced``.
    """

    def __init__(
        self,
        rc: rediscluster.RedisCluster,
        cluster: LocalCluster,
        threads: int = 8,
    ) -> None:
        self.rc = rc
        self.tally = Tally()
        owners = slot_owners(cluster)
        self.counters = [
            [key_on(owners, master, f"chaos:t{index}m{m}") for m, master in
             enumerate(cluster.masters)]
            for index in range(threads)
        ]
        self.errors: list[list[str]] = [[] for _ in range(threads)]
        self.misplaced: list[str] = []
        self.rounds = [0] * threads
        # End time (time.monotonic) of each thread's first round that fully
        # succeeded after ``mark`` was set, and the mark itself.
        self.mark: float | None = None
        self.first_success_after_mark: list[float | None] = [None] * threads
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(index,), daemon=True)
            for index in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every thread and wait until each has ended."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            raise RuntimeError(f"load threads {alive} did not stop in {timeout} s")

    def wait_rounds(self, rounds: int, timeout: float) -> None:
        """Block until every thread finished at least rounds rounds."""
        deadline = time.monotonic() + timeout
        while min(self.rounds) < rounds:
            if time.monotonic() > deadline:
                raise TimeoutError(f"threads finished only {self.rounds} rounds")
            time.sleep(0.02)

    def wait_recovered(self, timeout: float) -> None:
        """Block until every thread succeeded after ``mark``, or timeout passed."""
        deadline = time.monotonic() + timeout
        while None in self.first_success_after_mark:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)

    def _record(self, index: int, key: str, outcome: Any, ceiling: int) -> bool:
        """Count one INCR outcome; return whether it was a reply."""
        tally = self.tally
        if isinstance(outcome, rediscluster.OutcomeUnknownError):
            tally.add(tally.unknown, key)
            return False
        if isinstance(outcome, Exception):
            tally.add(tally.failed, key)
            self.errors[index].append(f"{type(outcome).__name__}: {outcome}")
            return False
        tally.add(tally.acknowledged, key)
        if not isinstance(outcome, int) or not 1 <= outcome <= ceiling:
            self.misplaced.append(
                f"INCR {key} returned {outcome!r}, but only {ceiling} INCRs "
                f"of it were sent"
            )
        return True

    def _run_pipeline(self, index: int) -> bool:
        counters = self.counters[index]
        ceilings = {key: self.tally.attempts(key) for key in counters}
        pipe = self.rc.pipeline()
        for key in counters:
            pipe.incr(key)
            pipe.incr(key)
        try:
            results = pipe.execute(raise_on_error=False)
        except Exception as error:  # noqa: BLE001 - counted as failed
            results = [error] * (2 * len(counters))
        complete = True
        for position, key in enumerate(counters):
            first, second = results[2 * position], results[2 * position + 1]
            ok_first = self._record(index, key, first, ceilings[key] + 1)
            ok_second = self._record(index, key, second, ceilings[key] + 2)
            complete = complete and ok_first and ok_second
            if ok_first and ok_second and second != first + 1:
                self.misplaced.append(
                    f"pipeline INCR {key} twice returned {first!r}, {second!r}"
                )
        return complete

    def _run_plain(self, index: int) -> bool:
        counters = self.counters[index]
        key = counters[self.rounds[index] % len(counters)]
        ceiling = self.tally.attempts(key) + 1
        try:
            outcome: Any = self.rc.incr(key)
        except Exception as error:  # noqa: BLE001 - counted as failed
            outcome = error
        return self._record(index, key, outcome, ceiling)

    def _work(self, index: int) -> None:
        while not self._stop.is_set():
            mark = self.mark
            complete = self._run_pipeline(index)
            complete = self._run_plain(index) and complete
            self.rounds[index] += 1
            if (
                complete
                and mark is not None
                and self.first_success_after_mark[index] is None
            ):
                self.first_success_after_mark[index] = time.monotonic()
            time.sleep(0.001)


def migrate_slots(
    masters: list[ServerNode],
    source: ServerNode,
    target: ServerNode,
    slots: list[int],
    *,
    batch: int = 256,
    pause: float = 0.1,
) -> int:
    """Move slots from source to target as a resharding tool does; return keys moved.

    Works on ``batch`` slots at a time, each step pipelined per node: SETSLOT
    IMPORTING on target, SETSLOT MIGRATING on source, GETKEYSINSLOT and
    MIGRATE ... KEYS per slot until the slot is empty, then SETSLOT NODE on
    target, source and the other masters. ``pause`` seconds between batches
    stretch the move so a workload runs into every stage.
    """
    source_id = text(run(source, "CLUSTER", "MYID"))
    target_id = text(run(target, "CLUSTER", "MYID"))
    others = [node for node in masters if node not in (source, target)]
    moved = 0
    with source.client(socket_timeout=10.0) as from_client, target.client(
        socket_timeout=10.0
    ) as to_client:
        for first in range(0, len(slots), batch):
            chunk = slots[first : first + batch]
            pipe = to_client.pipeline(transaction=False)
            for slot in chunk:
                pipe.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            pipe.execute()
            pipe = from_client.pipeline(transaction=False)
            for slot in chunk:
                pipe.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            pipe.execute()
            moved += _migrate_keys(from_client, target, chunk)
            for node in [target, source, *others]:
                with node.client(socket_timeout=10.0) as client:
                    pipe = client.pipeline(transaction=False)
                    for slot in chunk:
                        pipe.execute_command(
                            "CLUSTER", "SETSLOT", slot, "NODE", target_id
                        )
                    pipe.execute()
            time.sleep(pause)
    return moved


def _migrate_keys(source: redis.Redis, target: ServerNode, slots: list[int]) -> int:
    """Move every key of slots from source to target; return how many moved.

    A slot in MIGRATING state takes no new keys, so each round of
    GETKEYSINSLOT finds fewer; 20 rounds are far more than a slot needs.
    """
    moved = 0
    pending = list(slots)
    for _ in range(20):
        pipe = source.pipeline(transaction=False)
        for slot in pending:
            pipe.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
        replies = pipe.execute()
        pending = [slot for slot, keys in zip(pending, replies) if keys]
        if not pending:
            return moved
        for keys in replies:
            if not keys:
                continue
            source.execute_command(
                "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys
            )
            moved += len(keys)
    raise RuntimeError(f"slots {pending[:10]} still contain keys after 20 rounds")


class KeyLoad:
    """Threads that write unique values to their own keys and read them back.

    Each round runs one pipeline of SET for every single key followed by GET of
    each, and, with ``multi_key``, one ``rc.mset`` over every key of the thread
    followed by ``rc.mget`` of the same keys. The grouped keys share a hash
    tag per group, so MSET and MGET also run as multi-key commands on one
    slot, which a migrating slot rejects with TRYAGAIN while its keys are split.
    """

    def __init__(
        self,
        rc: rediscluster.RedisCluster,
        slots: range,
        *,
        threads: int = 4,
        singles: int = 16,
        groups: int = 4,
        multi_key: bool = True,
        prefix: str = "load",
    ) -> None:
        self.rc = rc
        self.multi_key = multi_key
        self.singles = [
            keys_in_slots(f"{prefix}:t{index}", slots, singles)
            for index in range(threads)
        ]
        self.grouped: list[list[str]] = []
        for index in range(threads):
            tags = keys_in_slots(f"{prefix}:t{index}:g", slots, groups)
            self.grouped.append(
                [f"{{{tag}}}:{member}" for tag in tags for member in ("a", "b", "c")]
            )
        self.errors: list[list[str]] = [[] for _ in range(threads)]
        self.stale_reads: list[str] = []
        self.rounds = [0] * threads
        self.redirects = 0
        self.retries = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(index,), daemon=True)
            for index in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every thread and wait until each has ended."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            raise RuntimeError(f"load threads {alive} did not stop in {timeout} s")

    def wait_rounds(self, rounds: int, timeout: float) -> None:
        """Block until every thread finished at least rounds more rounds."""
        target = [count + rounds for count in self.rounds]
        deadline = time.monotonic() + timeout
        while any(now < goal for now, goal in zip(self.rounds, target)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"threads finished only {self.rounds} rounds")
            time.sleep(0.02)

    def _pipeline_round(self, index: int, round_: int) -> None:
        keys = self.singles[index]
        values = [f"{key}={index}:{round_}" for key in keys]
        pipe = self.rc.pipeline()
        for key, value in zip(keys, values):
            pipe.set(key, value)
        for key in keys:
            pipe.get(key)
        results = pipe.execute()
        with self._lock:
            for stats in pipe.last_stats.values():
                self.redirects += stats.redirects
                self.retries += stats.retries
        for key, value, written, read in zip(
            keys, values, results[: len(keys)], results[len(keys) :]
        ):
            if written is not True or read != value.encode():
                self.stale_reads.append(
                    f"pipeline SET {key} {value!r} returned {written!r}, GET {read!r}"
                )

    def _multi_key_round(self, index: int, round_: int) -> None:
        keys = self.grouped[index] + self.singles[index][:4]
        mapping = {key: f"{key}={index}:{round_}:m" for key in keys}
        written = self.rc.mset(mapping)
        read = self.rc.mget(keys)
        if written is not True:
            self.stale_reads.append(f"mset returned {written!r}")
        for key, value in zip(keys, read):
            if value != mapping[key].encode():
                self.stale_reads.append(
                    f"mget {key} returned {value!r} after mset {mapping[key]!r}"
                )

    def _work(self, index: int) -> None:
        while not self._stop.is_set():
            round_ = self.rounds[index]
            try:
                self._pipeline_round(index, round_)
                if self.multi_key:
                    self._multi_key_round(index, round_)
            except Exception as error:  # noqa: BLE001 - reported by the test
                self.errors[index].append(f"{type(error).__name__}: {error}")
            self.rounds[index] += 1
            time.sleep(0.001)
