"""Read a live cluster's state from its nodes and decide whether it is ready for use.

The harness considers a cluster ready when all of these hold:

* every running node reports ``cluster_state:ok`` and lists every node in CLUSTER
  NODES, with no running node in handshake or failure state;
* all running nodes return the same slot map, covering all 16384 slots;
* every running replica has its replication link up and is listed under its master
  in CLUSTER SLOTS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from rediscluster.testing.node import ServerNode

__all__ = [
    "SLOT_COUNT",
    "NodeEntry",
    "SlotRange",
    "read_cluster_info",
    "read_cluster_nodes",
    "read_slot_map",
    "readiness_problem",
    "run_command",
    "slot_ranges",
]

SLOT_COUNT = 16384
_UNSETTLED_FLAGS = frozenset({"handshake", "noaddr", "fail", "fail?"})


@dataclass(frozen=True)
class NodeEntry:
    """One line of CLUSTER NODES output."""

    node_id: str
    host: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    link_state: str

    @property
    def is_replica(self) -> bool:
        """Whether the node is flagged as a replica (``slave``)."""
        return "slave" in self.flags


@dataclass(frozen=True)
class SlotRange:
    """One entry of CLUSTER SLOTS, reduced to node ids so nodes can be compared."""

    start: int
    end: int
    master_id: str
    replica_ids: frozenset[str]


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Split the 16384 slots into ``masters`` contiguous, near-equal ranges."""
    if masters < 1:
        raise ValueError(f"masters must be >= 1, got {masters!r}")
    bounds = [index * SLOT_COUNT // masters for index in range(masters + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(masters)]


def run_command(client: redis.Redis, *args: str | int) -> Any:
    """Send a raw command and return the reply without redis-py's reply parsing.

    Arguments go separately (``"CLUSTER", "NODES"``), so redis-py finds no reply
    callback, which it keys by the first argument alone.
    """
    return client.execute_command(*args)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_cluster_info(client: redis.Redis) -> dict[str, str]:
    """Return CLUSTER INFO as a dict of strings."""
    raw = _text(run_command(client, "CLUSTER", "INFO"))
    info: dict[str, str] = {}
    for line in raw.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def read_cluster_nodes(client: redis.Redis) -> list[NodeEntry]:
    """Return the parsed lines of CLUSTER NODES."""
    raw = _text(run_command(client, "CLUSTER", "NODES"))
    entries: list[NodeEntry] = []
    for line in raw.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        # Address format: ip:port@busport, with ",hostname" appended on Redis 7.
        address = fields[1].split(",")[0].split("@")[0]
        host, _, port = address.rpartition(":")
        entries.append(
            NodeEntry(
                node_id=fields[0],
                host=host,
                port=int(port) if port.isdigit() else 0,
                flags=frozenset(fields[2].split(",")),
                master_id=None if fields[3] == "-" else fields[3],
                link_state=fields[7],
            )
        )
    return entries


def read_slot_map(client: redis.Redis) -> tuple[SlotRange, ...]:
    """Return CLUSTER SLOTS as sorted ranges of node ids."""
    raw = run_command(client, "CLUSTER", "SLOTS")
    ranges: list[SlotRange] = []
    for entry in raw:
        start, end, master, *replicas = entry
        ranges.append(
            SlotRange(
                start=int(start),
                end=int(end),
                master_id=_text(master[2]),
                replica_ids=frozenset(_text(replica[2]) for replica in replicas),
            )
        )
    return tuple(sorted(ranges, key=lambda item: item.start))


def _coverage_problem(slot_map: Sequence[SlotRange]) -> str | None:
    expected = 0
    for item in slot_map:
        if item.start != expected:
            return f"slots {expected}-{item.start - 1} are not assigned"
        expected = item.end + 1
    if expected != SLOT_COUNT:
        return f"slots {expected}-{SLOT_COUNT - 1} are not assigned"
    return None


def _node_problem(
    node: ServerNode, live_ids: set[str], known_nodes: int
) -> tuple[str | None, tuple[SlotRange, ...]]:
    """Check one node; return (problem or None, the node's slot map)."""
    with node.client(socket_timeout=2.0, socket_connect_timeout=1.0) as client:
        info = read_cluster_info(client)
        if info.get("cluster_state") != "ok":
            return f"{node!r} reports cluster_state:{info.get('cluster_state')}", ()
        if int(info.get("cluster_known_nodes", 0)) != known_nodes:
            known = info.get("cluster_known_nodes")
            return f"{node!r} knows {known} of {known_nodes} nodes", ()
        for entry in read_cluster_nodes(client):
            if entry.node_id not in live_ids:
                continue
            unsettled = entry.flags & _UNSETTLED_FLAGS
            if unsettled or entry.link_state != "connected":
                state = ",".join(sorted(entry.flags))
                return (
                    f"{node!r} sees {entry.node_id[:8]} as {state} "
                    f"({entry.link_state})"
                ), ()
        if node.role == "replica":
            replication = client.info("replication")
            if replication.get("master_link_status") != "up":
                return f"{node!r} replication link is not up", ()
        return None, read_slot_map(client)


def readiness_problem(nodes: Sequence[ServerNode]) -> str | None:
    """Return why the running ``nodes`` do not form a ready cluster, or None.

    Roles must be current (see ``LocalCluster.refresh_roles``). Nodes that are not
    running are skipped, but still count as known nodes.
    """
    live = [node for node in nodes if node.alive]
    if not live:
        return "no node is running"
    live_ids = {node.node_id for node in live}
    maps: list[tuple[SlotRange, ...]] = []
    for node in live:
        try:
            problem, slot_map = _node_problem(node, live_ids, len(nodes))
        except (
            redis.ConnectionError,
            redis.TimeoutError,
            redis.ResponseError,
        ) as error:
            return f"{node!r} failed to answer: {error}"
        if problem is not None:
            return problem
        maps.append(slot_map)
    if any(slot_map != maps[0] for slot_map in maps[1:]):
        return "nodes disagree on the slot map"
    coverage = _coverage_problem(maps[0])
    if coverage is not None:
        return coverage
    listed = {replica for item in maps[0] for replica in item.replica_ids}
    for node in live:
        if node.role == "replica" and node.node_id not in listed:
            return f"{node!r} is not listed in CLUSTER SLOTS"
    return None
