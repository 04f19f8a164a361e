"""One redis-server (or valkey-server) process run by the test harness.

A :class:`ServerNode` owns a working directory, a generated config file and the
server process. It runs in cluster mode for :class:`LocalCluster` or as a plain
standalone server for tests that need a single real server.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from rediscluster.testing._process import parent_death_preexec, stop_process
from rediscluster.testing.ports import BUS_PORT_OFFSET, pick_node_port
from rediscluster.testing.server import server_version
from rediscluster.testing.tls import TlsFiles

if TYPE_CHECKING:
    from rediscluster.testing.proxy import FaultProxy

__all__ = ["NodeStartError", "ServerNode", "launch_node"]

logger = logging.getLogger(__name__)

_LOG_FILE = "server.log"
_OUTPUT_FILE = "output.log"
_CONFIG_FILE = "server.conf"
_ADDRESS_IN_USE = "Address already in use"


class NodeStartError(RuntimeError):
    """A server process exited, or did not reply to PING in time, after starting."""

    def __init__(self, message: str, *, address_in_use: bool) -> None:
        super().__init__(message)
        self.address_in_use = address_in_use


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class ServerNode:
    """A server process with its own directory, port and config."""

    def __init__(
        self,
        *,
        binary: str,
        directory: Path,
        host: str,
        port: int,
        cluster: bool = True,
        node_timeout_ms: int = 2000,
        announced_port: int | None = None,
        proxy: FaultProxy | None = None,
        extra_config: Mapping[str, str | int] | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.host = host
        self.port = port
        self.bus_port = port + BUS_PORT_OFFSET
        self.announced_port = announced_port if announced_port is not None else port
        self.cluster = cluster
        self.node_timeout_ms = node_timeout_ms
        self.proxy = proxy
        self.extra_config: dict[str, str | int] = dict(extra_config or {})
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None
        self.node_id = ""
        self.role = "master"
        self.master_of: ServerNode | None = None

    def __repr__(self) -> str:
        state = "running" if self.alive else "stopped"
        via = f" via proxy :{self.announced_port}" if self.proxy is not None else ""
        node_id = f" {self.node_id[:8]}" if self.node_id else ""
        return f"<ServerNode {self.role}{node_id} {self.host}:{self.port}{via} {state}>"

    @property
    def alive(self) -> bool:
        """Whether the server process is running."""
        return self.process is not None and self.process.poll() is None

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.directory / _LOG_FILE

    def config_lines(self) -> list[str]:
        """Return the lines of the config file this node starts with."""
        if self.tls is not None:
            listen = self.tls.config_lines(self.port)
        else:
            listen = [f"port {self.port}"]
        lines = listen + [
            f"bind {self.host}",
            "protected-mode no",
            "daemonize no",
            f"dir {_quote(str(self.directory))}",
            f"logfile {_quote(str(self.log_path))}",
            "appendonly no",
            'save ""',
            # Redis 7 waits 5 s before a diskless full sync by default, which would
            # make every replica join 5 s slower.
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if server_version(self.binary) >= (7, 0, 0):
            # Redis 6.2 rejects unknown options at startup, and has DEBUG enabled.
            lines.append("enable-debug-command yes")
        if self.cluster:
            lines += [
                "cluster-enabled yes",
                "cluster-config-file nodes.conf",
                f"cluster-node-timeout {self.node_timeout_ms}",
                # Let a replica take over however long its link was down, so failover
                # tests do not depend on replication timing.
                "cluster-replica-validity-factor 0",
                # Seen with Redis 7.0.15 and Valkey 8.1: a new replica shows up in
                # CLUSTER SLOTS only after the master's first replication PING,
                # which is sent every 10 s by default.
                "repl-ping-replica-period 1",
            ]
            if self.announced_port != self.port:
                lines += [
                    f"cluster-announce-ip {self.host}",
                    f"cluster-announce-port {self.announced_port}",
                    f"cluster-announce-bus-port {self.bus_port}",
                ]
        lines += [f"{key} {value}" for key, value in self.extra_config.items()]
        return lines

    def start(self) -> None:
        """Write the config file and start the server process without waiting."""
        if self.alive:
            raise RuntimeError(f"{self!r} is already running; stop it before start()")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / _CONFIG_FILE
        config.write_text("\n".join(self.config_lines()) + "\n")
        with open(self.directory / _OUTPUT_FILE, "ab") as output:
            self.process = subprocess.Popen(
                [self.binary, str(config)],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=parent_death_preexec(),
            )
        logger.debug(
            "started %s pid %d on %s:%d in %s",
            Path(self.binary).name,
            self.process.pid,
            self.host,
            self.port,
            self.directory,
        )

    def wait_started(self, timeout: float = 10.0) -> None:
        """Block until the server replies to PING.

        Raises:
            NodeStartError: the process exited, or did not reply within ``timeout``
                seconds; the message contains the end of its log.
        """
        deadline = time.monotonic() + timeout
        with self.client(socket_connect_timeout=0.5, socket_timeout=1.0) as client:
            while True:
                if self.process is None or self.process.poll() is not None:
                    self._raise_start_error("exited during startup")
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                except redis.BusyLoadingError:
                    pass
                if time.monotonic() > deadline:
                    self._raise_start_error(f"did not answer PING within {timeout}s")
                time.sleep(0.01)

    def _raise_start_error(self, what: str) -> None:
        log = self.log_tail()
        code = self.process.poll() if self.process is not None else None
        raise NodeStartError(
            f"{Path(self.binary).name} on {self.host}:{self.port} {what} "
            f"(exit code {code}); last log lines from {self.directory}:\n{log}",
            address_in_use=_ADDRESS_IN_USE in log,
        )

    def log_tail(self, lines: int = 20) -> str:
        """Return the last ``lines`` lines of the server log and its raw output."""
        parts: list[str] = []
        for name in (_LOG_FILE, _OUTPUT_FILE):
            path = self.directory / name
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            tail = text.splitlines()[-lines:]
            if tail:
                parts.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(parts) or "(no log output)"

    def signal(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the server; wait for the exit if it is SIGKILL or SIGTERM."""
        if not self.alive or self.process is None:
            return
        self.process.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.process.wait(timeout=10)
        logger.debug("sent signal %d to %r", sig, self)

    def stop(self, grace: float = 3.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.process is not None:
            stop_process(self.process, grace)
            logger.debug("stopped %r", self)

    def client(self, **kwargs: Any) -> redis.Redis:
        """Return a ``redis.Redis`` connected straight to the server's own port.

        With ``requirepass`` in the node's extra config, the client sends that
        password unless ``password`` is given. A TLS node gets a TLS client
        that trusts the node's CA.
        """
        options: dict[str, Any] = {"host": self.host, "port": self.port}
        if self.tls is not None:
            options.update(self.tls.client_kwargs())
        if "requirepass" in self.extra_config:
            options["password"] = str(self.extra_config["requirepass"])
        options.update(kwargs)
        return redis.Redis(**options)


def launch_node(
    make_node: Callable[[int], ServerNode],
    host: str,
    *,
    exclude: set[int] | frozenset[int] = frozenset(),
    attempts: int = 5,
    timeout: float = 10.0,
) -> ServerNode:
    """Start a node on a free port pair, retrying on other ports if the bind fails.

    Another process can take a port between the free-port check and the server's
    bind, so a node that exits with "Address already in use" is retried on a new port.
    ``make_node`` builds an unstarted node for the port it is given.

    Raises:
        NodeStartError: the node failed for another reason, or every attempt hit a
            port in use.
    """
    taken = set(exclude)
    for attempt in range(1, attempts + 1):
        port = pick_node_port(host, taken)
        taken.add(port)
        node = make_node(port)
        node.start()
        try:
            node.wait_started(timeout)
            return node
        except NodeStartError as error:
            node.stop()
            if node.proxy is not None:
                node.proxy.close()
            if not error.address_in_use or attempt == attempts:
                raise
            logger.debug("port %d in use, retrying on another port: %s", port, error)
    raise AssertionError("unreachable: the loop returns or raises")
