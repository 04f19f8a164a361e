"""``RedisCluster``: a ``redis.Redis`` that routes each command by hash slot.

Every command method of redis-py ends in ``execute_command``, so overriding it
is enough to make them all cluster-aware. The class borrows ``redis.Redis``'s
own constructor to turn connection keywords (password, ssl_*, timeouts,
protocol, ...) into connection settings, then opens one pool per node with
those settings.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Mapping, Optional, Sequence

import redis
from redis._parsers.commands import CommandsParser
from redis.backoff import AbstractBackoff, ExponentialWithJitterBackoff, NoBackoff
from redis.commands.core import Script
from redis.connection import AbstractConnection, SSLConnection, parse_url
from redis.exceptions import (
    AskError,
    AuthenticationError,
    AuthorizationError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    MovedError,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)
from redis.retry import Retry

from .batch import WireContext
from .blocking import extend_timeout_for_blocking
from .cluster_commands import ClusterNodeCommands
from .compat import reinitialize_steps_or_default, translate_legacy_kwargs
from .exceptions import (
    OutcomeUnknownError,
    PipelineUsageError,
    PoolTimeoutError,
    TooManyRedirectsError,
    as_cluster_error,
    unreadable_reply,
)
from .executors import SerialExecutor, ThreadedExecutor
from .fanout import (
    ALL_NODES,
    DEFAULT_NODE,
    PRIMARIES,
    RANDOM,
    REPLICAS,
    Merge,
    policy_for,
    policy_name,
    resolve_targets,
    run_on_nodes,
)
from .logs import limiter
from .multikey import MultiKeyCommands
from .packing import can_pack_fast, pack_one
from .pool import NodePool, make_connection_factory
from .redaction import redact_pool_repr
from .remap import combine_remaps
from .replicas import ROUND_ROBIN, ReplicaSelector
from .retries import pause_after_redirects, retry_budget
from .routing import CommandRouter, command_name
from .scripts import ScriptRegistry
from .startup import StartupNode, parse_startup_nodes
from .tls_defaults import default_check_hostname
from .topology import REPLICA, AddressRemap, ClusterNode, Topology

logger = logging.getLogger(__name__)

_SERIAL = SerialExecutor()

DEFAULT_RETRY = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=6)

# Connection settings that redis-py ties to one pool or one address; each node
# pool gets its own host and port instead.
_POOL_BOUND_KWARGS = (
    "host",
    "port",
    "orig_host_address",
    "maint_notifications_pool_handler",
)


class _NodeFailure(Exception):
    """A connection error or timeout on one node, and whether it was mid-command.

    ``sent`` is true when the command may have reached the server.
    """

    def __init__(self, node: ClusterNode, error: Exception, sent: bool) -> None:
        super().__init__(str(error))
        self.node = node
        self.error = error
        self.sent = sent


class RedisCluster(ClusterNodeCommands, MultiKeyCommands, redis.Redis):
    """A Redis Cluster client with the full command API of ``redis.Redis``.

    Give the cluster's address as ``startup_nodes=[{"host": ..., "port": ...}]``
    or as ``host``/``port``; the client reads the rest of the layout itself.
    Every connection keyword of ``redis.Redis`` applies to every node.
    """

    # Values for the ``target_nodes`` keyword of keyless commands.
    PRIMARIES = PRIMARIES
    REPLICAS = REPLICAS
    ALL_NODES = ALL_NODES
    RANDOM = RANDOM
    DEFAULT_NODE = DEFAULT_NODE

    def __init__(
        self,
        host: Optional[str] = None,
        port: Optional[int] = None,
        startup_nodes: Optional[Sequence[StartupNode]] = None,
        *,
        pipeline_use_threads: bool = True,
        pipeline_max_workers: Optional[int] = None,
        retry: Optional[Retry] = None,
        max_connections: Optional[int] = None,
        pool_timeout: float = 5.0,
        skip_full_coverage_check: bool = False,
        reinitialize_steps: Optional[int] = 5,
        max_redirects: int = 16,
        read_from_replicas: bool = False,
        load_balancing_strategy: str = ROUND_ROBIN,
        address_remap: Optional[AddressRemap] = None,
        host_port_remap: Optional[Sequence[Mapping[str, Any]]] = None,
        **kwargs: Any,
    ) -> None:
        legacy = translate_legacy_kwargs(kwargs)
        default_check_hostname(kwargs)
        settings: dict[str, Any] = {
            "skip_full_coverage_check": skip_full_coverage_check,
            "read_from_replicas": read_from_replicas,
            "retry": retry,
        }
        for name, value in legacy.items():
            if settings[name] not in (None, False):
                raise ValueError(
                    f"{name} was passed together with its older name; pass "
                    f"only one of them"
                )
            settings[name] = value
        skip_full_coverage_check = bool(settings["skip_full_coverage_check"])
        read_from_replicas = bool(settings["read_from_replicas"])
        retry = settings["retry"]
        nodes = parse_startup_nodes(startup_nodes, host, port)
        remap = combine_remaps(address_remap, host_port_remap)
        _check_cluster_kwargs(kwargs)
        kwargs["retry"] = Retry(NoBackoff(), 0)
        super().__init__(host=nodes[0][0], port=nodes[0][1], **kwargs)
        redact_pool_repr(self.connection_pool)

        self.pipeline_use_threads = bool(pipeline_use_threads)
        if pipeline_max_workers is not None and (
            type(pipeline_max_workers) is not int or pipeline_max_workers < 1
        ):
            raise ValueError(
                f"pipeline_max_workers must be a positive integer or None (for "
                f"the default of 32), got {pipeline_max_workers!r}"
            )
        self.pipeline_max_workers = pipeline_max_workers
        self.retry = retry if retry is not None else DEFAULT_RETRY
        self.max_redirects = max_redirects
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout
        self.read_from_replicas = bool(read_from_replicas)
        self.replica_selector = ReplicaSelector(load_balancing_strategy)
        self._connection_class, self._connection_kwargs = self._node_settings()
        encoder = self.get_encoder()
        self.wire = WireContext(
            parse=self.parse_response,
            callbacks=self.response_callbacks,
            packer=self._connection_class(**self._connection_kwargs),
            fast_pack=can_pack_fast(encoder.encoding, encoder.encoding_errors),
        )
        self._executor: Optional[ThreadedExecutor] = None
        self._executor_lock = threading.Lock()
        self._closed = False
        self.scripts = ScriptRegistry(self.get_encoder())

        self.topology = Topology(
            nodes,
            self._make_pool,
            skip_full_coverage_check=skip_full_coverage_check,
            reinitialize_steps=reinitialize_steps_or_default(reinitialize_steps),
            address_remap=remap,
        )
        self.router = CommandRouter(
            self.get_encoder().encode,
            lambda: CommandsParser(self),
            self,
        )
        try:
            self.topology.refresh()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "RedisCluster":
        """Build a client from a ``redis://`` or ``rediss://`` URL of one node.

        Query arguments and keyword arguments are connection settings, as for
        ``redis.Redis.from_url``.
        """
        options: dict[str, Any] = dict(parse_url(url))
        if "path" in options:
            raise ValueError(
                f"unix socket URL {url!r} cannot address a cluster; use a "
                f"redis:// or rediss:// URL with host and port"
            )
        connection_class = options.pop("connection_class", None)
        if connection_class is not None and issubclass(
            connection_class, SSLConnection
        ):
            options["ssl"] = True
        options.update(kwargs)
        return cls(**options)

    def __repr__(self) -> str:
        table = self.topology.table
        return (
            f"<{type(self).__name__} [{len(table.primary_nodes())} masters, "
            f"{len(self.topology.nodes())} nodes]>"
        )

    def _node_settings(self) -> tuple[type[AbstractConnection], dict[str, Any]]:
        template = self.connection_pool
        kwargs = {
            key: value
            for key, value in template.connection_kwargs.items()
            if key not in _POOL_BOUND_KWARGS
        }
        return template.connection_class, kwargs

    def _make_pool(self, host: str, port: int, replica: bool) -> NodePool:
        factory = make_connection_factory(
            self._connection_class, self._connection_kwargs, host, port
        )
        return NodePool(
            f"{host}:{port}",
            factory,
            max_connections=self.max_connections,
            timeout=self.pool_timeout,
            on_connect=_send_readonly if self.read_from_replicas else None,
        )

    # Command execution.

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Send one command to the node serving its keys and return the reply.

        MOVED and ASK are followed; TRYAGAIN, CLUSTERDOWN and connection
        failures before the command was sent are retried with the backoff of
        the client's ``retry``. A connection failure after the command was sent
        raises ``OutcomeUnknownError`` unless the command is read-only.
        """
        if self._closed:
            raise ClusterError(
                "the client is closed; create a new RedisCluster"
            )
        _reject_other_databases(args)
        target = options.pop("target_nodes", None)
        merge: Optional[Merge]
        if len(args) == 2 and policy_name(args) == "SCRIPT LOAD":
            self.scripts.remember(args[1])
        if target is None:
            slot = self.router.slot(args)
            policy = None if slot is not None else policy_for(args)
            if policy is None:
                return self._run_command(args, options, slot)
            target, merge = policy
        else:
            policy = policy_for(args)
            merge = policy[1] if policy is not None else None
        return run_on_nodes(self, self.resolve(target), args, options, merge)

    def register_script(self, script: Any) -> Script:
        """Return a callable Script, keeping its source to reload after NOSCRIPT."""
        self.scripts.remember(script)
        return Script(self, script)

    def resolve(self, target: Any) -> list[ClusterNode]:
        """Return the nodes a ``target_nodes`` value names."""
        return resolve_targets(target, self.topology)

    def _node_for(self, slot: Optional[int], args: tuple[Any, ...]) -> ClusterNode:
        if slot is None:
            return self.topology.default_node()
        table = self.topology.table
        if self.read_from_replicas and self.router.is_read_only(args):
            return self.replica_selector.node_for(table, slot)
        return table.primary_for(slot)

    def _run_command(
        self, args: tuple[Any, ...], options: dict[str, Any], slot: Optional[int]
    ) -> Any:
        retries, backoff = self.retry_budget()
        failures = 0
        redirects = 0
        ask_node: Optional[ClusterNode] = None
        loaded_script = False
        started = time.monotonic()
        while True:
            generation = self.topology.refresh_count
            node = ask_node or self._node_for(slot, args)
            try:
                return self._send(node, args, options, asking=ask_node is not None)
            except (AskError, MovedError) as exc:
                redirects += 1
                self._check_redirects(redirects, args, exc)
                ask_node = self._follow_redirect(node, exc)
                pause_after_redirects(redirects, self.max_redirects, backoff)
                continue
            except (TryAgainError, ClusterDownError) as exc:
                error: Exception = exc
                retry_node = node
            except ResponseError as exc:
                source = self.scripts.source_for_noscript(args, exc)
                if source is None or loaded_script:
                    raise
                self.scripts.load(self, node, source)
                loaded_script = True
                continue
            except _NodeFailure as failure:
                if node.role == REPLICA and node is not ask_node:
                    # Reads move to other nodes at once; a dead replica is
                    # never fatal and costs no retry.
                    self.replica_selector.mark_down(node, failure.error)
                    continue
                if failure.sent and not self.router.is_read_only(args):
                    raise OutcomeUnknownError(
                        f"{command_name(args)} was sent to {node.name}, then "
                        f"the connection failed ({failure.error}); the server "
                        f"may or may not have run it, so it was not sent again"
                    ) from failure.error
                error, retry_node = failure.error, failure.node
            ask_node = None
            failures += 1
            if failures > retries:
                raise _retries_exhausted(error, retries, started)
            self._before_retry(retry_node, error, failures, generation, slot)
            time.sleep(backoff.compute(failures))

    def _check_redirects(
        self, redirects: int, args: tuple[Any, ...], exc: AskError
    ) -> None:
        if redirects > self.max_redirects:
            raise TooManyRedirectsError(
                f"{command_name(args)} was redirected {redirects} times, last "
                f"by {exc}; the cluster is resharding or misconfigured, or "
                f"raise max_redirects"
            ) from exc

    def _follow_redirect(
        self, node: ClusterNode, exc: AskError
    ) -> Optional[ClusterNode]:
        """Apply a MOVED or ASK reply; return the ASK target, None for MOVED."""
        host = exc.host or node.host
        if isinstance(exc, MovedError):
            logger.debug(
                "MOVED slot %d from %s to %s:%s", exc.slot_id, node.name, host, exc.port
            )
            self.topology.record_moved(exc.slot_id, host, exc.port)
            return None
        logger.debug(
            "ASK slot %d from %s to %s:%s", exc.slot_id, node.name, host, exc.port
        )
        return self.topology.reported_node(host, exc.port)

    def _before_retry(
        self,
        node: ClusterNode,
        error: Exception,
        failures: int,
        generation: int,
        slot: Optional[int],
    ) -> None:
        limiter.log(
            logger, logging.WARNING, ("retry", node.name, type(error)),
            "retrying a command for slot %s after %s on %s (attempt %d): %s",
            slot, type(error).__name__, node.name, failures, error,
        )
        if isinstance(error, TryAgainError):
            return
        try:
            self.topology.refresh(seen_refreshes=generation, failed=node)
        except (AuthenticationError, AuthorizationError):
            raise
        except RedisError as exc:
            limiter.log(
                logger, logging.WARNING, "refresh",
                "cluster layout refresh failed: %s", exc,
            )

    def _send(
        self,
        node: ClusterNode,
        args: tuple[Any, ...],
        options: dict[str, Any],
        asking: bool = False,
    ) -> Any:
        try:
            connection = node.pool.acquire()
        except (AuthenticationError, AuthorizationError, PoolTimeoutError):
            # Retrying would repeat the same wait or the same rejection.
            raise
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise _NodeFailure(node, exc, sent=False) from exc

        sent = False
        restore = extend_timeout_for_blocking(connection, args)
        try:
            packed = pack_one(args) if self.wire.fast_pack else None
            if asking:
                connection.send_packed_command(
                    connection.pack_commands([("ASKING",), args])
                )
            elif packed is not None:
                connection.send_packed_command([packed])
            else:
                connection.send_command(*args)
            sent = True
            asking_error = _read_asking_reply(connection) if asking else None
            response = self.parse_response(connection, args[0], **options)
            if asking_error is not None:
                raise asking_error
        except ResponseError as exc:
            # Every reply sent for this call was read, so the connection is
            # in step and can be reused, unless the server closes it after a
            # protocol error (a value over proto-max-bulk-len, for example).
            restore()
            if str(exc).startswith("Protocol error"):
                node.pool.discard(connection)
            else:
                node.pool.release(connection)
            try:
                converted = as_cluster_error(exc)
            except (ValueError, IndexError) as bad:
                # redis-py 5 leaves MOVED and ASK replies as ResponseError, so
                # a malformed redirect fails here and not in its parser.
                raise unreadable_reply(node.name, command_name(args), bad) from bad
            if converted is not exc:
                raise converted from None
            raise
        except (ConnectionError, TimeoutError, OSError) as exc:
            node.pool.discard(connection)
            raise _NodeFailure(node, exc, sent=sent) from exc
        except (ValueError, IndexError) as exc:
            node.pool.discard(connection)
            if not sent:
                # Packing failed (a str the client's encoding cannot encode,
                # say), so the error is the caller's, not the reply's.
                raise
            raise unreadable_reply(node.name, command_name(args), exc) from exc
        except BaseException:
            node.pool.discard(connection)
            raise
        restore()
        node.pool.release(connection)
        return response

    def send_to_node(
        self, node: ClusterNode, args: tuple[Any, ...], options: dict[str, Any]
    ) -> Any:
        """Run one command on node, without redirects or retries."""
        try:
            return self._send(node, args, options)
        except _NodeFailure as failure:
            error = failure.error
        # Raised outside the handler, so the error is not chained to the
        # internal _NodeFailure and keeps its own context.
        raise error

    def retry_budget(self) -> tuple[int, AbstractBackoff]:
        """Return the retry count and backoff of the client's ``retry``."""
        return retry_budget(self.retry)

    def executor(self, use_threads: bool) -> "SerialExecutor | ThreadedExecutor":
        """Return the executor for pipelines with or without worker threads."""
        if not use_threads:
            return _SERIAL
        executor = self._executor
        if executor is None:
            with self._executor_lock:
                if self._closed:
                    raise PipelineUsageError(
                        "the client is closed; create a new RedisCluster"
                    )
                if self._executor is None:
                    self._executor = ThreadedExecutor(self.pipeline_max_workers)
                executor = self._executor
        return executor

    # Life cycle.

    def pipeline(
        self,
        transaction: bool = False,
        shard_hint: Any = None,
        use_threads: Optional[bool] = None,
    ) -> Any:
        """Return a ClusterPipeline that batches commands per node.

        ``use_threads=None`` takes the client's ``pipeline_use_threads``; an
        explicit value always wins, and is fixed for the pipeline's life.
        """
        from .pipeline import ClusterPipeline

        return ClusterPipeline(self, transaction=transaction, use_threads=use_threads)

    def pubsub(self, **kwargs: Any) -> Any:
        """Return a ClusterPubSub for classic and sharded (SSUBSCRIBE) channels."""
        from .pubsub import ClusterPubSub

        return ClusterPubSub(self, **kwargs)

    def close(self) -> None:
        """Close every node connection and stop the pipeline workers."""
        lock = getattr(self, "_executor_lock", None)
        if lock is None:
            return  # __init__ failed before anything was opened
        with lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown()
        topology = getattr(self, "topology", None)
        if topology is not None:
            topology.close()
        super().close()


def _check_cluster_kwargs(kwargs: Mapping[str, Any]) -> None:
    """Reject redis.Redis settings that have no meaning in a cluster."""
    db = kwargs.get("db", 0)
    if db not in (0, "0", None):
        raise ValueError(
            f"db={db!r} is not available: Redis Cluster has only database 0; "
            f"drop the db argument or use key prefixes"
        )
    if kwargs.get("single_connection_client"):
        raise ValueError(
            "single_connection_client=True cannot work with a cluster, which "
            "needs a connection per node; drop the argument"
        )
    for name in ("connection_pool", "unix_socket_path"):
        if kwargs.get(name) is not None:
            raise ValueError(
                f"{name} cannot address a cluster: RedisCluster opens its own "
                f"pool per node; pass host and port or startup_nodes instead"
            )




def _reject_other_databases(args: tuple[Any, ...]) -> None:
    """Refuse commands on databases other than 0 before anything is sent."""
    name = command_name(args)
    if name not in ("SELECT", "MOVE", "SWAPDB"):
        return
    if name == "SELECT" and len(args) == 2 and str(args[1]) == "0":
        return  # selecting the one database there is changes nothing
    raise ClusterError(
        f"{name} {' '.join(str(a) for a in args[1:])} cannot run: Redis "
        f"Cluster has only database 0; use key prefixes or hash tags instead "
        f"of databases"
    )


def _retries_exhausted(error: Exception, retries: int, started: float) -> Exception:
    """Return a connection error stating that the retries ran out, and the fix."""
    if type(error) not in (ConnectionError, TimeoutError):
        return error
    seconds = time.monotonic() - started
    exhausted = type(error)(
        f"{error} (gave up after {retries} retries in {seconds:.1f} s; a "
        f"failover takes about cluster-node-timeout, so give retry= a budget "
        f"that outlasts it)"
    )
    exhausted.__cause__ = error
    return exhausted


def _read_asking_reply(connection: AbstractConnection) -> Optional[Exception]:
    """Read the reply to ASKING; return its error instead of raising it, so the
    command's own reply, which follows, is still read."""
    try:
        connection.read_response()
    except ResponseError as exc:
        return as_cluster_error(exc)
    return None


def _send_readonly(connection: AbstractConnection) -> None:
    # READONLY lets a replica serve reads of its master's slots and has no
    # effect on a master. So every connection gets it, and a node that changes
    # role needs no new connections.
    connection.send_command("READONLY")
    connection.read_response()


__all__ = ["RedisCluster"]
