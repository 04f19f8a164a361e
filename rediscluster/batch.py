"""One node's share of a pipeline: one packed write, then its replies in order.

A batch runs in three steps. ``pack`` encodes its commands without I/O, so
an executor packs every batch before the first write and a bad argument in
one batch sends nothing at all. ``send`` takes a connection and writes, and
``receive`` reads, so an executor without threads can write every node's
batch before it reads any reply. Each command ends with an outcome: its
parsed reply, the ``ResponseError`` the server sent, or ``Lost`` when the
connection failed. A connection that failed after a write, or was
interrupted, is closed and never goes back to its pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, MutableSequence, Optional, Union

from redis.connection import AbstractConnection
from redis.crc import key_slot
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,
    RedisError,
    ResponseError,
    TimeoutError,
)

from .exceptions import PoolTimeoutError, as_cluster_error, unreadable_reply
from .packing import pack_batch
from .replies import (
    FASTER_CALLBACKS,
    PLAIN_REPLIES,
    FastReader,
    changes_reading,
    convert_reply,
    fast_reader,
)
from .routing import command_name
from .topology import ClusterNode

ParseReply = Callable[..., Any]

# One shared empty dict for every command without options: 64 bytes each.
NO_OPTIONS: dict[str, Any] = {}

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


class Command:
    """One queued command and the hash slot its keys share (None: keyless).

    ``replica_read`` marks a read-only command that may go to a replica.
    """

    __slots__ = ("args", "options", "slot", "replica_read", "packed")

    def __init__(
        self,
        args: tuple[Any, ...],
        options: dict[str, Any],
        slot: Optional[int],
        replica_read: bool = False,
        packed: Optional[bytes] = None,
    ) -> None:
        self.args = args
        self.options = options
        self.slot = slot
        self.replica_read = replica_read
        # Wire bytes packed when queued, so execute() starts writing sooner;
        # None when they went into the pipeline's per-node buffer instead.
        self.packed = packed

    @classmethod
    def first_key(cls, args: tuple[Any, ...]) -> "Command":
        """Build the Command of a plain command whose one key is ``args[1]``."""
        key = args[1]
        raw = key.encode() if type(key) is str else key
        return cls(args, NO_OPTIONS, key_slot(raw))

    def __repr__(self) -> str:
        return f"<Command {command_name(self.args)} slot={self.slot}>"


# A pipeline queues its most common commands (one key, first; no options) as
# their bare argument tuple. A Command object per command took 0.13 us to
# build. The garbage collector also traverses every Command while the queue
# grows, so a queue of 100,000 SETs took 0.5 us more per SET than with the
# collector off. A tuple of strings and bytes is untracked at the first
# collection.
QueuedCommand = Union[Command, tuple[Any, ...]]


def args_of(entry: QueuedCommand) -> tuple[Any, ...]:
    """Return the arguments of a queued command, in either form."""
    return entry if type(entry) is tuple else entry.args  # type: ignore[union-attr]


def options_of(entry: QueuedCommand) -> dict[str, Any]:
    """Return the options of a queued command, in either form."""
    return NO_OPTIONS if type(entry) is tuple else entry.options  # type: ignore[union-attr]


def as_commands(entries: list[QueuedCommand]) -> None:
    """Replace every bare argument tuple in entries with its Command, in place."""
    for position, entry in enumerate(entries):
        if type(entry) is tuple:
            entries[position] = Command.first_key(entry)


@dataclass(frozen=True)
class WireContext:
    """Encoding and decoding settings shared by a client's batches.

    ``packer`` is an unconnected connection of the client, used only for its
    command encoder.
    """

    parse: ParseReply
    callbacks: Any
    packer: AbstractConnection
    fast_pack: bool = False


@dataclass
class NodeBatch:
    """Commands of one pipeline round that go to one node, in queue order."""

    node: ClusterNode
    context: Optional[WireContext] = field(default=None, repr=False)
    indices: MutableSequence[int] = field(default_factory=list)
    commands: list[QueuedCommand] = field(default_factory=list)
    # One flag per command, or empty when no command needs ASKING.
    asking: list[bool] = field(default_factory=list)
    packed: list[Optional[bytes]] = field(default_factory=list)
    # True when no command has an option that changes how its reply is
    # read. None when unknown, and _plain_reads() then checks each command.
    plain_reads: Optional[bool] = None
    outcomes: list[Any] = field(default_factory=list)
    # False only when every outcome is known to be a plain reply.
    failed: bool = True
    seconds: float = 0.0
    _payload: Optional[list[Any]] = None
    # A connection taken by acquire() and not yet written to.
    _acquired: Optional[AbstractConnection] = None
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
        self.commands.append(Command(args, options, None))
        self.asking.append(asking)

    def run(self) -> None:
        """Pack, send and read the batch on the calling thread."""
        try:
            self.pack()
            self.send()
            self.receive()
        except BaseException:
            self.abandon()  # a KeyboardInterrupt, say, between two steps
            raise

    def pack(self) -> None:
        """Encode every command; raises DataError for an invalid argument.

        A batch made from a pipeline's queue-time grouping arrives packed.
        """
        if self._payload is not None:
            return
        context = self.context
        if context is None:
            raise RuntimeError("a NodeBatch needs a WireContext to be sent")
        packed = self.packed
        if packed and None not in packed and not any(self.asking):
            self._payload = [b"".join(packed)]  # type: ignore[arg-type]
            return
        self._payload = pack_batch(
            context.packer, self._wire_commands(), context.fast_pack
        )

    @property
    def payload_size(self) -> int:
        """Number of bytes the packed batch writes; 0 before ``pack``."""
        if self._payload is None:
            return 0
        return sum(len(part) for part in self._payload)

    def send(self) -> None:
        """Take a connection and write the packed commands in one write."""
        self.acquire()
        self.write()

    def acquire(self) -> None:
        """Take a connection from the node's pool; on failure, finish the batch."""
        self._started = time.perf_counter()
        if self._payload is None:
            self.pack()
        try:
            self._acquired = self.node.pool.acquire()
        except (AuthenticationError, AuthorizationError, PoolTimeoutError) as exc:
            # Final for this execute: retrying repeats the rejection or wait.
            self._finish([exc] * len(self.commands))
        except (ConnectionError, TimeoutError, OSError) as exc:
            self._finish([Lost(exc, sent=False)] * len(self.commands))
        except RedisError as exc:
            # For example, a rejected connection handshake. Raising it would
            # abandon the round's batches that were already written, so the
            # caller would never learn their outcomes.
            self._finish([exc] * len(self.commands))

    def write(self) -> None:
        """Write the packed commands on the connection ``acquire`` took."""
        connection = self._acquired
        if connection is None:
            return  # acquire() failed and recorded the outcomes
        pool = self.node.pool
        # From here on the connection may carry a partial write, so it moves
        # to _connection, which abandon() closes instead of reusing.
        self._connection, self._acquired = connection, None
        try:
            connection.send_packed_command(self._payload)
        except (ConnectionError, TimeoutError, OSError) as exc:
            # Part of the write may have reached the server, and with it some
            # whole commands, so every command of the batch counts as sent.
            self._connection = None
            pool.discard(connection)
            self._finish([Lost(exc, sent=True)] * len(self.commands))
        except BaseException:
            self._connection = None
            pool.discard(connection)
            raise

    def receive(self) -> None:
        """Read one reply per command; on a connection failure mark the rest."""
        connection = self._connection
        if connection is None:
            return
        outcomes: list[Any] = []
        failed = True
        try:
            reader = fast_reader(connection) if self._plain_reads() else None
            if reader is not None:
                failed = self._read_fast(reader, outcomes)
            else:
                self._read_each(connection, outcomes)
        except (ConnectionError, TimeoutError, OSError) as exc:
            self._connection = None
            self.node.pool.discard(connection)
            missing = len(self.commands) - len(outcomes)
            self._finish(outcomes + [Lost(exc, sent=True)] * missing)
            return
        except (ValueError, IndexError) as exc:
            self._connection = None
            self.node.pool.discard(connection)
            self._finish(outcomes + self._unread(len(outcomes), exc))
            return
        except BaseException:
            self._connection = None
            self.node.pool.discard(connection)
            raise
        self._connection = None
        self.node.pool.release(connection)
        self._finish(outcomes, failed)

    def socket(self) -> Any:
        """Return the socket of a sent, unread batch; None if there is none."""
        if self._connection is None:
            return None
        return getattr(self._connection, "_sock", None)

    def read_timeout(self) -> Optional[float]:
        """Return the socket's read timeout in seconds; None waits forever."""
        sock = self.socket()
        if sock is None:
            return None
        timeout = sock.gettimeout()
        return None if timeout is None else float(timeout)

    def fail_read(self, exc: Exception) -> None:
        """Give up on reading a sent batch: close it and mark every command lost."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        self.node.pool.discard(connection)
        self._finish([Lost(exc, sent=True)] * len(self.commands))

    def _unread(self, position: int, exc: Exception) -> list[Any]:
        """Outcomes from the reply that could not be read to the batch end.

        The connection is closed there, so the later commands' replies are
        lost too.
        """
        args = args_of(self.commands[position])
        error = unreadable_reply(self.node.name, command_name(args), exc)
        error.__cause__ = exc
        missing = len(self.commands) - position - 1
        return [error] + [Lost(error, sent=True)] * missing

    def abandon(self) -> None:
        """Give back a connection that was not written to; close one that was.

        A written connection whose replies will not be read cannot be reused.
        """
        acquired, self._acquired = self._acquired, None
        connection, self._connection = self._connection, None
        if connection is not None:
            self.node.pool.discard(connection)
        if acquired is not None and acquired is not connection:
            self.node.pool.release(acquired)  # nothing was written, so it is clean

    def _plain_reads(self) -> bool:
        if self.plain_reads is not None:
            return self.plain_reads
        return not any(changes_reading(options_of(c)) for c in self.commands)

    def _read_fast(self, reader: FastReader, outcomes: list[Any]) -> bool:
        """Read every reply into outcomes; return whether any is an error."""
        gets = reader.gets
        complete = reader.complete
        callbacks = self.context.callbacks if self.context else {}
        # redis-py's callback table is case-insensitive, and each lookup
        # upper-cases the name; a batch repeats few command names, most often
        # the same name object over and over.
        found: dict[Any, Any] = {}
        name: Any = None
        callback: Any = None
        plain_callback: Any = None
        append = outcomes.append
        flags = iter(self.asking) if any(self.asking) else None
        failed = False
        for command in self.commands:
            if flags is not None and next(flags):
                complete(gets())  # the reply to ASKING; the command's own follows
            reply = gets()
            if type(reply) not in PLAIN_REPLIES:
                reply = complete(reply)
                if isinstance(reply, Exception):
                    append(as_cluster_error(reply))
                    failed = True
                    continue
            if type(command) is tuple:
                args, options = command, None
            else:
                args, options = command.args, command.options  # type: ignore[union-attr]
            if args[0] is not name:
                name = args[0]
                try:
                    callback, plain_callback = found[name]
                except KeyError:
                    callback = callbacks.get(name)
                    plain_callback = FASTER_CALLBACKS.get(callback, callback)
                    found[name] = callback, plain_callback
            if callback is not None:
                if options:
                    reply = convert_reply(callback, options, reply)
                else:
                    reply = plain_callback(reply)
            append(reply)
        return failed

    def _read_each(self, connection: AbstractConnection, outcomes: list[Any]) -> None:
        if self.context is None:
            raise RuntimeError("a NodeBatch needs a WireContext to be read")
        parse = self.context.parse
        asking = self.asking if any(self.asking) else None
        for position, command in enumerate(self.commands):
            before = asking is not None and asking[position]
            args, options = args_of(command), options_of(command)
            outcomes.append(_read_one(connection, parse, args, options, before))

    def _wire_commands(self) -> list[tuple[Any, ...]]:
        if not any(self.asking):
            return [args_of(command) for command in self.commands]
        wire: list[tuple[Any, ...]] = []
        for command, asking in zip(self.commands, self.asking):
            if asking:
                wire.append(_ASKING)
            wire.append(args_of(command))
        return wire

    def _finish(self, outcomes: list[Any], failed: bool = True) -> None:
        self.outcomes = outcomes
        self.failed = failed
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
        return as_cluster_error(exc)
