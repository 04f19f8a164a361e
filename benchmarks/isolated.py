"""S7 with each client in a child process of its own, timed in turns.

A single GET took about 80 us on the benchmark machine, nearly all of it
spent waiting for the server and for the client's process to wake up. With
every client in the benchmark's own process, that wait depended on which
other clients were loaded there. The direct ``redis.Redis`` limit took
75-88 ms per 1,000 GETs in five runs with valkey-glide-sync loaded, and
95 ms in one run without it. rediscluster took 83-87 ms in all six.

Here each client, and the limit, runs in a child process that holds only
that client. The parent takes turns as ``timing.median_seconds`` does, and
each child collects its garbage before each timed loop.

A child runs as ``python -m benchmarks.isolated PEER COUNT HOST:PORT REMAP``:
it connects, prints ``ready``, then replies to each ``run`` line on its input
with the seconds that COUNT GETs took, until its input ends.
"""

from __future__ import annotations

import contextlib
import gc
import json
import subprocess
import sys
import time
from typing import IO, Sequence

from benchmarks.cluster import Target
from benchmarks.timing import Action, median_reported

LIMIT = "limit"
READY = "ready"
CHILD_TIMEOUT = 60.0


class Child:
    """One child process that times GET loops of one client on request."""

    def __init__(self, name: str, count: int, target: Target) -> None:
        self.name = name
        remap = json.dumps({str(k): v for k, v in target.remap.items()})
        command = [sys.executable, "-m", "benchmarks.isolated", name, str(count),
                   f"{target.host}:{target.port}", remap]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        first = self._read_line()
        if first != READY:
            self.close()
            raise RuntimeError(
                f"the {name} benchmark child printed {first!r} instead of "
                f"{READY!r}; its error output above says why"
            )

    def time_once(self) -> float:
        """Ask the child for one timed loop; return its seconds."""
        stdin = self._stream(self._process.stdin)
        stdin.write("run\n")
        stdin.flush()
        return float(self._read_line())

    def close(self) -> None:
        """End the child's input and wait for it to exit."""
        with contextlib.suppress(OSError):
            self._stream(self._process.stdin).close()
        try:
            self._process.wait(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read_line(self) -> str:
        line = self._stream(self._process.stdout).readline()
        if not line:
            code = self._process.wait(timeout=CHILD_TIMEOUT)
            raise RuntimeError(f"the {self.name} child exited with code {code}")
        return line.strip()

    def _stream(self, stream: "IO[str] | None") -> "IO[str]":
        if stream is None:
            raise RuntimeError(f"the {self.name} child has no pipe")
        return stream


def median_in_children(
    names: Sequence[str], count: int, target: Target, repeats: int
) -> dict[str, float]:
    """Time ``count`` GETs per loop for each named client and the limit, each
    in its own child, in turns; return the median seconds per name."""
    with contextlib.ExitStack() as stack:
        children = {}
        for name in [*names, LIMIT]:
            child = Child(name, count, target)
            stack.callback(child.close)
            children[name] = child
        return median_reported(
            {name: child.time_once for name, child in children.items()}, repeats
        )


def _child_action(name: str, count: int, target: Target,
                  stack: contextlib.ExitStack) -> Action:
    from benchmarks import peers
    from benchmarks.memory import child_peer
    from benchmarks.scenarios import _direct_gets, _get_each, owner_map, scenario_keys

    keys = scenario_keys("S7", count)
    if name != LIMIT:
        peer = child_peer(name, target)
        stack.callback(peer.close)
        return lambda: _get_each(peer.get, keys)
    router = peers.RedisClusterPeer(target, use_threads=False)
    try:
        owners = owner_map({peers.RC_THREADS_ON: router}, keys)
    finally:
        router.close()
    return _direct_gets(owners, keys, stack)


def main(argv: Sequence[str]) -> int:
    """Serve timed GET loops for one client until the input ends."""
    name, count, address = argv[0], int(argv[1]), argv[2]
    host, port = address.rsplit(":", 1)
    remap = {int(k): v for k, v in json.loads(argv[3]).items()} if argv[3:] else {}
    with contextlib.ExitStack() as stack:
        action = _child_action(name, count, Target(host, int(port), remap), stack)
        print(READY, flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                raise ValueError(
                    f"invalid request {line!r}: the parent sends only 'run'"
                )
            gc.collect()
            started = time.perf_counter()
            action()
            print(time.perf_counter() - started, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
