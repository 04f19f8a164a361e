"""64 threads on one client hit a silent node: the layout refreshes stay few.

Every failed attempt of a command requests a refresh of the topology. The client
runs one refresh at a time, and a thread whose attempt started before another
thread's refresh finished reuses that refresh, so a burst of failures costs a
handful of CLUSTER SLOTS round trips rather than one per failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

import rediscluster
from rediscluster.testing import LocalCluster

from .conftest import write_figures

THREADS = 64
SOCKET_TIMEOUT = 0.5
WARM_SECONDS = 0.5
SILENT_SECONDS = 3.0
HEALED_SECONDS = 1.0


@pytest.fixture(scope="module")
def proxied() -> Iterator[LocalCluster]:
    from conftest import track

    with LocalCluster(masters=3, replicas=0, proxy_delay=0.0) as local:
        track(local)
        yield local


class RefreshProbe:
    """Counter of refreshes, installed around ``Topology._refresh_locked``.

    ``max_running`` is the largest number of refreshes seen running at once.
    """

    def __init__(self, rc: rediscluster.RedisCluster) -> None:
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()
        original: Callable[..., None] = rc.topology._refresh_locked

        def counted(*args: Any, **kwargs: Any) -> None:
            with self._lock:
                self.calls += 1
                self.running += 1
                self.max_running = max(self.max_running, self.running)
            try:
                original(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        rc.topology._refresh_locked = counted  # type: ignore[method-assign]


class RetryCounter:
    """Counter of retried failed attempts, installed around ``_before_retry``."""

    def __init__(self, rc: rediscluster.RedisCluster) -> None:
        self.count = 0
        self._lock = threading.Lock()
        original: Callable[..., None] = rc._before_retry

        def counted(*args: Any, **kwargs: Any) -> None:
            with self._lock:
                self.count += 1
            original(*args, **kwargs)

        rc._before_retry = counted  # type: ignore[method-assign]


def test_refresh_herd(proxied: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=proxied.startup_nodes, socket_timeout=SOCKET_TIMEOUT
    )
    keys = [f"herd:{n}" for n in range(48)]
    for key in keys:
        rc.set(key, key)
    victim = rc.get_node_from_key(keys[0])
    proxy = next(
        node.proxy
        for node in proxied.nodes
        if f"{node.host}:{node.announced_port}" == victim.name
    )
    probe = RefreshProbe(rc)
    retries = RetryCounter(rc)
    stop = threading.Event()
    lock = threading.Lock()
    gets = [0]
    raised: list[str] = []
    wrong: list[str] = []

    def work(index: int) -> None:
        # Bounded by the stop event and by a hard deadline.
        deadline = time.monotonic() + 60
        turn = index
        while not stop.is_set() and time.monotonic() < deadline:
            key = keys[turn % len(keys)]
            turn += 1
            try:
                value = rc.get(key)
            except Exception as error:  # noqa: BLE001 - every failure is counted
                with lock:
                    raised.append(f"{type(error).__name__}: {error}")
                continue
            with lock:
                gets[0] += 1
                if value != key.encode():
                    wrong.append(f"GET {key} returned {value!r}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(WARM_SECONDS)
        refreshes_before = rc.topology.refresh_count
        calls_before = probe.calls
        proxy.blackhole(True)
        time.sleep(SILENT_SECONDS)
        proxy.heal()
        time.sleep(HEALED_SECONDS)
    finally:
        proxy.heal()
        stop.set()
        for thread in threads:
            thread.join(30)
        rc.close()
    refreshes = rc.topology.refresh_count - refreshes_before
    failed = retries.count + len(raised)
    figures = {
        "threads": THREADS,
        "silent_seconds": SILENT_SECONDS,
        "successful_gets": gets[0],
        "failed_attempts": failed,
        "retried_attempts": retries.count,
        "commands_raised": len(raised),
        "refreshes": refreshes,
        "refresh_calls": probe.calls - calls_before,
        "max_concurrent_refreshes": probe.max_running,
    }
    write_figures("refresh_herd", figures)

    assert not any(thread.is_alive() for thread in threads)
    assert wrong == []
    assert failed >= THREADS // 4, "too few commands hit the silent node"
    assert probe.max_running == 1
    assert refreshes * 5 <= failed
