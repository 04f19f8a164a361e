"""Multi-key commands whose keys span hash slots, split per slot.

Redis Cluster rejects a command whose keys hash to different slots. For
MGET, MSET, DEL, UNLINK, EXISTS and TOUCH the client sends one command per
slot through a pipeline, so node batches still run concurrently. It then puts
the replies back in the caller's key order (MGET) or adds them up (the
counting commands). Keys of one slot still go out as a
single command. The split commands are not atomic across slots; MSETNX,
whose all-or-nothing promise cannot hold across nodes, raises instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from redis.commands.helpers import list_or_args
from redis.exceptions import DataError

from .exceptions import CrossSlotError

if TYPE_CHECKING:
    from .protocols import ClusterClient


def group_by_slot(
    client: ClusterClient, keys: Iterable[Any]
) -> dict[int, list[int]]:
    """Return key positions grouped by hash slot, in first-seen slot order."""
    groups: dict[int, list[int]] = {}
    slot_for_key = client.router.slot_for_key
    for position, key in enumerate(keys):
        groups.setdefault(slot_for_key(key), []).append(position)
    return groups


class MultiKeyCommands:
    """Slot-splitting versions of redis-py's multi-key command methods."""

    def mget(self: ClusterClient, keys: Any, *args: Any) -> list[Any]:
        """Return the values of keys, in order, from any number of slots."""
        names = list_or_args(keys, args)
        if not names:
            raise DataError("mget needs at least one key")
        groups = group_by_slot(self, names)
        if len(groups) == 1:
            return list(self.execute_command("MGET", *names))

        pipe = self.pipeline()
        for slot, positions in groups.items():
            pipe.queue_routed(
                "MGET", ("MGET", *(names[p] for p in positions)), {}, slot
            )
        values: list[Any] = [None] * len(names)
        for positions, reply in zip(groups.values(), pipe.execute()):
            for position, value in zip(positions, reply):
                values[position] = value
        return values

    def mset(self: ClusterClient, mapping: Mapping[Any, Any]) -> bool:
        """Set every key of mapping; not atomic when keys span slots."""
        items = list(mapping.items())
        if not items:
            raise DataError(
                "mset needs at least one key-value pair; got an empty mapping"
            )
        groups = group_by_slot(self, (key for key, _ in items))
        if len(groups) == 1:
            return bool(self.execute_command("MSET", *_flatten(items)))

        pipe = self.pipeline()
        for slot, positions in groups.items():
            flat = _flatten(items[p] for p in positions)
            pipe.queue_routed("MSET", ("MSET", *flat), {}, slot)
        return all(pipe.execute())

    def msetnx(self: ClusterClient, mapping: Mapping[Any, Any]) -> bool:
        """Set every key of mapping only if none exists; keys must share a slot."""
        items = list(mapping.items())
        if not items:
            raise DataError(
                "msetnx needs at least one key-value pair; got an empty mapping"
            )
        groups = group_by_slot(self, (key for key, _ in items))
        if len(groups) > 1:
            raise CrossSlotError(
                f"msetnx keys span {len(groups)} hash slots, and its "
                f"all-or-nothing promise cannot hold across nodes; give the "
                f"keys one hash tag such as {{user1}}"
            )
        return bool(self.execute_command("MSETNX", *_flatten(items)))

    def delete(self: ClusterClient, *names: Any) -> int:
        """Delete keys from any number of slots; return how many existed."""
        return _count(self, "DEL", names)

    def unlink(self: ClusterClient, *names: Any) -> int:
        """Unlink keys from any number of slots; return how many existed."""
        return _count(self, "UNLINK", names)

    def exists(self: ClusterClient, *names: Any) -> int:
        """Return how many of the keys exist, counting repeats."""
        return _count(self, "EXISTS", names)

    def touch(self: ClusterClient, *names: Any) -> int:
        """Touch keys from any number of slots; return how many existed."""
        return _count(self, "TOUCH", names)


def _flatten(items: Iterable[tuple[Any, Any]]) -> list[Any]:
    flat: list[Any] = []
    for key, value in items:
        flat.append(key)
        flat.append(value)
    return flat


def _count(client: ClusterClient, command: str, names: tuple[Any, ...]) -> int:
    keys = list(names)
    if not keys:
        raise DataError(f"{command} needs at least one key")
    groups = group_by_slot(client, keys)
    if len(groups) == 1:
        return int(client.execute_command(command, *keys))

    pipe = client.pipeline()
    for slot, positions in groups.items():
        pipe.queue_routed(command, (command, *(keys[p] for p in positions)), {}, slot)
    return sum(int(reply) for reply in pipe.execute())
