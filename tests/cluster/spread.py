"""Pick keys that land on every master, so a test touches every node."""

from __future__ import annotations

from rediscluster import RedisCluster

_SEARCH_LIMIT = 10_000


def spread_keys(rc: RedisCluster, prefix: str, per_master: int = 3) -> list[str]:
    """Return per_master keys starting with prefix for each master of rc."""
    needed = per_master * len(rc.get_primaries())
    counts: dict[str, int] = {}
    keys: list[str] = []
    for number in range(_SEARCH_LIMIT):
        key = f"{prefix}{number}"
        owner = rc.topology.table.primary_for(rc.keyslot(key)).name
        if counts.get(owner, 0) < per_master:
            counts[owner] = counts.get(owner, 0) + 1
            keys.append(key)
            if len(keys) == needed:
                return keys
    raise AssertionError(f"no {needed} keys with prefix {prefix!r} found")
