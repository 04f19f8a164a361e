"""The fault proxies of a proxied LocalCluster, and clients that go through them.

A :class:`LocalCluster` started with ``proxy_delay`` puts a :class:`FaultProxy`
in front of every node, and each node announces its proxy's port. A client
given the cluster's ``startup_nodes`` therefore learns only proxy addresses,
from CLUSTER SLOTS and from MOVED and ASK replies alike, so all of its traffic
passes a proxy that a test can slow down, cut or stop. :class:`FaultProxies`
finds the proxy of a node, slot or key, creates such clients, and undoes
faults and clients when a test ends.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis.crc import key_slot

import rediscluster
from rediscluster.testing.local_cluster import LocalCluster
from rediscluster.testing.node import ServerNode
from rediscluster.testing.proxy import FaultProxy

__all__ = ["FaultProxies"]

logger = logging.getLogger(__name__)


class FaultProxies:
    """Access to the per-node proxies of ``cluster`` for one test.

    ``client_kwargs`` are the keywords every :meth:`client` call starts from.
    The proxies belong to the cluster and outlive this object: :meth:`reset`
    clears their faults, but closing or restarting a proxy would break the
    cluster for later tests, because its node keeps announcing the old port.
    """

    def __init__(
        self, cluster: LocalCluster, client_kwargs: Mapping[str, Any] | None = None
    ) -> None:
        if cluster.proxy_delay is None:
            raise ValueError(
                f"{cluster!r} has no proxies; start it with proxy_delay=0.0"
            )
        self.cluster = cluster
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        self._clients: list[rediscluster.RedisCluster] = []

    def __repr__(self) -> str:
        return (
            f"<FaultProxies {len(self.proxies)} proxies, "
            f"{len(self._clients)} clients, {self.cluster!r}>"
        )

    @property
    def proxies(self) -> list[FaultProxy]:
        """The proxy of every node, in the order of ``cluster.nodes``."""
        return [self._proxy_of(node) for node in self.cluster.nodes]

    def for_node(self, node: ServerNode | str) -> FaultProxy:
        """Return the proxy in front of ``node``.

        ``node`` is a :class:`ServerNode` of the cluster or a ``"host:port"``
        name. A client reports names with the proxy's port, as in
        ``rc.get_node_from_key(key).name``, and the server's own port works too.
        """
        if isinstance(node, ServerNode):
            return self._proxy_of(node)
        for candidate in self.cluster.nodes:
            names = {
                f"{candidate.host}:{candidate.announced_port}",
                f"{candidate.host}:{candidate.port}",
            }
            if node in names:
                return self._proxy_of(candidate)
        known = ", ".join(
            f"{item.host}:{item.announced_port}" for item in self.cluster.nodes
        )
        raise LookupError(
            f"no node named {node!r} in {self.cluster!r}; pass a ServerNode or "
            f"one of {known}"
        )

    def for_slot(self, slot: int) -> FaultProxy:
        """Return the proxy of the master that serves ``slot`` now.

        The cluster is asked on the servers' own ports, so this works while
        proxies hold back traffic.
        """
        return self._proxy_of(self.cluster.node_for_slot(slot))

    def for_key(self, key: str | bytes) -> FaultProxy:
        """Return the proxy of the master that serves ``key`` (UTF-8 for str)."""
        encoded = key.encode() if isinstance(key, str) else key
        return self.for_slot(key_slot(encoded))

    def client(self, **kwargs: Any) -> rediscluster.RedisCluster:
        """Create a client whose traffic goes through the proxies.

        ``kwargs`` override ``client_kwargs``, and :meth:`reset` closes the
        client. Give a short ``socket_timeout`` to see a blackholed or delayed
        node quickly, because the client waits without limit by default.

        Run a command on the client before setting a fault. Its first commands
        open connections and read the server's COMMAND table, and a failure
        there is retried with backoff (about 3 s with the default ``retry``).
        A write that fails after it was sent raises ``OutcomeUnknownError`` at
        once instead.
        """
        options = {**self.client_kwargs, **kwargs}
        created = rediscluster.RedisCluster(
            startup_nodes=self.cluster.startup_nodes, **options
        )
        self._clients.append(created)
        return created

    def heal(self) -> None:
        """Clear the faults of every proxy: no delay, no blackhole, no pending cut."""
        for proxy in self.proxies:
            proxy.heal()

    def reset(self) -> None:
        """Clear every fault, then close the clients that :meth:`client` created."""
        self.heal()
        clients, self._clients = self._clients, []
        for created in clients:
            created.close()
        logger.debug("cleared faults, closed %d clients of %r", len(clients), self)

    def _proxy_of(self, node: ServerNode) -> FaultProxy:
        if node.proxy is None:
            raise LookupError(f"{node!r} has no proxy in front of it")
        return node.proxy
