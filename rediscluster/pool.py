"""Connection pool for one cluster node.

Connections are redis-py's own classes (``Connection``, ``SSLConnection``),
built from the keywords ``redis.Redis`` normalised, so every connection
option reaches every node. The pool around them is written here because
redis-py's ``ConnectionPool`` lacks what a cluster client needs on its hot
path: a bound that makes callers wait instead of failing at once, an explicit
connect step whose failure is known to precede any write, a hook run once per
new connection (READONLY on replicas), and no per-checkout bookkeeping.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time
from typing import Any, Callable, Optional

from redis.connection import AbstractConnection
from redis.exceptions import AuthenticationError, AuthorizationError

from .exceptions import PoolClosedError, PoolTimeoutError

logger = logging.getLogger(__name__)

ConnectionFactory = Callable[[], AbstractConnection]
ConnectHook = Callable[[AbstractConnection], None]


class NodePool:
    """A bounded, thread-safe set of connections to one node.

    ``max_connections=None`` means no bound. With a bound, ``acquire`` waits up
    to ``timeout`` seconds for a connection to come back before it raises
    ``PoolTimeoutError``.
    """

    def __init__(
        self,
        address: str,
        connection_factory: ConnectionFactory,
        *,
        max_connections: Optional[int] = None,
        timeout: float = 5.0,
        on_connect: Optional[ConnectHook] = None,
    ) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError(
                f"max_connections must be a positive integer or None, "
                f"got {max_connections!r}"
            )
        self.address = address
        self.max_connections = max_connections
        self.timeout = timeout
        self._factory = connection_factory
        self._on_connect = on_connect
        self._idle: list[AbstractConnection] = []
        self._created = 0
        self._closed = False
        self._pid = os.getpid()
        self._condition = threading.Condition(threading.Lock())

    def __repr__(self) -> str:
        bound = "unbounded" if self.max_connections is None else (
            f"max {self.max_connections}"
        )
        return (
            f"<NodePool {self.address} [{self.in_use} in use, "
            f"{len(self._idle)} idle, {bound}]>"
        )

    @property
    def created(self) -> int:
        """Number of open connections, idle and in use."""
        return self._created

    @property
    def idle(self) -> int:
        """Number of connections waiting in the pool."""
        return len(self._idle)

    @property
    def in_use(self) -> int:
        """Number of connections handed out and not yet returned."""
        return self._created - len(self._idle)

    def acquire(self) -> AbstractConnection:
        """Return a connected connection, opening one if none is idle.

        A failure here always happens before anything is written, so the caller
        may retry the command elsewhere.
        """
        self._check_pid()
        connection = self._take_or_reserve()
        while connection is not None:
            try:
                stale = _is_stale(connection)
            except BaseException:
                # Only polled, never read or written, so it is still clean.
                self.release(connection)
                raise
            if not stale:
                return connection
            logger.debug("closed a stale idle connection to %s", self.address)
            connection.disconnect()
            self._unreserve()
            connection = self._take_or_reserve()

        connection = None
        try:
            connection = self._factory()
            connection.connect()
            if self._on_connect is not None:
                self._on_connect(connection)
        except (AuthenticationError, AuthorizationError) as exc:
            if connection is not None:
                connection.disconnect()
            self._unreserve()
            # redis-py's message comes from the server and names no address.
            raise type(exc)(_auth_message(self.address, exc)) from exc
        except BaseException:
            if connection is not None:
                connection.disconnect()
            self._unreserve()
            raise
        logger.debug("opened a connection to %s", self.address)
        return connection

    def release(self, connection: AbstractConnection) -> None:
        """Give back a connection whose replies were all read."""
        if self._pid != os.getpid():
            return
        with self._condition:
            if self._closed:
                self._created -= 1
                connection.disconnect()
                return
            self._idle.append(connection)
            self._condition.notify()

    def discard(self, connection: AbstractConnection) -> None:
        """Close a connection that may hold unread replies, and forget it."""
        connection.disconnect()
        if self._pid != os.getpid():
            return
        self._unreserve()

    def close(self) -> None:
        """Close idle connections now and in-use ones when they come back."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._created -= len(idle)
            self._condition.notify_all()
        for connection in idle:
            connection.disconnect()

    def _take_or_reserve(self) -> Optional[AbstractConnection]:
        """Pop an idle connection, or reserve a slot for a new one (None)."""
        deadline: Optional[float] = None
        with self._condition:
            while True:
                if self._closed:
                    raise PoolClosedError(
                        f"the connection pool of {self.address} is closed, "
                        f"because the client closed or the node left the cluster"
                    )
                if self._idle:
                    return self._idle.pop()
                if self.max_connections is None or (
                    self._created < self.max_connections
                ):
                    self._created += 1
                    return None
                if deadline is None:
                    deadline = time.monotonic() + self.timeout
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolTimeoutError(
                        f"no free connection to {self.address} within "
                        f"{self.timeout} s: all {self.max_connections} are in "
                        f"use; raise max_connections or the pool timeout"
                    )
                self._condition.wait(remaining)

    def _unreserve(self) -> None:
        with self._condition:
            self._created -= 1
            self._condition.notify()

    def _check_pid(self) -> None:
        # A forked child must not share the parent's sockets: it starts with an
        # empty pool and leaves the parent's connections open for the parent.
        if self._pid == os.getpid():
            return
        with self._condition:
            if self._pid != os.getpid():
                self._idle = []
                self._created = 0
                self._pid = os.getpid()


def _auth_message(address: str, error: Exception) -> str:
    """Return an authentication error message naming the node and the fix."""
    text = str(error).rstrip(".")
    if "HELLO must be called" in text or "NOAUTH" in text:
        return (
            f"the server at {address} requires authentication ({text}); pass "
            f"password= (and username= for an ACL user)"
        )
    return f"authentication to {address} failed: {text}; check the username " \
        f"and password"


def _instant_poll() -> Any:
    """Return a poll object for checks that never wait.

    gevent's cooperative poll costs about 30 us per check here, against
    0.6 us for the standard one (timeit, gevent 26.9), and a check with a zero
    timeout has no reason to yield to other greenlets.
    """
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("select"):
        return monkey.get_original("select", "poll")()
    return select.poll()


def _is_stale(connection: AbstractConnection) -> bool:
    """Tell whether an idle connection was closed by the server or has data.

    An idle connection has nothing to read, so a readable socket means the
    server closed it (or sent something unexpected). Writing a command to it
    would fail only after the write, which makes a harmless command look as if
    its outcome were unknown.
    """
    sock = getattr(connection, "_sock", None)
    if sock is None:
        return True
    try:
        poller = _instant_poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def make_connection_factory(
    connection_class: type[AbstractConnection],
    connection_kwargs: dict[str, Any],
    host: str,
    port: int,
) -> ConnectionFactory:
    """Return a callable that builds an unconnected connection to host:port."""
    kwargs = dict(connection_kwargs, host=host, port=port)

    def factory() -> AbstractConnection:
        return connection_class(**kwargs)

    return factory
