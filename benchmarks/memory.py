"""S10: peak memory of one very large pipeline, one child process per client.

The child imports its client, connects and runs one SET, then reads
``ru_maxrss`` as its baseline. It queues and executes the whole pipeline and
reports the rise of ``ru_maxrss`` (the peak resident size, KiB on Linux).
The limit child packs every command with hiredis, writes them on raw sockets
and counts the replies. Run a child with
``python -m benchmarks.memory PEER COUNT HOST:PORT [REMAP_JSON]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from typing import Any, Optional, Sequence

from benchmarks import cluster as bench_cluster
from benchmarks.cluster import Target
from benchmarks.context import Bench
from benchmarks.results import Result

LIMIT = "limit"
CHILD_TIMEOUT = 900.0

# Linux keeps ru_maxrss across execve, and a forked child starts with its
# parent's resident size, so a child exec'd straight from this process would
# report this process's peak. The shell below is forked from this process,
# and then forks the measured Python itself (it cannot exec it, because a
# command follows), so that Python starts from the shell's small size.
_LAUNCH = ["sh", "-c", '"$@"; exit $?', "sh"]


def peak_kib() -> int:
    """Return this process's peak resident set size so far, in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_peer(name: str, target: Target) -> Any:
    """Connect and return the peer called ``name``, in a child process."""
    from benchmarks import peers

    factories = {
        peers.RC_THREADS_ON: lambda: peers.RedisClusterPeer(target, True),
        peers.RC_THREADS_OFF: lambda: peers.RedisClusterPeer(target, False),
        peers.REDIS_PY: lambda: peers.RedisPyPeer(target),
        peers.GLIDE: lambda: peers.GlidePeer(target),
    }
    return factories[name]()


def measure_child(name: str, count: int, target: Target) -> dict[str, int]:
    """Run ``count`` SETs as one pipeline; return the baseline and the peak rise."""
    keys = [f"bench:S10:{number}" for number in range(count)]
    if name == LIMIT:
        return _measure_raw(keys, target)
    peer = child_peer(name, target)
    try:
        peer.set_pipeline(keys[:1], b"v")
        baseline = peak_kib()
        replies = peer.set_pipeline(keys, b"v")
        rise = peak_kib() - baseline
        if len(replies) != count:
            raise AssertionError(f"{name}: {len(replies)} replies for {count}")
    finally:
        peer.close()
    return {"baseline_kib": baseline, "rise_kib": rise}


def _measure_raw(keys: list[str], target: Target) -> dict[str, int]:
    from benchmarks import peers
    from benchmarks.limits import RawPipeline
    from benchmarks.scenarios import group_commands, owner_map

    router = peers.RedisClusterPeer(target, use_threads=False)
    owners = owner_map({peers.RC_THREADS_ON: router}, keys)
    router.close()
    grouped = group_commands(owners, [("SET", key, b"v") for key in keys])
    baseline = peak_kib()
    raw = RawPipeline(grouped)
    try:
        if raw.run():
            raise AssertionError("the raw limit got error replies")
    finally:
        raw.close()
    return {"baseline_kib": baseline, "rise_kib": peak_kib() - baseline}


def _spawn(name: str, count: int, target: Target) -> dict[str, int]:
    remap = json.dumps({str(k): v for k, v in target.remap.items()})
    command = [*_LAUNCH, sys.executable, "-m", "benchmarks.memory", name, str(count),
               f"{target.host}:{target.port}", remap]
    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory child for {name} failed:\n{done.stderr[-2000:]}")
    figures: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run_memory(bench: Bench) -> Result:
    """S10: the peak memory rise of one large pipeline, per peer, in MiB."""
    count = bench.plan.sizes["S10"]
    bench_cluster.set_delays(bench.cluster, (0.0,))
    target = bench_cluster.target(bench.cluster, direct=True)
    values: dict[str, Optional[float]] = {}
    details: dict[str, str] = {}
    for name, factory in bench.factories.items():
        if factory is None:
            values[name] = None
            continue
        figures = _spawn(name, count, target)
        values[name] = figures["rise_kib"] / 1024
        details[name] = f"baseline {figures['baseline_kib'] / 1024:.1f} MiB"
    limit = _spawn(LIMIT, count, target)["rise_kib"] / 1024
    return Result("S10", f"peak memory, {count:,}-command pipeline", "MiB",
                  values, limit, "raw sockets", details=details)


def main(argv: Sequence[str]) -> int:
    """Run one child measurement and print its figures as JSON."""
    name, count, address = argv[0], int(argv[1]), argv[2]
    host, port = address.rsplit(":", 1)
    remap = {int(k): v for k, v in json.loads(argv[3]).items()} if argv[3:] else {}
    figures = measure_child(name, count, Target(host, int(port), remap))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
