"""Publish/subscribe on a cluster: classic channels, patterns and shard channels.

Classic SUBSCRIBE and PSUBSCRIBE messages reach every node of a cluster, so one
connection to one master carries them all. Shard channels (SSUBSCRIBE, Redis
7.0 and later) live on the master of their hash slot: ``ClusterPubSub`` keeps
one connection per such master and sends one SSUBSCRIBE per slot, because the
server rejects an SSUBSCRIBE whose channels span slots.

The object keeps the requested subscriptions apart from the connections that
carry them. When a connection breaks, or a server drops a shard channel
because its slot moved, the channels concerned lose their connection, and the
next read subscribes them again where the cluster layout now places them.
Messages published while a channel has no connection are lost, as pub/sub
promises at most one delivery.

Threads: one thread at a time may read (``get_message``, ``listen`` or the
worker of ``run_in_thread``). Other threads may subscribe, unsubscribe and
close meanwhile: a lock serialises them with the reader, which waits for
messages in slices of at most ``WAIT_SLICE`` seconds and so holds the lock for
no longer than that. The object starts no thread except in ``run_in_thread``.
"""

from __future__ import annotations

import logging
import random
import selectors
import threading
import time
from types import TracebackType
from typing import Any, Callable, Iterable, Iterator, Optional, Union

from redis.connection import AbstractConnection
from redis.exceptions import (
    ConnectionError,
    MovedError,
    PubSubError,
    ResponseError,
    TimeoutError,
)

try:
    from redis.typing import Subscription
except ImportError:  # redis-py before 8 has no Subscription objects

    class Subscription:  # type: ignore[no-redef]
        """Stand-in that no argument is an instance of."""

        name: Any
        handler: Any

from .exceptions import as_cluster_error
from .topology import ClusterNode

logger = logging.getLogger(__name__)

# Maximum time, in seconds, that a waiting reader holds the lock.
WAIT_SLICE = 0.1

Channel = Union[str, bytes]
Message = dict[str, Any]
Handler = Callable[[Message], None]
ExceptionHandler = Callable[[BaseException, "ClusterPubSub", "PubSubWorker"], None]

_LINK_ERRORS = (ConnectionError, TimeoutError, OSError)
_PUBLISHED = ("message", "pmessage", "smessage")
_UNSUBSCRIBED = ("unsubscribe", "punsubscribe", "sunsubscribe")
_CHANNELS, _PATTERNS, _SHARD = "channels", "patterns", "shard channels"


class ShardedPubSubUnsupportedError(PubSubError):
    """The cluster's servers have no sharded pub/sub (SSUBSCRIBE, Redis 7.0+)."""


class _Link:
    """One subscribed connection to one node."""

    def __init__(self, node: ClusterNode, connection: AbstractConnection) -> None:
        self.node = node
        self.connection = connection
        # Shard channels subscribed on this connection, by hash slot.
        self.slots: dict[Any, int] = {}

    def send(self, commands: list[tuple[Any, ...]]) -> None:
        """Write commands in one packet. Their replies arrive as messages."""
        connection = self.connection
        connection.send_packed_command(connection.pack_commands(commands))

    def ready(self) -> bool:
        """Tell whether a reply is buffered or the socket has data or closed."""
        if not self.is_open():
            # redis-py's can_read would reconnect silently, without the
            # subscriptions, so a closed connection counts as a failure.
            raise ConnectionError(f"connection to {self.node.name} is closed")
        return bool(self.connection.can_read(timeout=0))

    def read(self) -> Any:
        """Read one reply or message. A MOVED reply raises MovedError."""
        try:
            return self.connection.read_response(push_request=True)
        except ResponseError as exc:
            # redis-py 5 leaves MOVED as a plain ResponseError here.
            converted = as_cluster_error(exc)
            if converted is exc:
                raise
            raise converted from None

    def is_open(self) -> bool:
        """Tell whether the socket is still open."""
        return getattr(self.connection, "_sock", None) is not None

    def fileno(self) -> int:
        """Return the socket's file descriptor, for a selector."""
        return int(self.connection._sock.fileno())  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close the connection: it may hold unread messages, so none is reused."""
        self.node.pool.discard(self.connection)


class _LinkFailure(Exception):
    """A connection to node failed while it was opened or written."""

    def __init__(self, node: ClusterNode, error: Exception) -> None:
        super().__init__(str(error))
        self.node = node
        self.error = error


class ClusterPubSub:
    """Subscriptions to channels, patterns and shard channels of one cluster.

    Build it with ``RedisCluster.pubsub()``. The methods and message
    dictionaries are those of ``redis.client.PubSub``. Messages of all nodes
    arrive through ``get_message``, ``listen`` and ``run_in_thread``.
    """

    def __init__(self, client: Any, ignore_subscribe_messages: bool = False) -> None:
        self.client = client
        self.ignore_subscribe_messages = ignore_subscribe_messages
        self._encoder = client.get_encoder()
        self._lock = threading.RLock()
        self._subscribed_event = threading.Event()
        self._requested: dict[str, dict[Any, Optional[Handler]]] = {
            _CHANNELS: {}, _PATTERNS: {}, _SHARD: {}
        }
        self._pending: dict[str, set[Any]] = {_CHANNELS: set(), _PATTERNS: set(),
                                              _SHARD: set()}
        self._classic: Optional[_Link] = None
        self._classic_lost = False
        self._links: dict[str, _Link] = {}
        self._homes: dict[Any, _Link] = {}
        self._orphans: set[Any] = set()
        self._layout_stale = False
        self._turn = 0

    # Life cycle.

    def __enter__(self) -> "ClusterPubSub":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def close(self) -> None:
        """Close every connection and forget every subscription.

        The object stays usable: a later subscribe opens new connections.
        """
        with self._lock:
            links = self._all_links()
            self._classic = None
            self._classic_lost = False
            self._links.clear()
            self._homes.clear()
            self._orphans.clear()
            for kind in self._requested:
                self._requested[kind].clear()
                self._pending[kind].clear()
            self._subscribed_event.clear()
        for link in links:
            link.close()

    reset = close

    # State.

    @property
    def channels(self) -> dict[Any, Optional[Handler]]:
        """Subscribed channels and their handlers (None: no handler)."""
        return dict(self._requested[_CHANNELS])

    @property
    def patterns(self) -> dict[Any, Optional[Handler]]:
        """Subscribed patterns and their handlers (None: no handler)."""
        return dict(self._requested[_PATTERNS])

    @property
    def shard_channels(self) -> dict[Any, Optional[Handler]]:
        """Subscribed shard channels and their handlers (None: no handler)."""
        return dict(self._requested[_SHARD])

    @property
    def subscribed(self) -> bool:
        """True while any channel, pattern or shard channel is subscribed."""
        return self._subscribed_event.is_set()

    def _update_subscribed(self) -> None:
        if any(self._requested.values()):
            self._subscribed_event.set()
        else:
            self._subscribed_event.clear()

    # Subscribing.

    def subscribe(self, *channels: Any, **handlers: Handler) -> None:
        """Subscribe to channels. A keyword names a channel and its handler.

        A message of a channel with a handler goes to the handler instead of
        being returned by ``get_message``.
        """
        self._add_classic(_CHANNELS, "SUBSCRIBE", channels, handlers)

    def psubscribe(self, *patterns: Any, **handlers: Handler) -> None:
        """Subscribe to glob-style patterns. A keyword names a pattern and a handler."""
        self._add_classic(_PATTERNS, "PSUBSCRIBE", patterns, handlers)

    def ssubscribe(self, *channels: Any, **handlers: Handler) -> None:
        """Subscribe to shard channels, each at the master of its hash slot.

        Raises ShardedPubSubUnsupportedError on servers older than Redis 7.0.
        """
        self._check_sharded_support()
        new = self._parse(channels, handlers)
        with self._lock:
            self._requested[_SHARD].update(new)
            self._pending[_SHARD].difference_update(new)
            self._update_subscribed()
            self._restore()

    def unsubscribe(self, *channels: Any) -> None:
        """Unsubscribe from channels, or from every channel if none is given."""
        self._remove_classic(_CHANNELS, "UNSUBSCRIBE", channels)

    def punsubscribe(self, *patterns: Any) -> None:
        """Unsubscribe from patterns, or from every pattern if none is given."""
        self._remove_classic(_PATTERNS, "PUNSUBSCRIBE", patterns)

    def sunsubscribe(self, *channels: Any) -> None:
        """Unsubscribe from shard channels, or from all if none is given."""
        with self._lock:
            requested = self._requested[_SHARD]
            names = self._names(channels) if channels else list(requested)
            by_link: dict[int, tuple[_Link, dict[int, list[Any]]]] = {}
            for name in names:
                link = self._homes.get(name)
                if link is None:
                    # Not subscribed on any server now: nothing to confirm.
                    requested.pop(name, None)
                    self._orphans.discard(name)
                    continue
                self._pending[_SHARD].add(name)
                slots = by_link.setdefault(id(link), (link, {}))[1]
                slots.setdefault(link.slots[name], []).append(name)
            for link, slots in by_link.values():
                commands = [("SUNSUBSCRIBE", *group) for group in slots.values()]
                self._send_or_drop(link, commands)
            self._update_subscribed()

    def _add_classic(
        self,
        kind: str,
        command: str,
        names: tuple[Any, ...],
        handlers: dict[str, Handler],
    ) -> None:
        new = self._parse(names, handlers)
        with self._lock:
            self._requested[kind].update(new)
            self._pending[kind].difference_update(new)
            self._update_subscribed()
            if self._classic is not None and new:
                self._send_or_drop(self._classic, [(command, *new)])
            self._restore()

    def _remove_classic(self, kind: str, command: str, names: tuple[Any, ...]) -> None:
        with self._lock:
            requested = self._requested[kind]
            targets = self._names(names) if names else list(requested)
            if self._classic is None:
                for name in targets:
                    requested.pop(name, None)
            else:
                self._pending[kind].update(targets)
                self._send_or_drop(self._classic, [(command, *targets)])
            self._update_subscribed()

    def _check_sharded_support(self) -> None:
        if "ssubscribe" in self.client.router.parser.commands:
            return
        raise ShardedPubSubUnsupportedError(
            f"SSUBSCRIBE needs Redis 7.0 or later (or Valkey 7.2 or later), but "
            f"the cluster runs {self._server_version()}, which has no sharded "
            f"pub/sub; upgrade the servers, or use subscribe() and publish()"
        )

    def _server_version(self) -> str:
        try:
            info = self.client.send_to_node(
                self.client.topology.default_node(), ("INFO", "server"), {}
            )
        except (ResponseError, *_LINK_ERRORS) as exc:
            return f"a server whose version could not be read ({exc})"
        return f"Redis {info.get('redis_version', 'of unknown version')}"

    # Argument handling.

    def _parse(
        self, names: Iterable[Any], handlers: dict[str, Handler]
    ) -> dict[Any, Optional[Handler]]:
        parsed: dict[Any, Optional[Handler]] = {}
        for name in _flatten(names):
            if isinstance(name, Subscription):
                parsed[self._normalize(name.name)] = name.handler
            else:
                parsed[self._normalize(name)] = None
        for name, handler in handlers.items():
            parsed[self._normalize(name)] = handler
        return parsed

    def _names(self, names: Iterable[Any]) -> list[Any]:
        return [self._normalize(name) for name in _flatten(names)]

    def _normalize(self, name: Any) -> Any:
        # Replies carry names as str with decode_responses and as bytes
        # otherwise. Keys take the same form, so a reply finds its entry.
        raw = self._encoder.encode(name)
        if self._encoder.decode_responses:
            return self._encoder.decode(raw, force=True)
        return raw

    # Connections.

    def _all_links(self) -> list[_Link]:
        links = list(self._links.values())
        if self._classic is not None:
            links.insert(0, self._classic)
        return links

    def _open(self, node: ClusterNode) -> _Link:
        try:
            return _Link(node, node.pool.acquire())
        except _LINK_ERRORS as exc:
            raise _LinkFailure(node, exc) from exc

    def _send_or_drop(self, link: _Link, commands: list[tuple[Any, ...]]) -> None:
        """Send commands, or drop the link on failure so that _restore reopens it."""
        try:
            link.send(commands)
        except _LINK_ERRORS as exc:
            self._drop(link, exc)
            self._restore()

    def _drop(self, link: _Link, error: BaseException) -> None:
        """Close a failed link and mark its subscriptions for resubscription."""
        link.close()
        if link is self._classic:
            self._classic = None
            for kind in (_CHANNELS, _PATTERNS):
                # The server forgot them with the connection: no confirmation
                # will come.
                for name in self._pending[kind]:
                    self._requested[kind].pop(name, None)
                self._pending[kind].clear()
            self._classic_lost = True
            logger.warning(
                "pub/sub connection to %s failed: %s", link.node.name, error
            )
        if self._links.get(link.node.name) is link:
            del self._links[link.node.name]
        if link.slots:
            logger.warning(
                "shard channel connection to %s failed: %s", link.node.name, error
            )
        for name in link.slots:
            self._homes.pop(name, None)
            if name in self._pending[_SHARD]:
                self._pending[_SHARD].discard(name)
                self._requested[_SHARD].pop(name, None)
            else:
                self._orphans.add(name)
        link.slots.clear()
        self._update_subscribed()

    # Restoring subscriptions.

    def _restore(self) -> None:
        """Subscribe whatever has no connection, retrying with the client's backoff.

        Raises the last connection error once the retries of the client's
        ``retry`` are used up. A later call tries again.
        """
        retries, backoff = self.client.retry_budget()
        failures = 0
        while True:
            try:
                self._refresh_if_stale()
                self._restore_classic()
                self._restore_shards()
                return
            except _LinkFailure as failure:
                failures += 1
                logger.warning(
                    "pub/sub subscription to %s failed (attempt %d): %s",
                    failure.node.name, failures, failure.error,
                )
                error = failure.error
            # Raised outside the handler, so the error is not chained to the
            # internal _LinkFailure and keeps its own context.
            if failures > retries:
                raise error
            self._layout_stale = True
            time.sleep(backoff.compute(failures))

    def _refresh_if_stale(self) -> None:
        if not self._layout_stale:
            return
        try:
            self.client.topology.refresh()
        except (ResponseError, *_LINK_ERRORS) as exc:
            logger.warning("cluster layout refresh failed: %s", exc)
            return
        self._layout_stale = False

    def _restore_classic(self) -> None:
        channels = list(self._requested[_CHANNELS])
        patterns = list(self._requested[_PATTERNS])
        if self._classic is not None or not (channels or patterns):
            return
        link = self._open(random.choice(self._masters()))
        commands = []
        if channels:
            commands.append(("SUBSCRIBE", *channels))
        if patterns:
            commands.append(("PSUBSCRIBE", *patterns))
        try:
            link.send(commands)
        except _LINK_ERRORS as exc:
            link.close()
            raise _LinkFailure(link.node, exc) from exc
        self._classic = link
        if self._classic_lost:
            self._classic_lost = False
            logger.warning(
                "resubscribed on %s to channels %s and patterns %s",
                link.node.name, channels, patterns,
            )

    def _masters(self) -> list[ClusterNode]:
        masters = self.client.topology.table.primary_nodes()
        if not masters:
            masters = [self.client.topology.default_node()]
        return list(masters)

    def _restore_shards(self) -> None:
        homeless = [name for name in self._requested[_SHARD] if name not in self._homes]
        table = self.client.topology.table
        plan: dict[str, tuple[ClusterNode, dict[int, list[Any]]]] = {}
        for name in homeless:
            slot = self.client.router.slot_for_key(name)
            node = table.primary_for(slot)
            slots = plan.setdefault(node.name, (node, {}))[1]
            slots.setdefault(slot, []).append(name)
        for node, slots in plan.values():
            self._subscribe_shards(node, slots)

    def _subscribe_shards(self, node: ClusterNode, slots: dict[int, list[Any]]) -> None:
        link = self._links.get(node.name)
        if link is None:
            link = self._links[node.name] = self._open(node)
        try:
            link.send([("SSUBSCRIBE", *names) for names in slots.values()])
        except _LINK_ERRORS as exc:
            self._drop(link, exc)
            raise _LinkFailure(node, exc) from exc
        restored = []
        for slot, names in slots.items():
            for name in names:
                link.slots[name] = slot
                self._homes[name] = link
                if name in self._orphans:
                    self._orphans.discard(name)
                    restored.append(name)
        if restored:
            logger.warning(
                "resubscribed on %s to shard channels %s", node.name, restored
            )

    # Reading.

    def get_message(
        self, ignore_subscribe_messages: bool = False, timeout: Optional[float] = 0.0
    ) -> Optional[Message]:
        """Return the next message of any node, or None if none came in time.

        ``timeout`` is in seconds, and None waits until a message arrives. While
        nothing is subscribed, it waits up to ``timeout`` for a subscription
        from another thread, then returns None.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._subscribed_event.wait(timeout):
            return None
        return self._next_message(ignore_subscribe_messages, deadline)

    get_sharded_message = get_message

    def listen(self) -> Iterator[Message]:
        """Yield messages until every subscription has been unsubscribed."""
        while self.subscribed:
            message = self._next_message(False, None)
            if message is not None:
                yield message

    def _next_message(
        self, ignore_subscribe_messages: bool, deadline: Optional[float]
    ) -> Optional[Message]:
        while True:
            with self._lock:
                if not self.subscribed:
                    return None
                self._restore()
                message = self._read_round(ignore_subscribe_messages)
                if message is not None:
                    return message
                wait = WAIT_SLICE
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
                self._wait_readable(wait)

    def _read_round(self, ignore_subscribe_messages: bool) -> Optional[Message]:
        """Read one reply from each ready link in turn until one yields a message.

        The starting link rotates between calls, so a busy node cannot starve
        the others.
        """
        links = self._all_links()
        if not links:
            return None
        self._turn = (self._turn + 1) % len(links)
        for link in links[self._turn:] + links[: self._turn]:
            try:
                if not link.ready():
                    continue
                response = link.read()
            except MovedError as exc:
                self._moved(link, exc)
                continue
            except _LINK_ERRORS as exc:
                self._drop(link, exc)
                continue
            message = self._handle(link, response, ignore_subscribe_messages)
            if message is not None:
                return message
        return None

    def _wait_readable(self, wait: float) -> None:
        links = [link for link in self._all_links() if link.is_open()]
        if not links:
            time.sleep(wait)
            return
        with selectors.DefaultSelector() as selector:
            for link in links:
                selector.register(link.fileno(), selectors.EVENT_READ)
            selector.select(wait)

    def _moved(self, link: _Link, exc: MovedError) -> None:
        """Resubscribe the shard channels of a slot for which the node replied MOVED."""
        host = exc.host or link.node.host
        self.client.topology.record_moved(exc.slot_id, host, exc.port)
        names = [name for name, slot in link.slots.items() if slot == exc.slot_id]
        logger.warning(
            "slot %d moved from %s to %s:%s; resubscribing shard channels %s",
            exc.slot_id, link.node.name, host, exc.port, names,
        )
        self._unhome(link, names)

    def _unhome(self, link: _Link, names: list[Any]) -> None:
        for name in names:
            link.slots.pop(name, None)
            if self._homes.get(name) is link:
                del self._homes[name]
            self._orphans.add(name)
        self._close_if_idle(link)

    def _close_if_idle(self, link: _Link) -> None:
        if link is self._classic or link.slots:
            return
        if self._links.get(link.node.name) is link:
            del self._links[link.node.name]
        link.close()

    # Messages.

    def _handle(
        self, link: _Link, response: Any, ignore_subscribe_messages: bool
    ) -> Optional[Message]:
        """Turn a reply into a message dict, or None if it is not for the caller."""
        if not isinstance(response, (list, tuple)) or len(response) < 2:
            return None  # a PING reply or other stray reply
        kind = _text(response[0])
        if kind == "pong":
            return None
        if kind == "pmessage":
            message = {"type": kind, "pattern": response[1],
                       "channel": response[2], "data": response[3]}
        else:
            message = {"type": kind, "pattern": None,
                       "channel": response[1], "data": response[2]}
        if kind in _PUBLISHED:
            return self._dispatch(kind, message)
        if kind == "sunsubscribe" and self._dropped_by_server(link, response[1]):
            return None
        if kind in _UNSUBSCRIBED:
            self._confirm_unsubscribe(kind, link, response[1])
        if ignore_subscribe_messages or self.ignore_subscribe_messages:
            return None
        return message

    def _dispatch(self, kind: str, message: Message) -> Optional[Message]:
        if kind == "pmessage":
            handler = self._requested[_PATTERNS].get(message["pattern"])
        elif kind == "smessage":
            handler = self._requested[_SHARD].get(message["channel"])
        else:
            handler = self._requested[_CHANNELS].get(message["channel"])
        if handler is None:
            return message
        handler(message)
        return None

    def _dropped_by_server(self, link: _Link, name: Any) -> bool:
        """Resubscribe a shard channel that the server dropped unasked.

        Redis 7 sends such a sunsubscribe when the channel's slot moved to
        another node, so the layout is read again before resubscribing.
        """
        unasked = (
            name in self._requested[_SHARD]
            and name not in self._pending[_SHARD]
            and self._homes.get(name) is link
        )
        if not unasked:
            return False
        logger.warning(
            "%s dropped shard channel %r; reading the cluster layout and "
            "resubscribing", link.node.name, name,
        )
        self._layout_stale = True
        self._unhome(link, [name])
        return True

    def _confirm_unsubscribe(self, kind: str, link: _Link, name: Any) -> None:
        group = {"unsubscribe": _CHANNELS, "punsubscribe": _PATTERNS}.get(
            kind, _SHARD
        )
        if name not in self._pending[group]:
            return
        self._pending[group].discard(name)
        self._requested[group].pop(name, None)
        if group == _SHARD:
            link.slots.pop(name, None)
            if self._homes.get(name) is link:
                del self._homes[name]
            self._close_if_idle(link)
        self._update_subscribed()

    # Worker thread.

    def run_in_thread(
        self,
        sleep_time: float = 0.0,
        daemon: bool = False,
        exception_handler: Optional[ExceptionHandler] = None,
    ) -> "PubSubWorker":
        """Start a thread that reads messages and passes them to their handlers.

        Every subscription needs a handler. ``sleep_time`` is the longest wait
        for a message, in seconds, between checks of the stop flag.
        """
        for kind, requested in self._requested.items():
            for name, handler in requested.items():
                if handler is None:
                    raise PubSubError(
                        f"{kind[:-1]} {name!r} has no handler; subscribe it "
                        f"with a handler keyword before run_in_thread()"
                    )
        worker = PubSubWorker(self, sleep_time, daemon, exception_handler)
        worker.start()
        return worker


class PubSubWorker(threading.Thread):
    """A thread that feeds a ClusterPubSub's messages to their handlers."""

    def __init__(
        self,
        pubsub: ClusterPubSub,
        sleep_time: float,
        daemon: bool = False,
        exception_handler: Optional[ExceptionHandler] = None,
    ) -> None:
        super().__init__(daemon=daemon, name="rediscluster-pubsub")
        self.pubsub = pubsub
        self.sleep_time = sleep_time
        self.exception_handler = exception_handler
        self._running = threading.Event()
        self._running.set()

    def run(self) -> None:
        while self._running.is_set():
            try:
                self.pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self.sleep_time
                )
            except BaseException as exc:
                if self.exception_handler is None:
                    raise
                self.exception_handler(exc, self.pubsub, self)
        self.pubsub.close()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop reading, close the ClusterPubSub and wait up to timeout seconds."""
        self._running.clear()
        if threading.current_thread() is not self and self.is_alive():
            self.join(timeout)


def _flatten(names: Iterable[Any]) -> Iterator[Any]:
    # redis-py accepts channels as separate arguments or as one list.
    for name in names:
        if isinstance(name, (list, tuple, set)):
            yield from name
        else:
            yield name


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


__all__ = ["ClusterPubSub", "PubSubWorker", "ShardedPubSubUnsupportedError"]
