"""Forwarding process behind :class:`rediscluster.testing.proxy.FaultProxy`.

Run as a script (``python -I -S _proxy_child.py TARGET_HOST TARGET_PORT LISTEN_HOST
LISTEN_PORT UP_DELAY DOWN_DELAY``), so it imports nothing but the standard library and
starts fast. It runs in its own process so that the client under test and the proxy
do not share a GIL, which would add our own lock contention to measured latencies.

Protocol: the first line on stdout is ``{"port": N}`` once the listener is bound.
Each line on stdin is a JSON command and gets one JSON reply line. EOF on stdin, or
the parent process going away, ends the proxy.

Each connection uses one reader and one writer thread per direction. A reader stamps
each chunk with ``arrival + delay`` and queues it, and the writer sleeps until that
deadline with ``time.sleep``, which on Linux uses ``clock_nanosleep`` and so wakes
within tens of microseconds. An event loop would round its timeouts up to whole
milliseconds (epoll), turning a 1 ms delay into up to 2 ms. Because chunks keep their
own deadlines, pipelined traffic keeps its throughput.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_CHUNK = 65536
_PARENT_CHECK_INTERVAL = 0.5
_PR_SET_TIMERSLACK = 29
_TIMER_SLACK_NS = 1000


class State:
    """Fault settings shared by every connection, guarded by ``cond``."""

    def __init__(self, upstream_delay: float, downstream_delay: float) -> None:
        self.cond = threading.Condition()
        self.upstream_delay = upstream_delay
        self.downstream_delay = downstream_delay
        self.blackholed = False
        self.cut_nbytes: int | None = None
        self.cut_count: int | None = None
        self.links: set[Link] = set()
        self.connections_accepted = 0
        self.bytes_upstream = 0
        self.bytes_downstream = 0


class Link:
    """One client connection and its connection to the target server."""

    def __init__(self, state: State, client: socket.socket, server: socket.socket):
        self.state = state
        self.client = client
        self.server = server
        self.closed = False
        self.cut_budget: int | None = state.cut_nbytes
        self._lock = threading.Lock()
        self._threads_left = 4
        self.upstream = _Direction(self, client, server, upstream=True)
        self.downstream = _Direction(self, server, client, upstream=False)

    def start(self) -> None:
        for direction in (self.upstream, self.downstream):
            for target in (direction.read_loop, direction.write_loop):
                thread = threading.Thread(target=self._run, args=(target,), daemon=True)
                thread.start()

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        finally:
            with self._lock:
                self._threads_left -= 1
                last = self._threads_left == 0
            if last:
                self._release()

    def _release(self) -> None:
        self.client.close()
        self.server.close()
        with self.state.cond:
            self.state.links.discard(self)

    def wait_while_blackholed(self) -> bool:
        """Block while the proxy is blackholed; return False if the link closed."""
        state = self.state
        with state.cond:
            while state.blackholed and not self.closed:
                state.cond.wait(0.1)
        return not self.closed

    def apply_cut(self, data: bytes) -> tuple[bytes, bool]:
        """Trim ``data`` to the cut budget; the flag is True when the budget ran out."""
        state = self.state
        with state.cond:
            budget = self.cut_budget
            if budget is None:
                return data, False
            if len(data) < budget:
                self.cut_budget = budget - len(data)
                return data, False
            self.cut_budget = None
            if state.cut_count is not None:
                state.cut_count -= 1
                if state.cut_count <= 0:
                    _clear_cut(state)
        return data[:budget], True

    def abort(self, *, reset: bool) -> None:
        """Close both sockets now; with ``reset`` the client gets RST, not FIN."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        if reset:
            # With a zero linger time, close() sends RST. SHUT_RD only wakes the
            # reader thread, without sending the FIN that SHUT_RDWR would.
            linger = struct.pack("ii", 1, 0)
            try:
                self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            except OSError:
                pass
            _shutdown(self.client, socket.SHUT_RD)
        else:
            _shutdown(self.client, socket.SHUT_RDWR)
        _shutdown(self.server, socket.SHUT_RDWR)
        for direction in (self.upstream, self.downstream):
            direction.queue.close()
        with self.state.cond:
            self.state.cond.notify_all()


class _Direction:
    """Forwarding from ``source`` to ``dest``: a reader and a delayed writer.

    ``pending`` counts chunks queued or being sent. With no delay and nothing
    pending, the reader sends a chunk itself, which saves a thread hand-off of about
    0.1 ms. ``send_lock`` keeps those direct sends in order with the writer's.
    """

    def __init__(
        self, link: Link, source: socket.socket, dest: socket.socket, *, upstream: bool
    ) -> None:
        self.link = link
        self.source = source
        self.dest = dest
        self.upstream = upstream
        self.queue = _Queue()
        self.send_lock = threading.Lock()
        self.pending = 0

    def _delay(self) -> float:
        state = self.link.state
        return state.upstream_delay if self.upstream else state.downstream_delay

    def read_loop(self) -> None:
        while True:
            try:
                data = self.source.recv(_CHUNK)
            except OSError:
                self.link.abort(reset=True)
                return
            if not data:
                self.queue.put(None)
                return
            deadline = time.monotonic() + self._delay()
            with self.send_lock:
                direct = self.pending == 0 and self._delay() == 0
                if direct and not self.link.state.blackholed:
                    if not self._send(data):
                        return
                    continue
                self.pending += 1
            self.queue.put((deadline, data))

    def write_loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                # Pass a half-close on, unless abort() is closing the link: a FIN sent
                # now would go out before the RST the client is meant to see.
                if not self.link.closed:
                    _shutdown(self.dest, socket.SHUT_WR)
                return
            deadline, data = item
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
            if not self.link.wait_while_blackholed():
                return
            with self.send_lock:
                self.pending -= 1
                if not self._send(data):
                    return

    def _send(self, data: bytes) -> bool:
        """Send ``data`` to ``dest``; return False once the link is closed."""
        link = self.link
        cut = False
        if not self.upstream:
            data, cut = link.apply_cut(data)
        try:
            self.dest.sendall(data)
        except OSError:
            link.abort(reset=True)
            return False
        state = link.state
        with state.cond:
            if self.upstream:
                state.bytes_upstream += len(data)
            else:
                state.bytes_downstream += len(data)
        if cut:
            # Close both sides after the partial reply, so the client sees EOF.
            link.abort(reset=False)
            return False
        return not link.closed


class _Queue:
    """A FIFO whose ``close`` drops pending items and wakes the consumer."""

    def __init__(self) -> None:
        self._items: collections.deque[tuple[float, bytes] | None] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    def put(self, item: tuple[float, bytes] | None) -> None:
        with self._cond:
            if not self._closed:
                self._items.append(item)
                self._cond.notify()

    def get(self) -> tuple[float, bytes] | None:
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            return self._items.popleft()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass


def _clear_cut(state: State) -> None:
    state.cut_nbytes = None
    state.cut_count = None
    for link in state.links:
        link.cut_budget = None


def _accept_loop(
    state: State, listener: socket.socket, target: tuple[str, int]
) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        with state.cond:
            state.connections_accepted += 1
        try:
            server = socket.create_connection(target, timeout=5)
        except OSError:
            # The target is down: the client sees its connection closed at once,
            # as it would if it reached a dead node through a load balancer.
            client.close()
            continue
        server.settimeout(None)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = Link(state, client, server)
        with state.cond:
            state.links.add(link)
        link.start()


def _stats(state: State) -> dict[str, Any]:
    with state.cond:
        return {
            "connections_accepted": state.connections_accepted,
            "active_connections": len(state.links),
            "bytes_upstream": state.bytes_upstream,
            "bytes_downstream": state.bytes_downstream,
            "upstream_delay": state.upstream_delay,
            "downstream_delay": state.downstream_delay,
            "blackholed": state.blackholed,
            "cut_nbytes": state.cut_nbytes,
        }


def _handle(state: State, command: dict[str, Any]) -> dict[str, Any]:
    op = command.get("op")
    if op == "set_delay":
        with state.cond:
            if command.get("upstream") is not None:
                state.upstream_delay = float(command["upstream"])
            if command.get("downstream") is not None:
                state.downstream_delay = float(command["downstream"])
    elif op == "cut_after":
        with state.cond:
            state.cut_nbytes = int(command["nbytes"])
            count = command.get("count")
            state.cut_count = None if count is None else int(count)
            for link in state.links:
                link.cut_budget = state.cut_nbytes
    elif op == "blackhole":
        with state.cond:
            state.blackholed = bool(command["enabled"])
            state.cond.notify_all()
    elif op == "reset":
        with state.cond:
            links = list(state.links)
        for link in links:
            link.abort(reset=True)
        return {"ok": True, "closed": len(links)}
    elif op == "heal":
        with state.cond:
            state.upstream_delay = 0.0
            state.downstream_delay = 0.0
            state.blackholed = False
            _clear_cut(state)
            state.cond.notify_all()
    elif op != "stats":
        return {"ok": False, "error": f"unknown command {op!r}"}
    return {"ok": True, **_stats(state)}


def _exit_when_orphaned(parent_pid: int) -> None:
    # A parent killed with SIGKILL cannot close our stdin if it leaked the pipe to
    # another child, so also watch for being re-parented.
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_CHECK_INTERVAL)
    os._exit(0)


def _reduce_timer_slack() -> None:
    # Linux lets sleeps overshoot by the thread's timer slack, 50 us by default.
    # Threads inherit it, so setting it before starting any thread covers them all.
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return
    libc.prctl(_PR_SET_TIMERSLACK, _TIMER_SLACK_NS, 0, 0, 0)


def main(argv: list[str]) -> None:
    _reduce_timer_slack()
    target_host, target_port, listen_host, listen_port, up, down = argv
    parent_pid = os.getppid()
    state = State(float(up), float(down))
    family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((listen_host, int(listen_port)))
    listener.listen(128)
    target = (target_host, int(target_port))
    threading.Thread(
        target=_accept_loop, args=(state, listener, target), daemon=True
    ).start()
    watcher = threading.Thread(
        target=_exit_when_orphaned, args=(parent_pid,), daemon=True
    )
    watcher.start()
    out = sys.stdout
    out.write(json.dumps({"port": listener.getsockname()[1]}) + "\n")
    out.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "stop":
            out.write(json.dumps({"ok": True}) + "\n")
            out.flush()
            break
        out.write(json.dumps(_handle(state, command)) + "\n")
        out.flush()
    # Exiting closes every socket, so clients see the proxy go away at once.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
