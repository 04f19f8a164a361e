"""64 threads share one client with a bounded pool per node.

Each thread writes unique values to keys of its own and reads them back, with
plain commands and with pipelines of 10 commands. A reply that reached the
wrong caller shows up as a value that thread never wrote for that key. A
monitor thread samples every node pool's open connections, which must never
exceed ``max_connections``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import rediscluster
from rediscluster.testing import LocalCluster

from .conftest import write_figures

THREADS = 64
OPS_PER_THREAD = 1000
MAX_CONNECTIONS = 16
KEYS_PER_THREAD = 10
# A bound on the run, in case the machine is much slower than expected.
DEADLINE_SECONDS = 60.0


@pytest.fixture(scope="module")
def local() -> Iterator[LocalCluster]:
    from conftest import track

    with LocalCluster(masters=3, replicas=0) as cluster:
        track(cluster)
        yield cluster


class PoolMonitor:
    """Sampler of ``pool.created`` of every node of a client, until stopped."""

    def __init__(self, rc: rediscluster.RedisCluster) -> None:
        self.rc = rc
        self.max_created: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> PoolMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.001):
            for node in self.rc.topology.nodes():
                created = node.pool.created
                if created > self.max_created.get(node.name, 0):
                    self.max_created[node.name] = created
            self.samples += 1


def test_shared_client_threads(local: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=local.startup_nodes, max_connections=MAX_CONNECTIONS
    )
    deadline = time.monotonic() + DEADLINE_SECONDS
    lock = threading.Lock()
    done = [0] * THREADS
    commands = [0] * THREADS
    mismatches: list[str] = []
    errors: list[str] = []

    def check(key: str, got: object, expected: str) -> None:
        if got != expected.encode():
            with lock:
                mismatches.append(f"GET {key} returned {got!r}, expected {expected!r}")

    def work(index: int) -> None:
        keys = [f"ts:{index}:{n}" for n in range(KEYS_PER_THREAD)]
        last: dict[str, str] = {}
        for op in range(OPS_PER_THREAD):
            if time.monotonic() > deadline:
                return
            try:
                if op % 2 == 0:
                    # Pipeline: SET then GET of five keys, 10 commands.
                    chosen = [keys[(op + n) % KEYS_PER_THREAD] for n in range(5)]
                    pipe = rc.pipeline()
                    for key in chosen:
                        last[key] = f"{index}:{op}:{key}"
                        pipe.set(key, last[key]).get(key)
                    results = pipe.execute()
                    for n, key in enumerate(chosen):
                        check(key, results[2 * n + 1], last[key])
                    commands[index] += 10
                else:
                    key = keys[op % KEYS_PER_THREAD]
                    if op % 4 == 1:
                        last[key] = f"{index}:{op}:{key}"
                        rc.set(key, last[key])
                    elif key in last:
                        check(key, rc.get(key), last[key])
                    commands[index] += 1
            except Exception as error:  # noqa: BLE001 - every failure is listed
                with lock:
                    errors.append(f"thread {index} op {op}: {error!r} {error}")
            done[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    started = time.monotonic()
    try:
        with PoolMonitor(rc) as monitor:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(DEADLINE_SECONDS + 30)
        seconds = time.monotonic() - started
    finally:
        rc.close()
    operations = sum(done)
    figures = {
        "threads": THREADS,
        "operations": operations,
        "commands": sum(commands),
        "seconds": round(seconds, 2),
        "operations_per_second": round(operations / seconds),
        "commands_per_second": round(sum(commands) / seconds),
        "max_connections": MAX_CONNECTIONS,
        "max_created_per_node": monitor.max_created,
        "monitor_samples": monitor.samples,
        "errors": len(errors),
        "mismatches": len(mismatches),
    }
    write_figures("thread_safety", figures)

    assert not any(thread.is_alive() for thread in threads)
    assert mismatches == []
    assert errors == []
    assert operations == THREADS * OPS_PER_THREAD, "the run hit its deadline"
    assert len(monitor.max_created) == 3
    assert max(monitor.max_created.values()) <= MAX_CONNECTIONS
