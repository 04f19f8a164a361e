"""Choosing a node for read-only commands when reads may go to replicas.

Strategies:

- ``round_robin``: the slot's replicas in turn; the master only when no
  replica is usable.
- ``random_replica``: a random usable replica of the slot, else the master.
- ``primaries_and_replicas``: the master and the replicas in turn.

A replica whose connection failed is skipped for ``down_seconds``, so a dead
replica costs one failed attempt, not one per command.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from typing import Optional

from .topology import ClusterNode, SlotTable

logger = logging.getLogger(__name__)

ROUND_ROBIN = "round_robin"
RANDOM_REPLICA = "random_replica"
PRIMARIES_AND_REPLICAS = "primaries_and_replicas"
STRATEGIES = (ROUND_ROBIN, RANDOM_REPLICA, PRIMARIES_AND_REPLICAS)


class ReplicaSelector:
    """Picks the node that serves a read-only command for a slot."""

    def __init__(self, strategy: str = ROUND_ROBIN, down_seconds: float = 5.0) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(
                f"invalid load_balancing_strategy {strategy!r}: use one of "
                f"{', '.join(repr(s) for s in STRATEGIES)}"
            )
        self.strategy = strategy
        self.down_seconds = down_seconds
        self._turn = itertools.count()
        self._down_until: dict[str, float] = {}

    def node_for(self, table: SlotTable, slot: int) -> ClusterNode:
        """Return the node that should serve a read of slot."""
        primary = table.primary_for(slot)
        replicas = [n for n in table.replicas[slot] if self.is_usable(n)]
        if self.strategy == PRIMARIES_AND_REPLICAS:
            candidates = [primary, *replicas]
            return candidates[next(self._turn) % len(candidates)]
        if not replicas:
            return primary
        if self.strategy == RANDOM_REPLICA:
            return random.choice(replicas)
        return replicas[next(self._turn) % len(replicas)]

    def is_usable(self, node: ClusterNode) -> bool:
        """Tell whether node has not failed within the last down_seconds."""
        until = self._down_until.get(node.name)
        if until is None:
            return True
        if time.monotonic() >= until:
            self._down_until.pop(node.name, None)
            return True
        return False

    def mark_down(self, node: ClusterNode, error: Exception) -> None:
        """Skip node for down_seconds after a connection failure."""
        if node.name not in self._down_until:
            logger.warning(
                "replica %s failed (%s); reading from other nodes for %.1f s",
                node.name, error, self.down_seconds,
            )
        self._down_until[node.name] = time.monotonic() + self.down_seconds

    def preferred(self, slot: int, table: SlotTable) -> Optional[ClusterNode]:
        """Return a replica for slot, or None when the master should serve."""
        node = self.node_for(table, slot)
        return None if node is table.primaries[slot] else node
