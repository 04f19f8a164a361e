"""A real Redis Cluster on loopback ports, started and torn down by tests.

:class:`LocalCluster` runs N masters with M replicas each as separate server
processes in one temporary directory, joins them into a cluster with plain redis-py
commands (no redis-cli), and waits until the cluster is fully settled. Optionally it
puts a :class:`FaultProxy` in front of every node and makes the nodes announce the
proxy ports, so that every address a client learns from the cluster goes through a
proxy.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from rediscluster.testing._process import pid_alive
from rediscluster.testing.cluster_state import (
    SLOT_COUNT,
    read_cluster_nodes,
    read_slot_map,
    readiness_problem,
    run_command,
    slot_ranges,
)
from rediscluster.testing.node import ServerNode, launch_node
from rediscluster.testing.proxy import FaultProxy
from rediscluster.testing.server import find_server_binary, server_name, server_version
from rediscluster.testing.tls import TlsFiles

__all__ = ["ClusterNotReadyError", "LocalCluster"]

logger = logging.getLogger(__name__)

_DIR_PREFIX = "rediscluster-localcluster-"
_OWNER_FILE = "owner.pid"
_ADDSLOTS_BATCH = 1000
_POLL_INTERVAL = 0.05
_OPEN_CLUSTERS: set[LocalCluster] = set()


class ClusterNotReadyError(RuntimeError):
    """The cluster did not reach the expected state before the deadline."""


def remove_stale_directories(parent: Path | None = None) -> list[Path]:
    """Remove cluster directories whose owner process no longer exists.

    A run killed with SIGKILL cannot clean up; its servers die with it (parent-death
    signal) but its directory stays. Returns the removed directories.
    """
    root = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    for directory in root.glob(f"{_DIR_PREFIX}*"):
        try:
            owner = int((directory / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            # No readable owner file: another run may be creating it right now.
            continue
        if owner != os.getpid() and not pid_alive(owner):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
            logger.debug("removed stale directory %s of dead pid %d", directory, owner)
    return removed


class LocalCluster:
    """N masters with M replicas each, on free loopback ports.

    Use as a context manager, or call :meth:`start` and :meth:`close`. Nodes listen
    on ports P (clients) and P + 10000 (cluster bus). With ``proxy_delay`` set, each
    node gets a :class:`FaultProxy` adding that delay in each direction, in seconds,
    and announces the proxy's port. With ``tls``, port P speaks TLS only, and so do
    the bus and replication.
    """

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 1,
        *,
        host: str = "127.0.0.1",
        server_binary: str | None = None,
        node_timeout_ms: int = 2000,
        proxy_delay: float | None = None,
        extra_config: Mapping[str, str | int] | None = None,
        ready_timeout: float = 30.0,
        tls: TlsFiles | None = None,
    ) -> None:
        if masters < 1:
            raise ValueError(f"masters must be >= 1, got {masters!r}")
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0, got {replicas!r}")
        if proxy_delay is not None and proxy_delay < 0:
            raise ValueError(f"proxy_delay must be >= 0 seconds, got {proxy_delay!r}")
        if tls is not None and proxy_delay is not None:
            raise ValueError(
                "tls cannot be combined with proxy_delay: the proxies do not "
                "speak TLS; drop one of the two"
            )
        self.master_count = masters
        self.replicas_per_master = replicas
        self.host = host
        self.server_binary = server_binary or find_server_binary()
        self.server_version = server_version(self.server_binary)
        self.server_name = server_name(self.server_binary)
        self.node_timeout_ms = node_timeout_ms
        self.proxy_delay = proxy_delay
        self.extra_config: dict[str, str | int] = dict(extra_config or {})
        self.ready_timeout = ready_timeout
        self.tls = tls
        self.nodes: list[ServerNode] = []
        self._directory: Path | None = None
        self._state = "not started"

    def __repr__(self) -> str:
        version = ".".join(str(part) for part in self.server_version)
        ports = ",".join(str(node.port) for node in self.nodes) or "none"
        proxied = ""
        if self.proxy_delay is not None:
            proxied = f", proxied {self.proxy_delay * 1000:g} ms each way"
        return (
            f"<LocalCluster {self.master_count} masters, "
            f"{self.master_count * self.replicas_per_master} replicas, "
            f"{self.server_name} {version}, ports {ports}{proxied}, {self._state}>"
        )

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def directory(self) -> Path:
        """The temporary directory holding one subdirectory per node."""
        if self._directory is None:
            raise RuntimeError(f"{self!r} has no directory; call start() first")
        return self._directory

    @property
    def masters(self) -> list[ServerNode]:
        """Nodes whose last known role is master, including stopped ones."""
        return [node for node in self.nodes if node.role == "master"]

    @property
    def replicas(self) -> list[ServerNode]:
        """Nodes whose last known role is replica, including stopped ones."""
        return [node for node in self.nodes if node.role == "replica"]

    @property
    def startup_nodes(self) -> list[dict[str, str | int]]:
        """``{"host", "port"}`` of every node, with the port clients should use."""
        return [{"host": node.host, "port": node.announced_port} for node in self.nodes]

    def start(self) -> LocalCluster:
        """Start every node, build the cluster and wait until it is ready."""
        if self._state != "not started":
            raise RuntimeError(f"{self!r} cannot start twice; create a new one")
        remove_stale_directories()
        self._directory = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX))
        (self._directory / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        _OPEN_CLUSTERS.add(self)
        self._state = "starting"
        started = time.monotonic()
        try:
            self._launch_nodes()
            self._build()
            self.wait_ready()
        except BaseException:
            self.close()
            raise
        self._state = "running"
        logger.info("started %r in %.1fs", self, time.monotonic() - started)
        return self

    def _launch_nodes(self) -> None:
        total = self.master_count * (1 + self.replicas_per_master)
        for index in range(total):
            node = launch_node(
                functools.partial(self._make_node, index),
                self.host,
                exclude={node.port for node in self.nodes},
            )
            self.nodes.append(node)

    def _make_node(self, index: int, port: int) -> ServerNode:
        proxy = None
        if self.proxy_delay is not None:
            proxy = FaultProxy(
                self.host, port, listen_host=self.host, delay=self.proxy_delay
            ).start()
        return ServerNode(
            binary=self.server_binary,
            directory=self.directory / f"node-{index}",
            host=self.host,
            port=port,
            node_timeout_ms=self.node_timeout_ms,
            announced_port=proxy.port if proxy is not None else None,
            proxy=proxy,
            extra_config=self.extra_config,
            tls=self.tls,
        )

    def _build(self) -> None:
        masters = self.nodes[: self.master_count]
        for epoch, node in enumerate(self.nodes, start=1):
            with node.client(decode_responses=True) as client:
                node.node_id = str(run_command(client, "CLUSTER", "MYID"))
                # Distinct epochs avoid a round of epoch collision resolution.
                run_command(client, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for node, (first, last) in zip(masters, slot_ranges(self.master_count)):
            with node.client() as client:
                for low in range(first, last + 1, _ADDSLOTS_BATCH):
                    high = min(low + _ADDSLOTS_BATCH, last + 1)
                    run_command(client, "CLUSTER", "ADDSLOTS", *range(low, high))
        seed = self.nodes[0]
        for node in self.nodes[1:]:
            with node.client() as client:
                # The real port, so that the bus port is port + 10000 on Redis 6.2
                # too, which has no bus port argument for MEET.
                run_command(client, "CLUSTER", "MEET", seed.host, seed.port)
        self._wait_for("every node knows every other node", self._meet_problem)
        replicas = self.nodes[self.master_count :]
        for offset, node in enumerate(replicas):
            master = masters[offset // self.replicas_per_master]
            node.role = "replica"
            node.master_of = master
            with node.client() as client:
                run_command(client, "CLUSTER", "REPLICATE", master.node_id)

    def _meet_problem(self) -> str | None:
        ids = {node.node_id for node in self.nodes}
        for node in self.nodes:
            with node.client(decode_responses=True) as client:
                entries = read_cluster_nodes(client)
            known = {
                entry.node_id for entry in entries if "handshake" not in entry.flags
            }
            if not ids <= known:
                return f"{node!r} knows {len(known & ids)} of {len(ids)} nodes"
        return None

    def refresh_roles(self) -> None:
        """Update ``role`` and ``master_of`` of running nodes from their own view."""
        by_id = {node.node_id: node for node in self.nodes}
        for node in self.nodes:
            if not node.alive:
                continue
            with node.client(decode_responses=True, socket_timeout=2.0) as client:
                entries = read_cluster_nodes(client)
            for entry in entries:
                if "myself" not in entry.flags:
                    continue
                node.role = "replica" if entry.is_replica else "master"
                master_id = entry.master_id if entry.is_replica else None
                node.master_of = by_id.get(master_id) if master_id else None

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the running nodes form a settled cluster.

        Raises:
            ClusterNotReadyError: not settled within ``timeout`` seconds (default
                ``ready_timeout``); the message has the last problem seen and the
                end of every node's log.
        """

        def problem() -> str | None:
            try:
                self.refresh_roles()
            except Exception as error:  # noqa: BLE001 - reported as not ready yet
                return f"reading roles failed: {error!r}"
            return readiness_problem(self.nodes)

        self._wait_for("the cluster is ready", problem, timeout)

    def _wait_for(
        self,
        what: str,
        problem: Callable[[], str | None],
        timeout: float | None = None,
    ) -> None:
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            last = problem()
            if last is None:
                return
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"=== {node!r}\n{node.log_tail(10)}" for node in self.nodes
                )
                raise ClusterNotReadyError(
                    f"timed out after {limit}s waiting until {what}: {last}. "
                    f"Raise ready_timeout if the machine is slow. Node logs:\n{logs}"
                )
            time.sleep(_POLL_INTERVAL)

    def node_for_slot(self, slot: int) -> ServerNode:
        """Return the master serving ``slot``, as a running node reports it now."""
        if not 0 <= slot < SLOT_COUNT:
            raise ValueError(f"slot must be in 0-{SLOT_COUNT - 1}, got {slot!r}")
        by_id = {node.node_id: node for node in self.nodes}
        for node in self.nodes:
            if not node.alive:
                continue
            with node.client(socket_timeout=2.0) as client:
                slot_map = read_slot_map(client)
            for item in slot_map:
                if item.start <= slot <= item.end:
                    return by_id[item.master_id]
            raise LookupError(f"slot {slot} is not assigned in {self!r}")
        raise RuntimeError(f"no running node in {self!r} to ask for slot {slot}")

    def kill(self, node: ServerNode, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to ``node``; for SIGKILL and SIGTERM, wait until it exits."""
        logger.debug("killing %r with signal %d", node, sig)
        node.signal(sig)

    def restart(self, node: ServerNode, *, wait: bool = True) -> None:
        """Restart ``node`` on its port and directory; it rejoins with its node id.

        With ``wait``, block until the cluster is ready again.
        """
        node.stop()
        node.start()
        node.wait_started()
        logger.debug("restarted %r", node)
        if wait:
            self.wait_ready()

    def close(self) -> None:
        """Stop every server and proxy and remove the directory. Safe to call twice."""
        if self._state in ("closed", "not started"):
            return
        for node in self.nodes:
            # SIGTERM every node first so they shut down in parallel.
            if node.alive and node.process is not None:
                node.process.terminate()
        for node in self.nodes:
            node.stop()
            if node.proxy is not None:
                node.proxy.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        _OPEN_CLUSTERS.discard(self)
        self._state = "closed"
        logger.info("stopped %r", self)


@atexit.register
def _close_open_clusters() -> None:
    for cluster in list(_OPEN_CLUSTERS):
        cluster.close()
