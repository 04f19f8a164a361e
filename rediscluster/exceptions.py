"""Errors raised by rediscluster.

Every error derives from ``redis.exceptions.RedisError``, so one
``except redis.RedisError`` catches all of them. Server replies keep
redis-py's own classes (``MovedError``, ``AskError``, ``TryAgainError``,
``ClusterDownError``); this module adds only what a cluster client decides
on its own side::

    RedisError
    +-- ClusterError                   (redis-py's cluster root)
    |   +-- ClusterDownError           (redis-py: CLUSTERDOWN reply)
    |   +-- TopologyError              cluster layout could not be used
    |   |   +-- NoReachableNodeError   also a ConnectionError
    |   |   +-- NotClusterError        server runs without cluster mode
    |   |   +-- SlotNotCoveredError    a hash slot has no master
    |   +-- CrossSlotError             also a DataError
    |   |                              (both also RedisClusterException)
    |   +-- TooManyRedirectsError
    |   +-- OutcomeUnknownError        also a ConnectionError
    |   +-- PipelineUsageError
    +-- ConnectionError
        +-- PoolTimeoutError           no free connection in time
        +-- PoolClosedError            the pool was closed
"""

from __future__ import annotations

from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    DataError,
    MasterDownError,
    MovedError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

__all__ = [
    "AskError",
    "ClusterDownError",
    "ClusterError",
    "ConnectionError",
    "CrossSlotError",
    "DataError",
    "MovedError",
    "NoReachableNodeError",
    "NotClusterError",
    "OutcomeUnknownError",
    "PipelineUsageError",
    "PoolClosedError",
    "PoolTimeoutError",
    "RedisError",
    "ResponseError",
    "SlotNotCoveredError",
    "TimeoutError",
    "TooManyRedirectsError",
    "TopologyError",
    "TryAgainError",
]


class TopologyError(ClusterError):
    """The cluster layout could not be read or is not usable."""


class NoReachableNodeError(TopologyError, ConnectionError):
    """Every topology query failed; the message lists each address tried."""


class NotClusterError(TopologyError):
    """A node replied, but its server runs without ``cluster-enabled yes``."""


class SlotNotCoveredError(TopologyError, RedisClusterException):
    """A hash slot has no master in the cluster layout.

    Also a ``redis.exceptions.RedisClusterException``, which code written for
    redis-py's cluster client catches.
    """


class CrossSlotError(ClusterError, DataError, RedisClusterException):
    """A command's keys hash to more than one slot.

    Also a ``redis.exceptions.RedisClusterException``, which redis-py's
    cluster client raises in this case.
    """


class TooManyRedirectsError(ClusterError):
    """MOVED or ASK replies kept coming past the configured maximum."""


class OutcomeUnknownError(ClusterError, ConnectionError):
    """A command was sent, but its reply was lost.

    The server may or may not have applied the command, so the client does not
    send it again. ``__cause__`` is the connection error or timeout.
    """


class PipelineUsageError(ClusterError):
    """A pipeline was used in a way it does not support."""


class PoolTimeoutError(ConnectionError):
    """Every connection to a node stayed in use until the pool timeout."""


class PoolClosedError(ConnectionError):
    """A node's pool was closed, because the client closed or the node left."""


def unreadable_reply(node: str, name: str, error: Exception) -> TopologyError:
    """Describe a reply that redis-py failed to turn into a value or error.

    redis-py raises ValueError or IndexError while it builds a MovedError or
    AskError from a redirect that lacks "slot host:port".
    """
    return TopologyError(
        f"{node} sent a reply to {name} that could not be read "
        f"({type(error).__name__}: {error}); a redirect must read "
        f"'MOVED <slot> <host>:<port>'. Check that {node} is a Redis Cluster node"
    )


# Reply prefixes that redis-py before 6.0 maps to these classes only in its
# cluster parser, and to a plain ResponseError everywhere else.
_CLUSTER_REPLIES: tuple[tuple[str, type[ResponseError]], ...] = (
    ("MOVED ", MovedError),
    ("ASK ", AskError),
    ("TRYAGAIN", TryAgainError),
    ("CLUSTERDOWN", ClusterDownError),
    ("MASTERDOWN", MasterDownError),
    ("CROSSSLOT", ClusterCrossSlotError),
)


def as_cluster_error(error: Exception) -> Exception:
    """Return a cluster error reply as its redis-py class, on any redis-py.

    Raises ValueError or IndexError, from redis-py's MovedError and AskError,
    for a MOVED or ASK reply that lacks "slot host:port".

    NOTE: the transaction paths let that error through unwrapped. On redis-py
    6 and later the parser raises it before this function runs.
    """
    if type(error) is not ResponseError:
        return error
    message = str(error)
    for prefix, error_class in _CLUSTER_REPLIES:
        if message.startswith(prefix):
            if error_class in (MovedError, AskError):
                return error_class(message[len(prefix):])
            return error_class(message)
    return error
