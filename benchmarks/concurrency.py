"""S9: many threads sharing one client, each running pipelines for a while.

Every thread loops on 100-command pipelines of SETs until the time is up.
The figure is commands per second over all threads. Errors are pipelines
that raised or returned wrong replies. Connections opened is the rise in the
masters' ``total_connections_received`` from just before the client is
created until it is closed, read on connections opened beforehand.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import redis

from benchmarks import cluster as bench_cluster
from benchmarks.context import Bench
from benchmarks.limits import RawPipeline
from benchmarks.peers import RC_THREADS_ON, Peer, PeerFactory
from benchmarks.results import Result
from benchmarks.scenarios import (
    VALUE,
    check_sets,
    group_commands,
    owner_map,
    scenario_keys,
)


@dataclass
class Tally:
    """Counts that the threads of one peer add to under a lock."""

    commands: int = 0
    errors: int = 0
    first_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, commands: int, error: str = "") -> None:
        with self.lock:
            self.commands += commands
            if error:
                self.errors += 1
                self.first_error = self.first_error or error


def _work(peer: Peer, keys: list[str], deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        try:
            check_sets(peer.name, peer.set_pipeline(keys, VALUE), len(keys))
        except Exception as error:  # noqa: BLE001 - counted, not raised
            tally.add(0, f"{type(error).__name__}: {error}")
        else:
            tally.add(len(keys))


def hammer(peer: Peer, bench: Bench) -> Tally:
    """Run the plan's threads on one shared peer; return their tally."""
    plan = bench.plan
    deadline = time.monotonic() + plan.threads_seconds
    tally = Tally()
    threads = [
        threading.Thread(
            target=_work,
            args=(peer, scenario_keys(f"S9:{n}", plan.sizes["S9"]), deadline, tally),
        )
        for n in range(plan.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(plan.threads_seconds + 60)
    return tally


def _connections(counters: list[redis.Redis]) -> int:
    return sum(int(c.info("stats")["total_connections_received"]) for c in counters)


def _run_peer(
    name: str, factory: PeerFactory, bench: Bench, counters: list[redis.Redis]
) -> tuple[float, str, int]:
    before = _connections(counters)
    peer = factory(bench_cluster.target(bench.cluster, direct=True))
    try:
        started = time.monotonic()
        tally = hammer(peer, bench)
        elapsed = time.monotonic() - started
    finally:
        peer.close()
    opened = _connections(counters) - before
    detail = f"{tally.errors} errors, {opened} connections opened"
    if tally.first_error:
        detail += f"; first error: {tally.first_error[:120]}"
    return tally.commands / elapsed, detail, tally.errors


def raw_rate(bench: Bench, peer: Peer, seconds: float) -> float:
    """Return commands per second of raw 100-command batches on one thread."""
    keys = scenario_keys("S9:raw", bench.plan.sizes["S9"])
    commands = [("SET", key, VALUE) for key in keys]
    raw = RawPipeline(group_commands(owner_map({RC_THREADS_ON: peer}, keys),
                                     commands))
    try:
        done = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            raw.run()
            done += len(commands)
        return done / (time.monotonic() - started)
    finally:
        raw.close()


def run_threads(bench: Bench) -> Result:
    """S9: operations per second of 16 threads on one client, per peer."""
    bench_cluster.set_delays(bench.cluster, (0.0,))
    addresses = bench_cluster.node_addresses(bench.cluster, direct=True)
    values: dict[str, float | None] = {}
    details: dict[str, str] = {}
    errors: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        counters = [redis.Redis(host=h, port=p) for h, p in addresses]
        for counter in counters:
            stack.callback(counter.close)
        for name, factory in bench.factories.items():
            if factory is None:
                values[name] = None
                continue
            values[name], details[name], errors[name] = _run_peer(
                name, factory, bench, counters
            )
        limit = _limit(bench)
    plan = bench.plan
    title = (f"{plan.threads} threads, {plan.sizes['S9']}-command pipelines, "
             f"{plan.threads_seconds:g} s")
    return Result("S9", title, "ops/s", values, limit, "raw sockets, 1 thread",
                  higher_is_better=True, details=details, errors=errors)


def _limit(bench: Bench) -> float:
    factory: Callable[..., Peer] = bench.factories[RC_THREADS_ON]  # type: ignore
    peer = factory(bench_cluster.target(bench.cluster, direct=True))
    try:
        return raw_rate(bench, peer, min(bench.plan.threads_seconds, 2.0))
    finally:
        peer.close()
