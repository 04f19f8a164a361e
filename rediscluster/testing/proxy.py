"""A TCP proxy in front of one server node, for latency and network fault tests.

:class:`FaultProxy` forwards a listening port to a target server and can add delay,
cut replies short, stall traffic or reset connections while clients use it. The
forwarding runs in a separate Python process (see ``_proxy_child.py``) so that the
client under test does not share a GIL with it, and this class controls that process
over its stdin and stdout.
"""

from __future__ import annotations

import atexit
import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["FaultProxy", "ProxyError"]

logger = logging.getLogger(__name__)

_CHILD_SCRIPT = Path(__file__).with_name("_proxy_child.py")
_RUNNING: set[FaultProxy] = set()


class ProxyError(RuntimeError):
    """The proxy process failed to start, exited, or rejected a command."""


def _check_delay(name: str, value: float) -> float:
    if value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return float(value)


class FaultProxy:
    """A TCP proxy to ``target_host:target_port`` with controllable faults.

    Delays are in seconds and apply to each direction separately, so a round trip
    through a proxy with ``delay=0.001`` takes about 2 ms more than without it.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        delay: float = 0.0,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = listen_host
        self._listen_port = listen_port
        self._initial_delay = _check_delay("delay", delay)
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        listen = f"{self.host}:{self._port}" if self._port else self.host
        target = f"{self.target_host}:{self.target_port}"
        return f"<FaultProxy {listen} -> {target} {state}>"

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The port the proxy listens on; known once :meth:`start` returns."""
        if self._port is None:
            raise ProxyError(f"{self!r} has no port yet; call start() first")
        return self._port

    @property
    def pid(self) -> int | None:
        """The forwarding process id, or None before start."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the forwarding process is running."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> FaultProxy:
        """Start the forwarding process and wait until it listens; return self."""
        if self.running:
            raise ProxyError(f"{self!r} is already running")
        delay = str(self._initial_delay)
        command = [
            sys.executable,
            "-I",
            "-S",
            str(_CHILD_SCRIPT),
            self.target_host,
            str(self.target_port),
            self.host,
            str(self._listen_port),
            delay,
            delay,
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        first = self._read_reply()
        self._port = int(first["port"])
        _RUNNING.add(self)
        logger.debug("started %r pid %d", self, self._process.pid)
        return self

    def close(self) -> None:
        """Stop the proxy; its connections are closed. Safe to call twice."""
        _RUNNING.discard(self)
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            self._command("stop")
        except ProxyError:
            pass
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        logger.debug("stopped %r", self)

    stop = close

    def set_delay(
        self,
        seconds: float | None = None,
        *,
        upstream: float | None = None,
        downstream: float | None = None,
    ) -> None:
        """Set the delay added to each chunk, in seconds.

        ``seconds`` sets both directions. ``upstream`` (client to server) and
        ``downstream`` (server to client) override one direction each. A chunk is
        forwarded at its arrival time plus the delay, so pipelined traffic keeps its
        throughput.
        """
        if seconds is not None:
            upstream = seconds if upstream is None else upstream
            downstream = seconds if downstream is None else downstream
        if upstream is not None:
            upstream = _check_delay("upstream", upstream)
        if downstream is not None:
            downstream = _check_delay("downstream", downstream)
        self._command("set_delay", upstream=upstream, downstream=downstream)

    def cut_after(self, nbytes: int, *, count: int | None = None) -> None:
        """Cut connections after they forward ``nbytes`` more reply bytes.

        Applies to current connections, counting from now, and to new ones, counting
        from their start. When a connection's server-to-client stream reaches
        ``nbytes``, the proxy forwards exactly that many bytes and closes both its
        sockets, so the client sees EOF in the middle of a reply. After ``count``
        connections are cut the fault clears itself; None keeps it until
        :meth:`heal`.
        """
        if nbytes < 0:
            raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1 or None, got {count!r}")
        self._command("cut_after", nbytes=nbytes, count=count)

    def blackhole(self, enabled: bool = True) -> None:
        """Stop or resume forwarding in both directions, keeping connections open.

        While enabled, data is held rather than dropped, as TCP would hold it during
        a network partition, and new connections are accepted but get no replies.
        Clients see their reads time out.
        """
        self._command("blackhole", enabled=enabled)

    def reset_connections(self) -> int:
        """Close every current connection with a TCP reset; return how many."""
        return int(self._command("reset")["closed"])

    def heal(self) -> None:
        """Clear every fault: delays back to 0, no blackhole, no pending cut."""
        self._command("heal")

    def stats(self) -> dict[str, Any]:
        """Return the counters and the current fault settings of the proxy."""
        return self._command("stats")

    @property
    def connections_accepted(self) -> int:
        """Number of client connections accepted since start."""
        return int(self.stats()["connections_accepted"])

    @property
    def active_connections(self) -> int:
        """Number of client connections currently open through the proxy."""
        return int(self.stats()["active_connections"])

    def _command(self, op: str, **arguments: Any) -> dict[str, Any]:
        process = self._process
        if process is None or process.stdin is None:
            raise ProxyError(f"{self!r} is not running; call start() first")
        line = json.dumps({"op": op, **arguments}) + "\n"
        with self._lock:
            try:
                process.stdin.write(line.encode())
                process.stdin.flush()
            except (BrokenPipeError, ValueError) as error:
                raise ProxyError(
                    f"{self!r} exited (code {process.poll()}); restart it with start()"
                ) from error
            reply = self._read_reply()
        if not reply.get("ok"):
            raise ProxyError(f"{self!r} rejected {op!r}: {reply.get('error')}")
        return reply

    def _read_reply(self) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdout is not None
        raw = process.stdout.readline()
        if not raw:
            code = process.wait(timeout=5)
            raise ProxyError(
                f"proxy process for {self.target_host}:{self.target_port} exited with "
                f"code {code}; its error output went to this process's stderr"
            )
        reply: dict[str, Any] = json.loads(raw)
        return reply


@atexit.register
def _close_running_proxies() -> None:
    for proxy in list(_RUNNING):
        proxy.close()
