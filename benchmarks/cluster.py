"""The one LocalCluster a benchmark run uses, and how clients reach it.

Every node sits behind a FaultProxy and announces the proxy's port, so a
client that follows the cluster's own addresses goes through the proxies.
Loopback scenarios instead connect straight to the servers: their clients get
an address remap from each proxy port to the server's own port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from rediscluster.testing import LocalCluster


@dataclass(frozen=True)
class Target:
    """A seed address to connect to, and a port remap for the addresses it reports."""

    host: str
    port: int
    remap: dict[int, int] = field(default_factory=dict)

    def map_address(self, address: tuple[str, int]) -> tuple[str, int]:
        """Return the address to dial for an address the cluster reports."""
        host, port = address
        return host, self.remap.get(int(port), int(port))

    def map_pair(self, host: str, port: int) -> tuple[str, int]:
        """Return ``map_address((host, port))``, in glide's resolver form."""
        return self.map_address((host, port))


def start_cluster() -> LocalCluster:
    """Start 3 masters without replicas, each behind a proxy with no delay."""
    return LocalCluster(masters=3, replicas=0, proxy_delay=0.0).start()


def target(cluster: LocalCluster, direct: bool) -> Target:
    """Return the seed address; with ``direct``, one that skips the proxies."""
    seed = cluster.masters[0]
    if not direct:
        return Target(seed.host, seed.announced_port)
    remap = {node.announced_port: node.port for node in cluster.nodes}
    return Target(seed.host, seed.port, remap)


def set_delays(cluster: LocalCluster, delays: Sequence[float]) -> None:
    """Give master i's proxy ``delays[i]`` seconds each way (the last repeats)."""
    for index, node in enumerate(cluster.masters):
        assert node.proxy is not None, "the benchmark cluster has proxies"
        node.proxy.set_delay(delays[min(index, len(delays) - 1)])


def node_addresses(cluster: LocalCluster, direct: bool) -> list[tuple[str, int]]:
    """Return every master's address, as a direct or a proxied client sees it."""
    return [
        (node.host, node.port if direct else node.announced_port)
        for node in cluster.masters
    ]
