"""The cluster layout: which node serves which hash slot.

``Topology`` keeps the node table and an immutable ``SlotTable`` snapshot.
It reads the layout with CLUSTER SLOTS from the first node that replies,
updates one slot at a time on MOVED, and re-reads the whole layout after a
configurable number of MOVED replies or on request. Only one refresh
runs at a time; callers that failed while another thread refreshed reuse its
result instead of starting their own.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,
    InvalidResponse,
    ResponseError,
    TimeoutError,
)

from .exceptions import (
    NoReachableNodeError,
    NotClusterError,
    SlotNotCoveredError,
    TopologyError,
)
from .logs import limiter
from .pool import NodePool

logger = logging.getLogger(__name__)

SLOT_COUNT = 16384

Address = tuple[str, int]
AddressRemap = Callable[[Address], Address]
PoolFactory = Callable[[str, int, bool], NodePool]

PRIMARY = "primary"
REPLICA = "replica"


@dataclass(eq=False)
class ClusterNode:
    """One server of the cluster and its connection pool."""

    host: str
    port: int
    role: str
    pool: NodePool
    node_id: Optional[str] = None

    @property
    def name(self) -> str:
        """The node's address as ``host:port``."""
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<ClusterNode {self.name} {self.role}>"


@dataclass(frozen=True)
class SlotRange:
    """One entry of a CLUSTER SLOTS reply: a slot range and its servers."""

    start: int
    end: int
    primary: Address
    replicas: tuple[Address, ...]
    node_ids: tuple[Optional[str], ...] = ()


@dataclass(frozen=True)
class SlotTable:
    """An immutable snapshot of slot owners, indexed by slot number."""

    primaries: tuple[Optional[ClusterNode], ...]
    replicas: tuple[tuple[ClusterNode, ...], ...]
    nodes: tuple[ClusterNode, ...] = field(default=())

    def primary_for(self, slot: int) -> ClusterNode:
        """Return the master serving slot, or raise SlotNotCoveredError."""
        node = self.primaries[slot]
        if node is None:
            raise SlotNotCoveredError(
                f"hash slot {slot} has no master in the cluster layout; "
                f"check CLUSTER SLOTS on the servers"
            )
        return node

    def primary_nodes(self) -> list[ClusterNode]:
        """Return each master once, in slot order."""
        seen: dict[int, ClusterNode] = {}
        for node in self.primaries:
            if node is not None and id(node) not in seen:
                seen[id(node)] = node
        return list(seen.values())


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _address(entry: Sequence[Any], default_host: str) -> Address:
    host = _text(entry[0])
    # Redis 7 sends "" or "?" when a node has no known endpoint; the client
    # then reaches it at the address it asked.
    if host in ("", "?"):
        host = default_host
    port = int(entry[1])
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is outside 0-65535")
    return host, port


def _slot_range(entry: Sequence[Any], default_host: str) -> SlotRange:
    start, end = int(entry[0]), int(entry[1])
    if not 0 <= start <= end < SLOT_COUNT or len(entry) < 3:
        raise ValueError("needs slots 0-16383 in order and at least one server")
    servers = [_address(server, default_host) for server in entry[2:]]
    ids = tuple(
        _text(server[2]) if len(server) > 2 else None for server in entry[2:]
    )
    return SlotRange(start, end, servers[0], tuple(servers[1:]), ids)


def parse_cluster_slots(
    reply: Sequence[Any], default_host: str
) -> list[SlotRange]:
    """Turn a raw CLUSTER SLOTS reply (str or bytes) into slot ranges.

    Raises TopologyError, quoting the entry, for a reply of the wrong shape.
    """
    if not isinstance(reply, (list, tuple)):
        raise TopologyError(
            f"invalid CLUSTER SLOTS reply {reply!r}: expected a list of "
            f"[start, end, [host, port, id], ...] entries"
        )
    ranges = []
    for entry in reply:
        try:
            ranges.append(_slot_range(entry, default_host))
        except (TypeError, ValueError, IndexError) as exc:
            raise TopologyError(
                f"invalid CLUSTER SLOTS entry {entry!r} ({exc}): expected "
                f"[start, end, [host, port, id], ...]"
            ) from None
    return ranges


def uncovered_ranges(primaries: Sequence[Optional[object]]) -> list[tuple[int, int]]:
    """Return the (first, last) slot ranges that have no master."""
    gaps = []
    start: Optional[int] = None
    for slot, owner in enumerate(primaries):
        if owner is None and start is None:
            start = slot
        elif owner is not None and start is not None:
            gaps.append((start, slot - 1))
            start = None
    if start is not None:
        gaps.append((start, len(primaries) - 1))
    return gaps


def _log_owner_changes(
    old: Sequence[Optional[ClusterNode]], new: Sequence[Optional[ClusterNode]]
) -> None:
    """Log slots whose master changed, as after a failover or a reshard."""
    moves: dict[tuple[str, str], list[int]] = {}
    for slot, (before, after) in enumerate(zip(old, new)):
        if before is not None and after is not None and before is not after:
            moves.setdefault((before.name, after.name), []).append(slot)
    for (before_name, after_name), slots in moves.items():
        logger.warning(
            "%d slots (first %d) moved from %s to %s: failover or resharding",
            len(slots), slots[0], before_name, after_name,
        )


def _format_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def _not_redis(host: str, port: int, error: Exception) -> TopologyError:
    return TopologyError(
        f"{host}:{port} does not speak the Redis protocol ({error}); check "
        f"that the address and port are those of a Redis Cluster node"
    )


class Topology:
    """Node table and slot map of one cluster, shared by every thread."""

    def __init__(
        self,
        startup_nodes: Sequence[Address],
        pool_factory: PoolFactory,
        *,
        skip_full_coverage_check: bool = False,
        reinitialize_steps: int = 5,
        address_remap: Optional[AddressRemap] = None,
    ) -> None:
        self.startup_nodes = list(startup_nodes)
        self.skip_full_coverage_check = skip_full_coverage_check
        self.reinitialize_steps = reinitialize_steps
        self.refresh_count = 0
        self._pool_factory = pool_factory
        self._remap = address_remap
        self._nodes: dict[str, ClusterNode] = {}
        self._table = SlotTable((None,) * SLOT_COUNT, ((),) * SLOT_COUNT)
        self._default: Optional[ClusterNode] = None
        self._moved_count = 0
        self._generation = 0
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    @property
    def table(self) -> SlotTable:
        """The current slot map; a snapshot that later refreshes do not alter."""
        return self._table

    @property
    def generation(self) -> int:
        """A counter that grows with every change of the slot map."""
        return self._generation

    def nodes(self) -> list[ClusterNode]:
        """Return every known node."""
        return list(self._nodes.values())

    def reported_node(
        self, host: str, port: int, role: str = PRIMARY
    ) -> ClusterNode:
        """Return the node for an address a server reported, after the remap.

        Addresses from CLUSTER SLOTS, MOVED and ASK go through here. Addresses
        the client already has (startup nodes, known nodes) must not, because
        a remap need not be idempotent.
        """
        host, port = self.remap((host, port))
        return self.node(host, port, role)

    def node(self, host: str, port: int, role: str = PRIMARY) -> ClusterNode:
        """Return the node at a reachable host:port, adding it if new."""
        name = f"{host}:{port}"
        node = self._nodes.get(name)
        if node is not None:
            return node
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                pool = self._pool_factory(host, port, role == REPLICA)
                node = ClusterNode(host, port, role, pool)
                self._nodes[name] = node
            return node

    def remap(self, address: Address) -> Address:
        """Apply the address remap rule, if any, to a (host, port) pair."""
        if self._remap is None:
            return address
        host, port = self._remap(address)
        return host, int(port)

    def default_node(self) -> ClusterNode:
        """Return the master that serves keyless commands."""
        node = self._default
        if node is None:
            primaries = self._table.primary_nodes()
            if not primaries:
                raise SlotNotCoveredError(
                    "the cluster layout has no master; check that the cluster "
                    "is up"
                )
            node = self._default = random.choice(primaries)
        return node

    def record_moved(self, slot: int, host: str, port: int) -> ClusterNode:
        """Point slot at host:port; re-read the layout every few MOVED replies."""
        node = self.reported_node(host, port)
        with self._lock:
            primaries = list(self._table.primaries)
            primaries[slot] = node
            node.role = PRIMARY
            self._table = SlotTable(
                tuple(primaries), self._table.replicas, self._table.nodes
            )
            self._generation += 1
            self._moved_count += 1
            due = self._moved_count >= self.reinitialize_steps
            refreshes = self.refresh_count
        if due:
            # Threads that reach the threshold together share one refresh.
            self.refresh(seen_refreshes=refreshes)
        return node

    def refresh(
        self,
        seen_refreshes: Optional[int] = None,
        failed: Optional[ClusterNode] = None,
    ) -> None:
        """Re-read the layout from the first node that replies to CLUSTER SLOTS.

        With ``seen_refreshes``, the ``refresh_count`` a caller read before it
        failed, a refresh that another thread finished since then counts as
        this one. A ``failed`` node is asked last, since it likely times out.
        """
        with self._refresh_lock:
            if seen_refreshes is not None and seen_refreshes != self.refresh_count:
                return
            self._refresh_locked(failed)

    def _candidates(self, failed: Optional[ClusterNode]) -> list[Address]:
        known = [(n.host, n.port) for n in self._table.primary_nodes()]
        known += [(n.host, n.port) for n in self._nodes.values()]
        known += list(self.startup_nodes)
        ordered = list(dict.fromkeys(known))
        if failed is not None and (failed.host, failed.port) in ordered:
            ordered.remove((failed.host, failed.port))
            ordered.append((failed.host, failed.port))
        return ordered

    def _refresh_locked(self, failed: Optional[ClusterNode]) -> None:
        failures: list[str] = []
        for host, port in self._candidates(failed):
            try:
                reply = self._query_slots(host, port)
            except (ConnectionError, TimeoutError, OSError) as exc:
                if isinstance(exc, (AuthenticationError, AuthorizationError)):
                    raise
                failures.append(f"{host}:{port} ({exc})")
                limiter.log(
                    logger, logging.WARNING, ("slots failed", host, port),
                    "CLUSTER SLOTS failed on %s:%s: %s", host, port, exc,
                )
                continue
            self._install(self._parse_slots(reply, host, port), f"{host}:{port}")
            return
        raise NoReachableNodeError(
            "CLUSTER SLOTS failed on every known node; tried "
            + "; ".join(failures)
            + ". Check that the addresses are right and the servers are up."
        )

    def _parse_slots(self, reply: Any, host: str, port: int) -> list[SlotRange]:
        try:
            return parse_cluster_slots(reply, host)
        except TopologyError as exc:
            raise TopologyError(
                f"{host}:{port} sent an unusable CLUSTER SLOTS reply: {exc}; "
                f"check that {host}:{port} is a Redis Cluster node"
            ) from exc

    def _query_slots(self, host: str, port: int) -> Any:
        node = self.node(host, port)
        try:
            connection = node.pool.acquire()
        except InvalidResponse as exc:
            raise _not_redis(host, port, exc) from exc
        try:
            connection.send_command("CLUSTER", "SLOTS")
            reply = connection.read_response()
        except InvalidResponse as exc:
            node.pool.discard(connection)
            raise _not_redis(host, port, exc) from exc
        except ResponseError as exc:
            node.pool.release(connection)
            if "cluster" in str(exc).lower() and "disabled" in str(exc).lower():
                raise NotClusterError(
                    f"the server at {host}:{port} runs without cluster mode "
                    f"({exc}); use redis.Redis for it, or start it with "
                    f"cluster-enabled yes"
                ) from exc
            raise TopologyError(
                f"CLUSTER SLOTS failed on {host}:{port}: {exc}"
            ) from exc
        except BaseException:
            node.pool.discard(connection)
            raise
        node.pool.release(connection)
        return reply

    def _install(self, ranges: list[SlotRange], source: str) -> None:
        primaries: list[Optional[ClusterNode]] = [None] * SLOT_COUNT
        replicas: list[tuple[ClusterNode, ...]] = [()] * SLOT_COUNT
        members: dict[str, ClusterNode] = {}
        for entry in ranges:
            primary = self.reported_node(*entry.primary)
            primary.role = PRIMARY
            primary.node_id = entry.node_ids[0] if entry.node_ids else None
            members[primary.name] = primary
            copies = []
            for address in entry.replicas:
                replica = self.reported_node(*address, role=REPLICA)
                replica.role = REPLICA
                members[replica.name] = replica
                copies.append(replica)
            for slot in range(entry.start, entry.end + 1):
                primaries[slot] = primary
                replicas[slot] = tuple(copies)

        gaps = uncovered_ranges(primaries)
        if gaps and not self.skip_full_coverage_check:
            raise SlotNotCoveredError(
                f"CLUSTER SLOTS from {source} leaves hash slots "
                f"{_format_ranges(gaps)} without a master; fix the cluster, or "
                f"pass skip_full_coverage_check=True to use it anyway"
            )
        _log_owner_changes(self._table.primaries, primaries)
        self._swap(SlotTable(tuple(primaries), tuple(replicas),
                             tuple(members.values())), members)
        logger.info(
            "read cluster layout from %s: %d masters, %d nodes",
            source, len(self._table.primary_nodes()), len(members),
        )

    def _swap(self, table: SlotTable, members: dict[str, ClusterNode]) -> None:
        with self._lock:
            departed = [n for name, n in self._nodes.items() if name not in members]
            for node in departed:
                del self._nodes[node.name]
            self._table = table
            self._generation += 1
            self._moved_count = 0
            self.refresh_count += 1
            if self._default is not None and self._default.name not in members:
                self._default = None
        for node in departed:
            logger.info("node %s left the cluster layout", node.name)
            node.pool.close()

    def close(self) -> None:
        """Close every node's connections."""
        with self._lock:
            nodes = list(self._nodes.values())
        for node in nodes:
            node.pool.close()
