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

from .batch import NodeBatch, QueuedCommand, WireContext, options_of
from .replies import changes_reading
from .topology import ClusterNode, SlotTable


class NodeQueue:
    """The queued commands of one node: positions, commands and wire bytes.

    ``read_options`` is set once a command with an option that changes how
    its reply is read (see ``READ_OPTIONS``) joins the queue.
    """

    __slots__ = ("node", "indices", "commands", "payload", "read_options")

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        # Positions in a typed array: 8 bytes each instead of an int object.
        self.indices = array("q")
        self.commands: list[QueuedCommand] = []
        self.payload = bytearray()
        self.read_options = False


class QueuePlan:
    """Per-node batches of a pipeline's queue, built for one slot map.

    Callers on the hot path look up ``queues`` by node themselves and
    call ``open_queue`` for a node seen first; ``add`` does both.
    """

    __slots__ = ("table", "primaries", "queues")

    def __init__(self, table: SlotTable) -> None:
        self.table = table
        self.primaries = table.primaries
        # Keyed by the node itself: ClusterNode hashes by identity.
        self.queues: dict[ClusterNode, NodeQueue] = {}

    def open_queue(self, node: ClusterNode) -> NodeQueue:
        """Return node's queue, new if the plan has none yet."""
        queue = self.queues.get(node)
        if queue is None:
            queue = self.queues[node] = NodeQueue(node)
        return queue

    def add(
        self, node: ClusterNode, position: int, command: QueuedCommand, packed: bytes
    ) -> None:
        """Append the command at queue position ``position``, which goes to node."""
        queue = self.open_queue(node)
        queue.indices.append(position)
        queue.commands.append(command)
        queue.payload += packed
        if changes_reading(options_of(command)):
            queue.read_options = True

    def count(self) -> int:
        """Return the number of commands in the plan."""
        return sum(len(queue.indices) for queue in self.queues.values())

    def batches(self, context: Optional[WireContext]) -> list[NodeBatch]:
        """Return one packed batch per node, ordered by node address."""
        batches = [
            NodeBatch(
                queue.node,
                context,
                indices=queue.indices,
                commands=queue.commands,
                plain_reads=not queue.read_options,
                _payload=[queue.payload],
            )
            for queue in self.queues.values()
        ]
        # The same order as execute-time grouping, for the same reason: two
        # pipelines never each hold a connection the other waits for.
        batches.sort(key=lambda batch: (batch.node.host, batch.node.port))
        return batches
