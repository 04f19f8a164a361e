"""``ClusterPipeline``: buffer commands, run them as one batch per node.

``execute`` works in rounds. Each round groups the pending commands by node
from one snapshot of the slot map, lets an executor run the node batches, and
places every outcome at its queue position. Commands that got a MOVED, ASK,
TRYAGAIN or CLUSTERDOWN reply, and commands whose connection failed before
they were sent, go to the next round. The other outcomes are final. A write whose reply
was lost is final too (``OutcomeUnknownError``) unless the command is
read-only, because sending it again could apply it twice.
"""

from __future__ import annotations

import logging
import threading
import time
from binascii import crc_hqx
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import redis
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    RedisError,
    TryAgainError,
)

from .batch import (
    NO_OPTIONS,
    Command,
    Lost,
    NodeBatch,
    QueuedCommand,
    WireContext,
    args_of,
    as_commands,
)
from .exceptions import (
    CrossSlotError,
    OutcomeUnknownError,
    PipelineUsageError,
    TooManyRedirectsError,
)
from .logs import limiter
from .packing import (
    _PLAIN_TYPES,
    CRLF,
    SET_KEY_HEADERS,
    VALUE_HEADERS,
    _pack_command,
    pack_one,
    pack_set,
)
from .queueplan import QueuePlan
from .retries import pause_after_redirects
from .routing import command_name
from .topology import REPLICA, ClusterNode, SlotTable
from .transaction import TransactionMixin

if TYPE_CHECKING:
    from .client import RedisCluster


logger = logging.getLogger(__name__)

_KEYS_ONLY = {"keys": None}.keys()

# Commands that change connection state or stream replies, which a batch of
# independent commands cannot express, and what to use instead.
_UNSUPPORTED = {
    "MULTI": "pipeline(transaction=True)",
    "EXEC": "pipeline(transaction=True)",
    "DISCARD": "pipe.reset()",
    "WATCH": "pipe.watch(...) before queuing commands",
    "UNWATCH": "pipe.unwatch()",
    "SUBSCRIBE": "rc.pubsub()",
    "PSUBSCRIBE": "rc.pubsub()",
    "SSUBSCRIBE": "rc.pubsub()",
    "UNSUBSCRIBE": "rc.pubsub()",
    "PUNSUBSCRIBE": "rc.pubsub()",
    "SUNSUBSCRIBE": "rc.pubsub()",
    "MONITOR": "redis.Redis(...).monitor() on one node",
    "SELECT": "key prefixes: Redis Cluster has only database 0",
    "SWAPDB": "key prefixes: Redis Cluster has only database 0",
    "MOVE": "key prefixes: Redis Cluster has only database 0",
    "ASKING": "nothing: the pipeline sends ASKING itself after an ASK reply",
    "READONLY": "read_from_replicas on the client",
    "READWRITE": "the default client settings",
}


@dataclass
class NodeStats:
    """Per-node figures of the last ``execute``."""

    commands: int = 0
    seconds: float = 0.0
    redirects: int = 0
    retries: int = 0


def group_by_node(
    commands: Sequence[Command],
    pending: Sequence[int],
    table: SlotTable,
    default_node: Callable[[], ClusterNode],
    ask_targets: dict[int, ClusterNode],
    context: Optional[WireContext] = None,
    reader_for: Optional[Callable[[SlotTable, int], ClusterNode]] = None,
) -> list[NodeBatch]:
    """Split pending command indices into one batch per node, keeping order.

    ``reader_for`` picks the node for commands marked ``replica_read``.
    """
    batches: dict[int, NodeBatch] = {}
    primaries = table.primaries
    for index in pending:
        command = commands[index]
        slot = command.slot
        target = ask_targets.get(index) if ask_targets else None
        if target is not None:
            node = target
        elif slot is None:
            node = default_node()
        elif command.replica_read and reader_for is not None:
            node = reader_for(table, slot)
        else:
            node = primaries[slot] or table.primary_for(slot)
        batch = batches.get(id(node))
        if batch is None:
            batch = batches[id(node)] = NodeBatch(node, context)
        batch.indices.append(index)
        batch.commands.append(command)
        batch.asking.append(target is not None)
        batch.packed.append(command.packed)
    # Every caller takes node connections in the same order, so two pipelines
    # never each hold a connection the other waits for in a bounded pool.
    return sorted(batches.values(), key=_node_order)


def _node_order(batch: NodeBatch) -> tuple[str, int]:
    return batch.node.host, batch.node.port


def describe(args: tuple[Any, ...], limit: int = 60) -> str:
    """Return a short, readable form of a command for error messages."""
    text = " ".join(
        a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)
        for a in args
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


# As in redis-py's own Pipeline, ``transaction`` is an attribute here, not the
# redis.Redis method, and watch() and unwatch() return the reply instead of
# None. ``client`` is the owning RedisCluster, not redis.Redis.client().
class ClusterPipeline(TransactionMixin, redis.Redis):  # type: ignore[misc]
    """Buffers commands and sends them as one batch per node on ``execute``.

    Command methods queue and return the pipeline, so calls chain. Results come
    back in queue order. With ``transaction=True`` the commands run inside
    MULTI/EXEC on the one node that serves their common hash slot.
    """

    # Per-node grouping of the queue while every command so far fitted it.
    # None once one did not, and in transactions, WATCH and closed pipelines.
    _plan: Optional[QueuePlan]

    def __init__(
        self,
        client: "RedisCluster",
        transaction: bool = False,
        use_threads: Optional[bool] = None,
    ) -> None:
        # redis.Redis.__init__ would open a pool of its own; the pipeline
        # borrows the client's encoder and reply callbacks instead.
        self.client = client
        self.connection_pool = client.connection_pool
        self.response_callbacks = client.response_callbacks
        self._use_threads = (
            client.pipeline_use_threads if use_threads is None else bool(use_threads)
        )
        self.transaction = bool(transaction)
        # multi() turns a plain pipeline into a transaction until reset().
        self._transaction_default = self.transaction
        self.last_stats: dict[str, NodeStats] = {}
        # Commands in queue order. While a plan exists, plain single-key
        # commands are kept as their argument tuple (see QueuedCommand).
        self.command_stack: list[QueuedCommand] = []
        self._closed = False
        self._owner = threading.Lock()
        self._init_transaction()
        self._start_plan()

    @property
    def use_threads(self) -> bool:
        """Whether this pipeline may run large batches on worker threads.

        Fixed when the pipeline is created, from its ``use_threads`` argument
        or else the client's ``pipeline_use_threads``.
        """
        return self._use_threads

    def __repr__(self) -> str:
        mode = "threads" if self.use_threads else "no threads"
        kind = ", transaction" if self.transaction else ""
        return f"<ClusterPipeline [{len(self)} commands, {mode}{kind}]>"

    def __len__(self) -> int:
        return len(self.command_stack)

    def __bool__(self) -> bool:
        # An empty pipeline is still a pipeline; redis-py's Pipeline agrees.
        return True

    def __enter__(self) -> "ClusterPipeline":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.reset()

    def __del__(self) -> None:
        pass

    # Queuing.

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Queue a command (or run it now while WATCH is active)."""
        if (
            self._plan is not None
            and (not options or options.keys() == _KEYS_ONLY)
            and self._queue_single_key(args)
        ):
            return self
        if self._closed:
            raise PipelineUsageError(
                "the pipeline is closed; create a new one with rc.pipeline()"
            )
        if self.client._closed:
            raise PipelineUsageError(
                "the pipeline's client is closed; create a new RedisCluster"
            )
        if self._runs_immediately():
            return self._immediate_execute(args, options)
        return self.pipeline_execute_command(*args, **options)

    def _queue_single_key(self, args: tuple[Any, ...]) -> bool:
        """Queue a plain command whose only key is its first argument.

        This is ``queue_routed`` and the plan's node lookup in one step, for
        the commands most pipelines consist of (GET, SET, INCR, HSET...).
        Counted with callgrind (Python 3.11, redis-py 8.2), queueing a SET
        took about 38,000 instructions here before and 24,000 after. Returns
        False, having done nothing, when the command needs the general path.
        """
        plan = self._plan
        name = args[0]
        if plan is None or len(args) < 2:
            return False
        client = self.client
        if client._closed:
            return False  # the general path raises PipelineUsageError
        if name not in client.router.first_key_only:
            return False
        if name in _UNSUPPORTED or not name.isupper():
            return False  # "move" is as unsupported as "MOVE"
        if not _PLAIN_TYPES.issuperset(map(type, args)):
            return False
        key = args[1]
        if type(key) is str:
            raw = key.encode()
        elif type(key) is bytes:
            raw = key
        else:
            return False
        # The CRC16 of the whole key, unless a "{" may start a hash tag.
        slot = key_slot(raw) if b"{" in raw else crc_hqx(raw, 0) & 0x3FFF
        node = plan.primaries[slot]
        pack = _pack_command
        if node is None or pack is None:
            return False
        # redis-py passes "keys" only for its client-side cache, which a
        # cluster pipeline does not use.
        stack = self.command_stack
        plan.add(node, len(stack), args, pack(args))
        stack.append(args)
        return True

    def set(self, name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        # redis-py 8's set() checks its option combinations on every call,
        # which took 1.6 us of the 3.5 us of a queued SET (timeit, Python
        # 3.11). A SET without options has nothing to check, so this path is
        # _queue_single_key written out for SET, whose key position, name and
        # shape are known.
        plan = self._plan
        if plan is None or args or kwargs or self.client._closed:
            return self._set_general(name, value, args, kwargs)
        if type(name) is str:
            key = name.encode()
        elif type(name) is bytes:
            key = name
        else:
            return self._set_general(name, value, args, kwargs)
        if type(value) is bytes:
            data = value
        elif type(value) is str:
            data = value.encode()
        else:
            return self._set_general(name, value, args, kwargs)
        slot = key_slot(key) if b"{" in key else crc_hqx(key, 0) & 0x3FFF
        node = plan.primaries[slot]
        if node is None:
            return self._set_general(name, value, args, kwargs)
        queue = plan.queues.get(node)
        if queue is None:
            queue = plan.open_queue(node)
        # hiredis's pack_command took 0.30 us for a SET of a 15-byte key and a
        # 16-byte value, and this join of precomputed headers 0.11 us
        # (timeit), because pack_command converts each argument and formats
        # every length.
        try:
            packed = b"".join(
                (SET_KEY_HEADERS[len(key)], key, VALUE_HEADERS[len(data)], data, CRLF)
            )
        except IndexError:
            packed = pack_set(key, data)
        command = ("SET", name, value)
        stack = self.command_stack
        queue.indices.append(len(stack))
        queue.commands.append(command)
        queue.payload += packed
        stack.append(command)
        return self

    set.__doc__ = redis.Redis.set.__doc__

    def _set_general(
        self, name: Any, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if args or kwargs:
            return super().set(name, value, *args, **kwargs)
        return self.execute_command("SET", name, value)

    def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
        """Check a command and add it to the queue; return the pipeline."""
        name = command_name(args)
        instead = _UNSUPPORTED.get(name)
        if instead is not None:
            raise PipelineUsageError(
                f"{name} cannot be queued in a cluster pipeline; use {instead}"
            )
        return self.queue_routed(name, args, options, self.client.router.slot(args))

    def queue_routed(
        self,
        name: str,
        args: tuple[Any, ...],
        options: dict[str, Any],
        slot: Optional[int],
    ) -> "ClusterPipeline":
        """Queue a command whose hash slot the caller already computed."""
        client = self.client
        if self.transaction:
            self._check_transaction_slot(name, slot)
        replica_read = (
            client.read_from_replicas
            and not self.transaction
            and client.router.is_read_only(args)
        )
        packed = pack_one(args) if client.wire.fast_pack else None
        # Nothing modifies a command's options, so they can share one dict.
        command = Command(args, options or NO_OPTIONS, slot, replica_read)
        plan = self._plan
        node = None
        if plan is not None and packed is not None and not replica_read:
            node = self._plan_node(plan, slot)
        stack = self.command_stack
        if node is not None and plan is not None and packed is not None:
            plan.add(node, len(stack), command, packed)
        else:
            self._stop_plan()
            command.packed = packed
        stack.append(command)
        return self

    def _plan_node(self, plan: QueuePlan, slot: Optional[int]) -> Optional[ClusterNode]:
        """Return the node of the next command's batch; None stops the plan."""
        if slot is None:
            try:
                return self.client.topology.default_node()
            except RedisError:
                return None  # execute() raises the same error
        return plan.primaries[slot]

    def _stop_plan(self) -> None:
        """Group later commands at execute; turn queued tuples into Commands."""
        if self._plan is not None:
            self._plan = None
            as_commands(self.command_stack)

    # redis.Redis.reset sends the RESET command, but a pipeline's reset drops
    # its queue, as in redis-py's Pipeline.
    def reset(self) -> None:  # type: ignore[override]
        """Drop queued commands and any WATCH; the pipeline can be reused."""
        self.command_stack = []
        self.transaction = self._transaction_default
        self._reset_transaction()
        self._start_plan()

    def watch(self, *names: Any) -> bool:  # type: ignore[override]
        """WATCH keys of one slot on a connection this pipeline keeps."""
        if self.command_stack and not self._watching:
            self._check_queued_slots(names)
        result = super().watch(*names)
        # Commands now run at once, and after multi() as one transaction.
        self._stop_plan()
        return result

    def _check_queued_slots(self, names: tuple[Any, ...]) -> None:
        """Raise CrossSlotError if a queued command is not in the slot of names.

        execute() after watch() sends the queue as one transaction to the
        watched slot's node, where commands of other slots get MOVED.
        """
        watched = self.client.router.slot(("WATCH", *names))
        self._stop_plan()  # queued tuples become Commands with their slot
        for position, entry in enumerate(self.command_stack):
            slot = entry.slot  # type: ignore[union-attr]
            if slot is None or watched is None or slot == watched:
                continue
            raise CrossSlotError(
                f"command #{position + 1} ({describe(args_of(entry))}) is "
                f"queued in hash slot {slot}, but watch() keys are in slot "
                f"{watched}; execute() runs a watched queue as one transaction "
                f"on one node, so call watch() before queuing, or give all "
                f"keys one hash tag such as {{user1}}"
            )

    def multi(self) -> None:
        """Start queuing the transaction after watch()."""
        super().multi()
        # Commands queued from here on belong to the transaction, which
        # checks their slots and runs on one node, so no per-node plan.
        self._stop_plan()

    def _start_plan(self) -> None:
        # A transaction has its own path, and replica reads and non-UTF-8
        # encodings need the choices that execute-time grouping makes.
        client = self.client
        if (
            self.transaction
            or self._watching
            or self._closed
            or not client.wire.fast_pack
            or client.read_from_replicas
        ):
            self._plan = None
        else:
            self._plan = QueuePlan(client.topology.table)

    def close(self) -> None:
        """Reset the pipeline and reject later use."""
        self.reset()
        self._closed = True
        self._plan = None

    # Execution.

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Run every queued command and return the results in queue order.

        With ``raise_on_error=True`` the first failed command's error is raised
        after all replies are read; otherwise each failed command's exception
        takes its place in the list.
        """
        if not self._owner.acquire(blocking=False):
            raise PipelineUsageError(
                "this pipeline is executing in another thread; give each thread "
                "its own pipeline"
            )
        commands = self.command_stack
        try:
            if self._closed or self.client._closed:
                raise PipelineUsageError(
                    "the pipeline or its client is closed; create a new one "
                    "with rc.pipeline()"
                )
            if self.transaction or self._watching:
                return self._execute_transaction(raise_on_error)
            if not commands:
                return []
            results, saw_failure = self._execute_rounds(commands)
        finally:
            self.reset()
            self._owner.release()
        if raise_on_error and saw_failure:
            raise_first_error(commands, results)
        return results

    def _executor(self) -> Any:
        return self.client.executor(self.use_threads)

    def _execute_rounds(
        self, commands: list[QueuedCommand]
    ) -> tuple[list[Any], bool]:
        """Run the commands in rounds; return the results and whether any failed."""
        client = self.client
        topology = client.topology
        retries, backoff = client.retry_budget()
        executor = self._executor()
        results: list[Any] = [None] * len(commands)
        pending: Sequence[int] = range(len(commands))
        planned = self._planned_batches(commands)
        if planned is None:
            as_commands(commands)
        ask_targets: dict[int, ClusterNode] = {}
        stats: dict[str, NodeStats] = {}
        failures = 0
        redirects = 0
        saw_failure = False
        self.loaded_scripts: set[tuple[str, Any]] = set()

        while pending:
            generation = topology.refresh_count
            if planned is not None:
                batches, planned = planned, None
            else:
                as_commands(commands)  # after a planned round, for its retries
                batches = group_by_node(
                    commands,  # type: ignore[arg-type]
                    pending,
                    topology.table,
                    topology.default_node,
                    ask_targets,
                    client.wire,
                    client.replica_selector.node_for,
                )
            executor.run(batches)

            round_ = _Round(self, commands, results, ask_targets, stats)
            for batch in batches:
                round_.collect(batch)
            saw_failure = saw_failure or round_.saw_failure
            self.loaded_scripts |= round_.loaded_now
            pending = round_.pending
            if not pending:
                break

            if round_.needs_backoff:
                failures += 1
            else:
                redirects += 1
            if failures > retries or redirects > client.max_redirects:
                _give_up(commands, results, pending, round_, redirects, failures)
                break
            if round_.needs_backoff:
                self._prepare_retry(round_, generation)
                time.sleep(backoff.compute(failures))
            else:
                pause_after_redirects(redirects, client.max_redirects, backoff)

        self.last_stats = stats
        logger.debug("pipeline of %d commands: %s", len(commands), stats)
        return results, saw_failure

    def _planned_batches(
        self, commands: list[QueuedCommand]
    ) -> Optional[list[NodeBatch]]:
        """Return the batches grouped at queue time, if the slot map is unchanged.

        While a plan exists it contains every queued command.
        """
        plan = self._plan
        if plan is None or plan.table is not self.client.topology.table:
            return None
        missing = len(commands) - plan.count()
        if missing:
            # Only a bug breaks the invariant, and the execute-time grouping
            # below then still sends every command.
            logger.error(
                "queue-time plan is missing %d of %d commands; regrouping them",
                missing, len(commands),
            )
            return None
        return plan.batches(self.client.wire)

    def _prepare_retry(self, round_: "_Round", generation: int) -> None:
        limiter.log(
            logger, logging.WARNING, ("pipeline retry", type(round_.last_error)),
            "retrying %d pipeline commands on %s after %s",
            len(round_.pending), ", ".join(sorted(round_.failed_nodes)),
            round_.last_error,
        )
        if round_.needs_refresh:
            try:
                self.client.topology.refresh(seen_refreshes=generation)
            except RedisError as exc:
                limiter.log(
                    logger, logging.WARNING, "refresh",
                    "cluster layout refresh failed: %s", exc,
                )


# Outcomes that need more than being placed at their position.
_SPECIAL_OUTCOMES = (Lost, Exception)


class _Round:
    """Sorts one round's outcomes into final results and commands to resend."""

    def __init__(
        self,
        pipeline: ClusterPipeline,
        commands: list[QueuedCommand],
        results: list[Any],
        ask_targets: dict[int, ClusterNode],
        stats: dict[str, NodeStats],
    ) -> None:
        self.pipeline = pipeline
        self.commands = commands
        self.results = results
        self.ask_targets = ask_targets
        self.stats = stats
        self.pending: list[int] = []
        self.needs_backoff = False
        self.needs_refresh = False
        self.last_error: Optional[Exception] = None
        self.loaded_now: set[tuple[str, Any]] = set()
        self.failed_nodes: set[str] = set()
        self._moved_slots: set[int] = set()
        # Set when any outcome was an error or a lost reply, so that a round
        # of plain replies needs no scan for errors afterwards.
        self.saw_failure = False

    def collect(self, batch: NodeBatch) -> None:
        """File every outcome of one node batch."""
        node_stats = self.stats.setdefault(batch.node.name, NodeStats())
        node_stats.commands += len(batch.indices)
        node_stats.seconds += batch.seconds
        results = self.results
        ask_targets = self.ask_targets
        if not batch.failed and not ask_targets:
            for index, outcome in zip(batch.indices, batch.outcomes):
                results[index] = outcome
            return
        for index, outcome in zip(batch.indices, batch.outcomes):
            if ask_targets:
                ask_targets.pop(index, None)
            if not isinstance(outcome, _SPECIAL_OUTCOMES):
                results[index] = outcome
                continue
            self.saw_failure = True
            if isinstance(outcome, Lost):
                self._lost(batch.node, index, outcome, node_stats)
            elif isinstance(outcome, AskError):
                node_stats.redirects += 1
                self._redirect(batch.node, index, outcome)
            elif isinstance(outcome, (TryAgainError, ClusterDownError)):
                node_stats.retries += 1
                self._retry(batch.node, index, outcome, refresh=isinstance(
                    outcome, ClusterDownError))
            elif self._load_missing_script(batch.node, index, outcome):
                node_stats.redirects += 1
            else:
                self.results[index] = outcome
        self.pending.sort()

    def _load_missing_script(
        self, node: ClusterNode, index: int, outcome: Any
    ) -> bool:
        """Load a script on node after NOSCRIPT; True when the command is resent."""
        client = self.pipeline.client
        args = args_of(self.commands[index])
        source = client.scripts.source_for_noscript(args, outcome)
        if source is None:
            return False
        key = (node.name, args[1])
        if key not in self.loaded_now:
            if key in self.pipeline.loaded_scripts:
                return False  # loaded in an earlier round and still missing
            client.scripts.load(client, node, source)
            self.loaded_now.add(key)
        self.results[index] = outcome
        self.pending.append(index)
        return True

    def _redirect(self, node: ClusterNode, index: int, error: AskError) -> None:
        topology = self.pipeline.client.topology
        host = error.host or node.host
        if isinstance(error, MovedError):
            if error.slot_id not in self._moved_slots:
                self._moved_slots.add(error.slot_id)
                logger.debug(
                    "MOVED slot %d from %s to %s:%s",
                    error.slot_id, node.name, host, error.port,
                )
                topology.record_moved(error.slot_id, host, error.port)
        else:
            self.ask_targets[index] = topology.reported_node(host, error.port)
        self.results[index] = error
        self.pending.append(index)

    def _retry(
        self, node: ClusterNode, index: int, error: Exception, refresh: bool
    ) -> None:
        self.failed_nodes.add(node.name)
        self.needs_backoff = True
        self.needs_refresh = self.needs_refresh or refresh
        self.last_error = error
        self.results[index] = error
        self.pending.append(index)

    def _lost(
        self, node: ClusterNode, index: int, lost: Lost, node_stats: NodeStats
    ) -> None:
        args = args_of(self.commands[index])
        client = self.pipeline.client
        if node.role == REPLICA:
            # The read moves to another node at once; a dead replica is never
            # fatal and costs no retry.
            client.replica_selector.mark_down(node, lost.error)
            self.results[index] = lost.error
            self.pending.append(index)
            return
        if lost.sent and not client.router.is_read_only(args):
            error = OutcomeUnknownError(
                f"{command_name(args)} was sent to {node.name}, then the "
                f"connection failed ({lost.error}); the server may or may not "
                f"have run it, so it was not sent again"
            )
            error.__cause__ = lost.error
            self.results[index] = error
            return
        node_stats.retries += 1
        self._retry(node, index, lost.error, refresh=True)


def _give_up(
    commands: list[QueuedCommand],
    results: list[Any],
    pending: list[int],
    round_: _Round,
    redirects: int,
    failures: int,
) -> None:
    for index in pending:
        error = results[index]
        if isinstance(error, AskError):
            final: Exception = TooManyRedirectsError(
                f"{command_name(args_of(commands[index]))} was redirected "
                f"{redirects} times, last by {error}; the cluster is "
                f"resharding or misconfigured, or raise max_redirects"
            )
            final.__cause__ = error
            results[index] = final
    limiter.log(
        logger, logging.WARNING, "pipeline gave up",
        "pipeline gave up on %d commands after %d retries and %d redirects",
        len(pending), failures, redirects,
    )


def raise_first_error(
    commands: Sequence[QueuedCommand], results: list[Any]
) -> None:
    """Raise the first exception in results, naming its command and position."""
    for position, result in enumerate(results):
        if isinstance(result, Exception):
            annotate(result, position, args_of(commands[position]))
            raise result


def annotate(error: Exception, position: int, args: tuple[Any, ...]) -> None:
    """Prefix an error's message with the failed command and its position."""
    if error.args and isinstance(error.args[0], str):
        message = (
            f"command #{position + 1} ({describe(args)}) of the pipeline "
            f"failed: {error.args[0]}"
        )
        error.args = (message,) + error.args[1:]
