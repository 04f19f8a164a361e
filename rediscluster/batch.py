"""One node's share of a pipeline: one packed write, then its replies in order.

A batch runs in two steps, ``send`` and ``receive``, so an executor without
threads can write every node's batch before it reads any reply. Each command
ends with an outcome: its parsed reply, the ``ResponseError`` the server sent,
or ``Lost`` when the connection failed. A connection that failed after a write,
or was interrupted, is closed and never goes back to its pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from redis.connection import AbstractConnection
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,
    ResponseError,
    TimeoutError,
)

from .packing import pack_batch
from .replies import READ_OPTIONS, FastReader, apply_callback, fast_reader
from .topology import ClusterNode

ParseReply = Callable[..., Any]

_ASKING = ("ASKING",)


class Lost:
    """The outcome of a command whose connection failed.

    ``sent`` is true when the command may have reached the server, so its
    effect is unknown.
    """

    __slots__ = ("error", "sent")

    def __init__(self, error: Exception, sent: bool) -> None:
        self.error = error
        self.sent = sent

    def __repr__(self) -> str:
        return f"<Lost sent={self.sent} {self.error!r}>"


@dataclass
class NodeBatch:
    """Commands of one pipeline round that go to one node, in queue order."""

    node: ClusterNode
    fast_pack: bool = False
    callbacks: Any = None
    indices: list[int] = field(default_factory=list)
    commands: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(
        default_factory=list
    )
    asking: list[bool] = field(default_factory=list)
    outcomes: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    _connection: Optional[AbstractConnection] = None
    _started: float = 0.0

    def add(
        self,
        index: int,
        args: tuple[Any, ...],
        options: dict[str, Any],
        asking: bool = False,
    ) -> None:
        """Append one command; ``asking`` sends ASKING right before it."""
        self.indices.append(index)
        self.commands.append((args, options))
        self.asking.append(asking)

    def run(self, parse: ParseReply) -> None:
        """Send the batch and read its replies on the calling thread."""
        self.send()
        self.receive(parse)

    def send(self) -> None:
        """Take a connection and write every command in one packed write."""
        self._started = time.perf_counter()
        pool = self.node.pool
        try:
            connection = pool.acquire()
        except (AuthenticationError, AuthorizationError) as exc:
            self._finish([exc] * len(self.commands))
            return
        except (ConnectionError, TimeoutError, OSError) as exc:
            self._finish([Lost(exc, sent=False)] * len(self.commands))
            return

        try:
            connection.send_packed_command(
                pack_batch(connection, self._wire_commands(), self.fast_pack)
            )
        except (ConnectionError, TimeoutError, OSError) as exc:
            # Part of the write may have reached the server, and with it some
            # whole commands, so every command of the batch counts as sent.
            pool.discard(connection)
            self._finish([Lost(exc, sent=True)] * len(self.commands))
            return
        except BaseException:
            pool.discard(connection)
            raise
        self._connection = connection

    def receive(self, parse: ParseReply) -> None:
        """Read one reply per command; on a connection failure mark the rest."""
        connection = self._connection
        if connection is None:
            return
        self._connection = None
        outcomes: list[Any] = []
        try:
            reader = fast_reader(connection) if self._plain_reads() else None
            if reader is not None:
                self._read_fast(reader, outcomes)
            else:
                for (args, options), asking in zip(self.commands, self.asking):
                    outcomes.append(
                        _read_one(connection, parse, args, options, asking)
                    )
        except (ConnectionError, TimeoutError, OSError) as exc:
            self.node.pool.discard(connection)
            missing = len(self.commands) - len(outcomes)
            self._finish(outcomes + [Lost(exc, sent=True)] * missing)
            return
        except BaseException:
            self.node.pool.discard(connection)
            raise
        self.node.pool.release(connection)
        self._finish(outcomes)

    def _plain_reads(self) -> bool:
        for _, options in self.commands:
            if options and not READ_OPTIONS.isdisjoint(options):
                return False
        return True

    def _read_fast(self, reader: FastReader, outcomes: list[Any]) -> None:
        next_reply = reader.next_reply
        callbacks = self.callbacks
        for (args, options), asking in zip(self.commands, self.asking):
            if asking:
                next_reply()  # the reply to ASKING; the command's own follows
            outcomes.append(apply_callback(callbacks, args[0], options, next_reply()))

    def abandon(self) -> None:
        """Close a connection that was written to but will not be read."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self.node.pool.discard(connection)

    def _wire_commands(self) -> list[tuple[Any, ...]]:
        if not any(self.asking):
            return [args for args, _ in self.commands]
        wire: list[tuple[Any, ...]] = []
        for (args, _), asking in zip(self.commands, self.asking):
            if asking:
                wire.append(_ASKING)
            wire.append(args)
        return wire

    def _finish(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.seconds = time.perf_counter() - self._started


def _read_one(
    connection: AbstractConnection,
    parse: ParseReply,
    args: tuple[Any, ...],
    options: dict[str, Any],
    asking: bool,
) -> Any:
    if asking:
        try:
            connection.read_response()
        except ResponseError:
            pass  # the command's own reply below carries the error
    try:
        return parse(connection, args[0], **options)
    except ResponseError as exc:
        return exc
