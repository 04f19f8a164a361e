"""Profile rediscluster (threads on) in one scenario's workload.

``python -m benchmarks.profile S5`` runs the workload under pyinstrument and
prints the functions with the largest self time and their share of the
total. ``S10`` lists the largest allocation sites with tracemalloc instead.
pyinstrument samples only the calling thread, so worker threads' reads do
not show. Install pyinstrument into the venv first.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import tracemalloc
from collections import Counter
from typing import Any, Callable, Optional, Sequence

from benchmarks import cluster as bench_cluster
from benchmarks.peers import RedisClusterPeer
from benchmarks.scenarios import VALUE, scenario_keys

# Scenario -> (commands or keys, per-master delays, go through the proxies).
WORKLOADS: dict[str, tuple[int, tuple[float, ...], bool]] = {
    "S1": (30, (0.001,), True),
    "S3": (1_000, (0.001,), True),
    "S4": (10_000, (0.0,), False),
    "S5": (100_000, (0.0,), False),
    "S6": (30, (0.0,), False),
    "S7": (1_000, (0.0,), False),
    "S8": (10_000, (0.0,), False),
    "S10": (100_000, (0.0,), False),
}


def workload(scenario: str, peer: RedisClusterPeer, size: int) -> Callable[[], Any]:
    """Return one run of the scenario's operation on peer."""
    keys = scenario_keys(scenario, size)
    peer.set_pipeline(keys, VALUE)
    if scenario == "S7":
        return lambda: [peer.get(key) for key in keys]
    if scenario == "S8":
        return lambda: peer.mget(keys)
    return lambda: peer.set_pipeline(keys, VALUE)


def _name(frame: Any) -> str:
    return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"


def top_functions(session: Any, limit: int) -> tuple[list[Any], list[Any]]:
    """Return the functions with the most self and the most total time.

    Each list contains (name, share of the profile's whole time) pairs.
    pyinstrument adds "[self]" child frames, skipped here: a function's self
    time is its time minus its calls' time. Total time counts a function
    once per call path, so recursion counts twice.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    root = session.root_frame()
    stack = [root]
    while stack:
        frame = stack.pop()
        if frame.function == "[self]":
            continue
        calls = [child for child in frame.children if child.function != "[self]"]
        own[_name(frame)] += frame.time - sum(child.time for child in calls)
        total[_name(frame)] += frame.time
        stack.extend(calls)
    whole = root.time or 1.0
    return (
        [(name, seconds / whole) for name, seconds in own.most_common(limit)],
        [(name, seconds / whole) for name, seconds in total.most_common(limit)],
    )


def profile_time(run: Callable[[], Any], seconds: float, limit: int) -> None:
    """Run repeatedly for about ``seconds`` under pyinstrument; print the top."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    deadline = time.monotonic() + seconds
    profiler.start()
    runs = 0
    while time.monotonic() < deadline:
        run()
        runs += 1
    session = profiler.stop()
    print(f"{runs} runs in {session.duration:.2f} s, CPU {session.cpu_time:.2f} s")
    by_self, by_total = top_functions(session, limit)
    for title, pairs in (("self time", by_self), ("total time", by_total)):
        print(f"-- top {limit} by {title}")
        for name, share in pairs:
            print(f"{share * 100:5.1f}%  {name}")


def profile_memory(run: Callable[[], Any], limit: int) -> None:
    """Run once under tracemalloc; print the allocation sites of the peak."""
    tracemalloc.start(1)
    run()
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    print(f"traced peak {peak / 2**20:.1f} MiB, "
          f"still allocated {current / 2**20:.1f} MiB")
    print("(the sites below are those still allocated after the run)")
    for stat in snapshot.statistics("lineno")[:limit]:
        print(f"{stat.size / 2**20:7.1f} MiB  {stat.traceback}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Profile one scenario's workload; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("scenario", choices=sorted(WORKLOADS))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    size, delays, proxied = WORKLOADS[args.scenario]
    with contextlib.closing(bench_cluster.start_cluster()) as cluster:
        bench_cluster.set_delays(cluster, delays)
        peer = RedisClusterPeer(bench_cluster.target(cluster, not proxied), True)
        try:
            run = workload(args.scenario, peer, size)
            if args.scenario == "S10":
                profile_memory(run, args.top)
            else:
                profile_time(run, args.seconds, args.top)
        finally:
            peer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
