"""Node lookup and cluster-wide helpers, with names from redis-py's cluster client.

Code written for ``redis.cluster.RedisCluster`` or redis-py-cluster calls
these names (``get_node``, ``get_primaries``, ``keyslot``, ``scan_iter`` over
every master, ``cluster_keyslot``), so ``RedisCluster`` provides them with the
same meaning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

from .topology import REPLICA, ClusterNode

if TYPE_CHECKING:
    from .protocols import ClusterClient


class ClusterNodeCommands:
    """Node lookup and commands that address one node or every master."""

    def keyslot(self: ClusterClient, key: Any) -> int:
        """Return the hash slot of key, as CLUSTER KEYSLOT computes it."""
        return self.router.slot_for_key(key)

    def get_nodes(self: ClusterClient) -> list[ClusterNode]:
        """Return every node of the cluster layout."""
        return list(self.topology.table.nodes)

    def get_primaries(self: ClusterClient) -> list[ClusterNode]:
        """Return every master."""
        return self.topology.table.primary_nodes()

    def get_replicas(self: ClusterClient) -> list[ClusterNode]:
        """Return every replica."""
        return [n for n in self.topology.table.nodes if n.role == REPLICA]

    def get_node(
        self: ClusterClient,
        host: Optional[str] = None,
        port: Optional[int] = None,
        node_name: Optional[str] = None,
    ) -> Optional[ClusterNode]:
        """Return the known node at host:port (or ``node_name``), else None."""
        if node_name is not None:
            host, _, port_text = node_name.rpartition(":")
            port = int(port_text)
        for node in self.topology.nodes():
            if node.host == host and node.port == port:
                return node
        return None

    def get_node_from_key(
        self: ClusterClient, key: Any, replica: bool = False
    ) -> ClusterNode:
        """Return the master serving key's slot, or with ``replica=True`` a
        replica of it when the slot has one."""
        table = self.topology.table
        slot = self.keyslot(key)
        if replica and table.replicas[slot]:
            return table.replicas[slot][0]
        return table.primary_for(slot)

    def get_default_node(self: ClusterClient) -> ClusterNode:
        """Return the master that runs keyless commands."""
        return self.topology.default_node()

    def refresh_topology(self: ClusterClient) -> None:
        """Re-read the cluster layout now."""
        self.topology.refresh()

    def scan_iter(
        self: ClusterClient,
        match: Any = None,
        count: Optional[int] = None,
        _type: Optional[str] = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Yield every matching key of every master, one master at a time.

        Each master is scanned with its own cursor until it returns 0.
        ``target_nodes`` limits the scan to the nodes given.
        """
        targets = kwargs.pop("target_nodes", None)
        nodes = self.get_primaries() if targets is None else self.resolve(targets)
        for node in nodes:
            cursor: Any = 0
            while True:
                cursor, keys = self.scan(
                    cursor, match=match, count=count, _type=_type,
                    target_nodes=node, **kwargs,
                )
                yield from keys
                if int(cursor) == 0:
                    break

    def cluster_keyslot(self: ClusterClient, key: Any) -> int:
        """Return the server's CLUSTER KEYSLOT of key."""
        return int(self.execute_command("CLUSTER KEYSLOT", key))

    def cluster_info(self: ClusterClient, target_nodes: Any = None) -> Any:
        """Return CLUSTER INFO of the default node, or of target_nodes."""
        return self._keyless("CLUSTER INFO", target_nodes)

    def cluster_nodes(self: ClusterClient) -> Any:
        """Return CLUSTER NODES of the default node."""
        return self.execute_command("CLUSTER NODES")

    def cluster_slots(self: ClusterClient, target_nodes: Any = None) -> Any:
        """Return CLUSTER SLOTS of the default node, or of target_nodes."""
        return self._keyless("CLUSTER SLOTS", target_nodes)

    def cluster_countkeysinslot(self: ClusterClient, slot: int) -> int:
        """Return the number of keys that the master of slot stores in it."""
        node = self.topology.table.primary_for(slot)
        reply = self.execute_command(
            "CLUSTER COUNTKEYSINSLOT", slot, target_nodes=node
        )
        return int(reply)

    def _keyless(self: ClusterClient, command: str, target_nodes: Any) -> Any:
        if target_nodes is None:
            return self.execute_command(command)
        return self.execute_command(command, target_nodes=target_nodes)
