"""Test harness for rediscluster: real server processes, clusters and fault proxies.

* :class:`LocalCluster` starts a real Redis Cluster on loopback ports.
* :class:`FaultProxy` sits in front of one node and adds delay or network faults.
* :class:`ServerNode` is a single server process, standalone or cluster mode.
* :func:`find_server_binary` locates ``redis-server`` or ``valkey-server``.
"""

from rediscluster.testing.cluster_state import SLOT_COUNT
from rediscluster.testing.local_cluster import (
    ClusterNotReadyError,
    LocalCluster,
    remove_stale_directories,
)
from rediscluster.testing.node import NodeStartError, ServerNode, launch_node
from rediscluster.testing.proxy import FaultProxy, ProxyError
from rediscluster.testing.server import (
    ServerNotFoundError,
    find_server_binary,
    server_name,
    server_version,
)
from rediscluster.testing.tls import TlsFiles

__all__ = [
    "SLOT_COUNT",
    "ClusterNotReadyError",
    "FaultProxy",
    "LocalCluster",
    "NodeStartError",
    "ProxyError",
    "ServerNode",
    "ServerNotFoundError",
    "TlsFiles",
    "find_server_binary",
    "launch_node",
    "remove_stale_directories",
    "server_name",
    "server_version",
]
