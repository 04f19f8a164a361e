"""The demo behind ``make demo``: pipeline latency with threads off, on, and gevent.

It starts a LocalCluster (3 masters, 3 replicas) with a FaultProxy in front of
every node, or uses an existing cluster given with ``--cluster HOST:PORT``. It
runs the same workload in each mode, checks every reply, and prints the median
and 90th percentile time per pipeline next to one PING round trip to a node.
The gevent mode runs in a child process that calls ``gevent.monkey.patch_all()``
before it imports rediscluster, as gevent applications do.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any, Optional, Sequence

import redis
from redis.connection import parse_url
from redis.exceptions import RedisError

from .client import RedisCluster

PIPELINE_SIZE = 30


def build_pipeline(pipe: Any, prefix: str) -> list[Any]:
    """Queue 30 mixed commands on keys spread over all nodes; return the
    replies they must produce."""
    expected: list[Any] = []
    for j in range(10):
        pipe.set(f"{prefix}:s{j}", j)
        expected.append(True)
    for j in range(10):
        pipe.get(f"{prefix}:s{j}")
        expected.append(str(j).encode())
    for j in range(5):
        pipe.incrby(f"{prefix}:c{j}", j + 1)
        expected.append(j + 1)
    for j in range(5):
        pipe.hset(f"{prefix}:h{j}", "f", j)
        expected.append(1)
    return expected


def run_workload(
    client: RedisCluster,
    pipelines: int,
    use_threads: bool,
    warmup: int = 5,
    ping: Optional[redis.Redis] = None,
) -> tuple[list[float], list[float]]:
    """Run pipelines of 30 commands; return seconds per pipeline and per PING.

    With ``ping``, one PING on that connection is timed before each pipeline,
    so both figures see the same load on the machine. Raises AssertionError
    when any reply differs from the expected one.
    """
    run = uuid.uuid4().hex[:8]
    timings = []
    pings = []
    for number in range(warmup + pipelines):
        if ping is not None:
            started = time.perf_counter()
            ping.ping()
            if number >= warmup:
                pings.append(time.perf_counter() - started)
        pipe = client.pipeline(use_threads=use_threads)
        expected = build_pipeline(pipe, f"demo:{run}:{number}")
        started = time.perf_counter()
        results = pipe.execute()
        elapsed = time.perf_counter() - started
        if results != expected:
            raise AssertionError(
                f"pipeline {number} returned {results!r}, expected {expected!r}"
            )
        if number >= warmup:
            timings.append(elapsed)
    return timings, pings


def ping_client(address: str, host: str, port: int) -> redis.Redis:
    """Return a plain connection to host:port with the credentials of address."""
    if not address.startswith(("redis://", "rediss://")):
        return redis.Redis(host=host, port=port)
    settings = parse_url(address)
    settings.update(host=host, port=port)
    return redis.Redis(connection_pool=redis.ConnectionPool(**settings))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the value below which ``fraction`` of values lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _gevent_timings(address: str, pipelines: int) -> list[float]:
    env = dict(os.environ, GEVENT_RESOLVER=os.environ.get("GEVENT_RESOLVER", "ares"))
    output = subprocess.run(
        [sys.executable, "-m", "rediscluster.demo_gevent", address, str(pipelines)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return [float(value) for value in json.loads(output.splitlines()[-1])]


def measure(address: str, pipelines: int, gevent: bool) -> list[dict[str, Any]]:
    """Run the workload in each mode; return one table row per mode.

    PING round trips to the first master are timed between the pipelines of
    the threads-off and threads-on runs, and their median is the reference
    for every mode.
    """
    client = _connect(address)
    primary = client.get_primaries()[0]
    ping = ping_client(address, primary.host, primary.port)
    pings: list[float] = []
    try:
        modes = []
        for mode, use_threads in (("threads off", False), ("threads on", True)):
            timings, mode_pings = run_workload(
                client, pipelines, use_threads=use_threads, ping=ping
            )
            modes.append((mode, timings))
            pings.extend(mode_pings)
    finally:
        ping.close()
        client.close()
    if gevent:
        modes.append(("threads on, gevent", _gevent_timings(address, pipelines)))
    rtt = statistics.median(pings)
    rows = []
    for mode, timings in modes:
        median = statistics.median(timings)
        rows.append(
            {
                "mode": mode,
                "median_ms": median * 1000,
                "p90_ms": percentile(timings, 0.9) * 1000,
                "ratio_to_ping": median / rtt,
                "ping_ms": rtt * 1000,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]], pipelines: int) -> None:
    """Print the figures of each mode as a fixed-width table."""
    print(
        f"{pipelines} pipelines of {PIPELINE_SIZE} commands each; one PING "
        f"round trip: {rows[0]['ping_ms']:.3f} ms"
    )
    print(f"{'mode':<22}{'median ms':>11}{'p90 ms':>9}{'x PING':>8}")
    for row in rows:
        print(
            f"{row['mode']:<22}{row['median_ms']:>11.3f}{row['p90_ms']:>9.3f}"
            f"{row['ratio_to_ping']:>8.2f}"
        )


def spread(address: str, keys: int = 10000) -> Counter[str]:
    """Write and read back keys; return how many landed on each master."""
    client = _connect(address)
    try:
        pipe = client.pipeline()
        for number in range(keys):
            pipe.set(f"demo:spread:{number}", number)
        pipe.execute()
        pipe = client.pipeline()
        for number in range(keys):
            pipe.get(f"demo:spread:{number}")
        values = pipe.execute()
        if values != [str(n).encode() for n in range(keys)]:
            raise AssertionError("a key read back a different value")
        return Counter(
            client.get_node_from_key(f"demo:spread:{n}").name for n in range(keys)
        )
    finally:
        client.close()


def _connect(address: str) -> RedisCluster:
    """Return a client for ``host:port``, ``[ipv6]:port`` or a redis:// URL."""
    if address.startswith(("redis://", "rediss://")):
        return RedisCluster.from_url(address)
    return RedisCluster(startup_nodes=[address])


def remove_demo_keys(address: str) -> int:
    """Delete every key the demo wrote; return how many were deleted."""
    client = _connect(address)
    try:
        keys = list(client.scan_iter(match="demo:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        return len(keys)
    finally:
        client.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; return the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m rediscluster demo")
    parser.add_argument(
        "--cluster", metavar="HOST:PORT|URL",
        help="use this running cluster instead of starting a local one; a "
        "redis:// or rediss:// URL may carry a username and password. The "
        "demo writes demo:* keys there and deletes them at the end",
    )
    parser.add_argument(
        "--delay-ms", type=float, default=1.0,
        help="delay each local proxy adds in each direction, in milliseconds "
        "(default 1)",
    )
    parser.add_argument(
        "--pipelines", type=int, default=300,
        help="pipelines per mode (default 300)",
    )
    parser.add_argument(
        "--no-gevent", action="store_true", help="skip the gevent mode"
    )
    args = parser.parse_args(argv)
    if args.cluster:
        return _report(args.cluster, args)

    from .testing import LocalCluster

    with LocalCluster(masters=3, replicas=1, proxy_delay=args.delay_ms / 1000) as local:
        node = local.startup_nodes[0]
        print(f"started {local!r}")
        return _report(f"{node['host']}:{node['port']}", args)


def _report(address: str, args: argparse.Namespace) -> int:
    try:
        counts = spread(address)
        print("10000 keys written and read back; keys per master (the ports")
        print("the nodes announce, which are the proxies' ports when proxied):")
        for name, count in sorted(counts.items()):
            print(f"  {name}  {count}")
        rows = measure(address, args.pipelines, not args.no_gevent)
        print_table(rows, args.pipelines)
    except RedisError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        try:
            removed = remove_demo_keys(address)
            print(f"removed the {removed} demo:* keys the demo wrote")
        except RedisError as exc:
            print(f"could not remove the demo:* keys: {exc}", file=sys.stderr)
    return 0
