"""A pipeline of a million commands: right results, bounded memory."""

from __future__ import annotations

import resource

import pytest

from rediscluster import RedisCluster

COMMANDS = 1_000_000
KEYS = 1000


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow
def test_million_commands(rc: RedisCluster) -> None:
    before = peak_rss_mib()
    with rc.pipeline() as pipe:
        for number in range(COMMANDS):
            pipe.incr(f"big:{number % KEYS}")
        results = pipe.execute()
    after = peak_rss_mib()
    print(f"peak RSS {before:.0f} MiB before, {after:.0f} MiB after")
    assert results == [number // KEYS + 1 for number in range(COMMANDS)]
    # Each queued command costs a few hundred bytes; a copy per node or per
    # round on top of that would show as several GiB.
    assert after - before < 1000
