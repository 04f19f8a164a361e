"""Grouping a pipeline's commands per node while they are queued.

Grouping at ``execute`` time puts work between the call and the first write,
and keeps a bytes object per command plus a joined copy per node. A
``QueuePlan`` instead assigns each command to its node from the slot map
when the command is queued, and appends the command's wire bytes to that
node's buffer. The plan is valid only for the slot map it was built from:
``execute`` uses it when ``Topology.table`` is still the same object (every
change to the map replaces the object) and otherwise groups the commands
itself.
"""

from __future__ import annotations

from array import array
from typing import Optional

from .batch import Command, NodeBatch, WireContext
from .topology import ClusterNode, SlotTable


class _NodeQueue:
    """The queued commands of one node: positions, commands and wire bytes."""

    __slots__ = ("node", "indices", "commands", "payload")

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        # Positions in a typed array: 8 bytes each instead of an int object.
        self.indices = array("q")
        self.commands: list[Command] = []
        self.payload = bytearray()


class QueuePlan:
    """Per-node batches of a pipeline's queue, built for one slot map."""

    __slots__ = ("table", "count", "_queues")

    def __init__(self, table: SlotTable) -> None:
        self.table = table
        self.count = 0
        self._queues: dict[int, _NodeQueue] = {}

    def add(self, node: ClusterNode, command: Command, packed: bytes) -> None:
        """Append the next queued command, which goes to node."""
        queue = self._queues.get(id(node))
        if queue is None:
            queue = self._queues[id(node)] = _NodeQueue(node)
        queue.indices.append(self.count)
        queue.commands.append(command)
        queue.payload += packed
        self.count += 1

    def batches(self, context: Optional[WireContext]) -> list[NodeBatch]:
        """Return one packed batch per node, ordered by node address."""
        batches = [
            NodeBatch(
                queue.node,
                context,
                indices=queue.indices,
                commands=queue.commands,
                _payload=[queue.payload],
            )
            for queue in self._queues.values()
        ]
        # The same order as execute-time grouping, for the same reason: two
        # pipelines never each hold a connection the other waits for.
        batches.sort(key=lambda batch: (batch.node.host, batch.node.port))
        return batches
