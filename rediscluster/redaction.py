"""Keep credentials out of the repr of the pool that ``redis.Redis`` builds.

``RedisCluster`` calls ``redis.Redis.__init__``, which builds a
``ConnectionPool`` from the connection keywords. The client never connects
through that pool, but it is reachable as ``rc.connection_pool`` and shows up
in reprs. redis-py 6 prints every connection keyword in
``ConnectionPool.__repr__``, password included. redis-py 7 and later redact
the keys in ``ConnectionPool.SENSITIVE_REPR_KEYS``, and redis-py 5 prints only
host, port and database.
"""

from __future__ import annotations

import redis

# The keys that redis-py 7 and later redact, for redis-py versions that don't.
_SECRET_KEYS = frozenset(
    {"password", "username", "ssl_password", "credential_provider"}
)


class RedactedConnectionPool(redis.ConnectionPool):
    """A redis-py ``ConnectionPool`` whose repr shows no credentials."""

    def __repr__(self) -> str:
        fields = ",".join(
            f"{key}={'<REDACTED>' if key in _SECRET_KEYS else value}"
            for key, value in self.connection_kwargs.items()
        )
        pool = f"{type(self).__module__}.{type(self).__name__}"
        connection = self.connection_class.__name__
        return f"<{pool}(<{connection}({fields})>)>"


def redact_pool_repr(pool: redis.ConnectionPool) -> None:
    """Give pool a repr without credentials where redis-py's own repr has them.

    Only a plain ``ConnectionPool`` of a redis-py without
    ``SENSITIVE_REPR_KEYS`` changes. Only its class is replaced, so it keeps
    its state.
    """
    if hasattr(redis.ConnectionPool, "SENSITIVE_REPR_KEYS"):
        return
    if type(pool) is redis.ConnectionPool:
        pool.__class__ = RedactedConnectionPool
