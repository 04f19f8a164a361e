"""MULTI/EXEC and WATCH for ``ClusterPipeline``.

A transaction runs on one node, so every key in it must hash to one slot; the
check happens when a command is queued. After ``watch()`` the pipeline keeps
one connection to the slot's master: commands run at once on it until
``multi()``, and ``execute()`` sends MULTI ... EXEC on the same connection,
as redis-py's ``Pipeline`` does on a single server.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Optional, cast

from redis.connection import AbstractConnection
from redis.exceptions import (
    AskError,
    AuthenticationError,
    AuthorizationError,
    ClusterDownError,
    ConnectionError,
    ExecAbortError,
    MovedError,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
    WatchError,
)

from .exceptions import (
    CrossSlotError,
    OutcomeUnknownError,
    PipelineUsageError,
    PoolTimeoutError,
    TooManyRedirectsError,
    as_cluster_error,
)
from .routing import command_name

if TYPE_CHECKING:
    from .batch import Command, QueuedCommand
    from .client import RedisCluster
    from .topology import ClusterNode

logger = logging.getLogger(__name__)

_CALLBACK_ONLY_OPTIONS = ("keys", "EMPTY_RESPONSE", "NEVER_DECODE")


class _Redirected(Exception):
    """A queued command got a MOVED or ASK reply, so EXEC applied nothing."""

    def __init__(self, error: AskError) -> None:
        super().__init__(str(error))
        self.error = error


class _NotSent(Exception):
    """No connection to the transaction's node; nothing was written."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _MultiRejected(Exception):
    """MULTI got an error reply, so the commands sent after it ran one by one."""

    def __init__(self, error: ResponseError, count: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.count = count


class TransactionMixin:
    """The MULTI/EXEC half of ``ClusterPipeline``."""

    client: "RedisCluster"
    command_stack: list["QueuedCommand"]
    response_callbacks: Any

    def _init_transaction(self) -> None:
        self._slot: Optional[int] = None
        self._watching = False
        self._explicit_multi = False
        self._watch_node: Optional["ClusterNode"] = None
        self._watch_connection: Optional[AbstractConnection] = None

    def _check_transaction_slot(self, name: str, slot: Optional[int]) -> None:
        if slot is None:
            return
        if self._slot is None:
            self._slot = slot
            return
        if slot != self._slot:
            raise CrossSlotError(
                f"{name} uses hash slot {slot}, but this transaction's keys are "
                f"in slot {self._slot}; a transaction runs on one node, so give "
                f"all its keys one hash tag such as {{user1}}"
            )

    def _runs_immediately(self) -> bool:
        return self._watching and not self._explicit_multi

    # WATCH.

    def watch(self, *names: Any) -> bool:
        """WATCH keys of one slot on a connection this pipeline keeps."""
        if self._explicit_multi:
            raise PipelineUsageError(
                "WATCH after multi() is not allowed; call watch() first"
            )
        if not names:
            raise PipelineUsageError("watch() needs at least one key")
        slot = self.client.router.slot(("WATCH", *names))
        self._check_transaction_slot("WATCH", slot)
        fresh = self._watch_connection is None
        try:
            self._immediate_execute(("WATCH", *names), {})
        except WatchError:
            if not fresh:
                raise
            # Nothing was watched yet, so the slot map update is enough to
            # send the first WATCH to the new owner.
            self._immediate_execute(("WATCH", *names), {})
        self._watching = True
        return True

    def unwatch(self) -> bool:
        """Forget every WATCH and give the connection back."""
        if self._watch_connection is not None:
            self._immediate_execute(("UNWATCH",), {})
        self._release_watch()
        return True

    def multi(self) -> None:
        """Start queuing the transaction after watch()."""
        if self._explicit_multi:
            raise PipelineUsageError("multi() was already called")
        if self.command_stack:
            raise PipelineUsageError(
                "commands are already queued; call multi() before queuing"
            )
        self._explicit_multi = True
        self.transaction = True

    def _immediate_execute(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        slot = self.client.router.slot(args)
        self._check_transaction_slot(command_name(args), slot)
        connection = self._watch_connection
        if connection is None:
            node = self._transaction_node()
            connection = node.pool.acquire()
            self._watch_node, self._watch_connection = node, connection
        try:
            connection.send_command(*args)
            return self.client.parse_response(connection, args[0], **options)
        except ResponseError as exc:
            error = as_cluster_error(exc)
            if not isinstance(error, AskError):
                raise
            if isinstance(error, MovedError):
                self.client.topology.record_moved(
                    error.slot_id, error.host or node_host(self), error.port
                )
            self._release_watch()
            raise WatchError(
                f"slot {self._slot} moved while watching ({error}); retry the "
                f"transaction"
            ) from error
        except BaseException:
            self._release_watch(broken=True)
            raise

    def _release_watch(self, broken: bool = False) -> None:
        node, connection = self._watch_node, self._watch_connection
        self._watch_node = self._watch_connection = None
        self._watching = False
        if node is None or connection is None:
            return
        if broken:
            node.pool.discard(connection)
        else:
            node.pool.release(connection)

    def _reset_transaction(self) -> None:
        if self._watch_connection is not None:
            try:
                self.unwatch()
            except (ConnectionError, TimeoutError, ResponseError):
                self._release_watch(broken=True)
        self._slot = None
        self._explicit_multi = False

    def _transaction_node(self) -> "ClusterNode":
        topology = self.client.topology
        if self._slot is None:
            return topology.default_node()
        return topology.table.primary_for(self._slot)

    # MULTI/EXEC.

    def _execute_transaction(self, raise_on_error: bool) -> list[Any]:
        # A transaction never groups at queue time, which is when bare
        # argument tuples are queued, so its queue contains Commands only.
        commands = cast("list[Command]", self.command_stack)
        if not commands:
            return []
        retries, backoff = self.client.retry_budget()
        failures = redirects = 0
        ask_node: Optional["ClusterNode"] = None
        while True:
            try:
                return self._run_transaction(commands, raise_on_error, ask_node)
            except _Redirected as redirect:
                redirects += 1
                if redirects > self.client.max_redirects:
                    raise TooManyRedirectsError(
                        f"a transaction was redirected {redirects} times, last "
                        f"by {redirect.error}; the cluster is resharding or "
                        f"misconfigured, or raise max_redirects"
                    ) from redirect.error
                ask_node = self._follow(redirect.error)
                continue
            except (TryAgainError, ClusterDownError) as exc:
                error: Exception = exc
            except _NotSent as not_sent:
                error = not_sent.error
            failures += 1
            if failures > retries or self._watching:
                raise error
            if not isinstance(error, TryAgainError):
                self._refresh_quietly()
            time.sleep(backoff.compute(failures))

    def _refresh_quietly(self) -> None:
        try:
            self.client.topology.refresh()
        except (AuthenticationError, AuthorizationError):
            raise
        except RedisError as exc:
            logger.warning("cluster layout refresh failed: %s", exc)

    def _follow(self, error: AskError) -> Optional["ClusterNode"]:
        topology = self.client.topology
        if isinstance(error, MovedError):
            topology.record_moved(error.slot_id, error.host, error.port)
        if self._watching:
            raise WatchError(
                f"slot {self._slot} moved while watching ({error}); retry the "
                f"transaction"
            ) from error
        if isinstance(error, MovedError):
            return None
        return topology.reported_node(error.host or node_host(self), error.port)

    def _run_transaction(
        self,
        commands: list["Command"],
        raise_on_error: bool,
        ask_node: Optional["ClusterNode"],
    ) -> list[Any]:
        node = self._watch_node or ask_node or self._transaction_node()
        connection = self._watch_connection
        if connection is None:
            connection = self._acquire(node)
        owned = self._watch_connection is None

        # One ASKING before MULTI covers the whole transaction: the server keeps
        # the flag until EXEC, while an ASKING inside MULTI would only queue.
        wire: list[tuple[Any, ...]] = [("ASKING",)] if ask_node is not None else []
        wire.append(("MULTI",))
        wire.extend(command.args for command in commands)
        wire.append(("EXEC",))

        try:
            connection.send_packed_command(connection.pack_commands(wire))
            replies = self._read_transaction(connection, commands, ask_node is not None)
        except _MultiRejected as rejected:
            # The replies of the commands and of EXEC are still unread.
            self._drop(node, connection, owned)
            raise type(rejected.error)(
                f"MULTI was rejected by {node.name} ({rejected.error}); the "
                f"{rejected.count} commands sent after it may have run without "
                f"a transaction"
            ) from rejected.error
        except (WatchError, ResponseError, _Redirected):
            # Every reply up to EXEC's was read, so the connection is clean.
            self._give_back(node, connection, owned)
            raise
        except (ConnectionError, TimeoutError, OSError) as exc:
            self._drop(node, connection, owned)
            raise OutcomeUnknownError(
                f"a transaction of {len(commands)} commands was sent to "
                f"{node.name}, then the connection failed ({exc}); EXEC may or "
                f"may not have run"
            ) from exc
        except BaseException:
            self._drop(node, connection, owned)
            raise

        self._give_back(node, connection, owned)
        return self._finish(commands, replies, raise_on_error)

    def _give_back(
        self, node: "ClusterNode", connection: AbstractConnection, owned: bool
    ) -> None:
        if owned:
            node.pool.release(connection)
        else:
            self._release_watch()

    def _acquire(self, node: "ClusterNode") -> AbstractConnection:
        try:
            return node.pool.acquire()
        except (AuthenticationError, AuthorizationError, PoolTimeoutError):
            raise
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise _NotSent(exc) from exc

    def _drop(
        self, node: "ClusterNode", connection: AbstractConnection, owned: bool
    ) -> None:
        if owned:
            node.pool.discard(connection)
        else:
            self._release_watch(broken=True)

    def _read_transaction(
        self,
        connection: AbstractConnection,
        commands: list["Command"],
        asking: bool,
    ) -> list[Any]:
        if asking:
            _read_ignoring_error(connection)
        try:
            connection.read_response()  # +OK for MULTI
        except ResponseError as exc:
            raise _MultiRejected(exc, len(commands)) from exc
        queued_errors: dict[int, Exception] = {}
        for index in range(len(commands)):
            try:
                connection.read_response()  # +QUEUED
            except ResponseError as exc:
                queued_errors[index] = as_cluster_error(exc)
        try:
            replies = connection.read_response()
        except ExecAbortError as exc:
            _raise_queued_error(queued_errors, exc)
            raise
        except ResponseError as exc:
            # EXEC itself is checked against the slot map once more.
            _raise_cluster_reply(as_cluster_error(exc))
            raise
        if replies is None:
            raise WatchError("a watched key changed; the transaction did not run")
        return list(replies)

    def _finish(
        self, commands: list["Command"], replies: list[Any], raise_on_error: bool
    ) -> list[Any]:
        from .pipeline import annotate

        results = []
        for command, reply in zip(commands, replies):
            if not isinstance(reply, Exception):
                reply = self._apply_callback(command, reply)
            results.append(reply)
        if raise_on_error:
            for position, result in enumerate(results):
                if isinstance(result, Exception):
                    annotate(result, position, commands[position].args)
                    raise result
        return results

    def _apply_callback(self, command: "Command", reply: Any) -> Any:
        callback = self.response_callbacks.get(command.args[0])
        if callback is None:
            return reply
        options = {
            key: value
            for key, value in command.options.items()
            if key not in _CALLBACK_ONLY_OPTIONS
        }
        return callback(reply, **options)


def node_host(pipeline: Any) -> str:
    """Return the host of the node the pipeline watches on, for MOVED ":port"."""
    node = pipeline._watch_node
    return str(node.host) if node is not None else ""


def _raise_cluster_reply(error: Exception) -> None:
    """Raise a redirect or retryable reply as the transaction loop expects."""
    if isinstance(error, AskError):
        raise _Redirected(error)
    if isinstance(error, (TryAgainError, ClusterDownError)):
        raise error


def _raise_queued_error(errors: dict[int, Exception], abort: ExecAbortError) -> None:
    """Raise the queued command error that made EXEC abort, redirects first."""
    for error in errors.values():
        _raise_cluster_reply(error)
    if errors:
        raise errors[min(errors)] from abort


def _read_ignoring_error(connection: AbstractConnection) -> None:
    try:
        connection.read_response()
    except ResponseError:
        pass  # the command's own QUEUED reply carries any error
