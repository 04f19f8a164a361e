"""The clients a benchmark compares, behind one small interface.

Each peer runs a pipeline of SETs, single GETs and a cross-slot MGET the way
its own API does it: rediscluster's ``pipeline()`` and ``mget``, redis-py's
``redis.cluster.RedisCluster`` pipeline and ``mget_nonatomic``, and
valkey-glide-sync's ``GlideClusterClient`` with a non-atomic ``ClusterBatch``.
Client libraries are imported on first use, so a memory measurement in a
child process loads only the one it measures.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Callable, Optional, Sequence

from benchmarks.cluster import Target

RC_THREADS_ON = "rc threads on"
RC_THREADS_OFF = "rc threads off"
REDIS_PY = "redis-py"
GLIDE = "glide"
PEER_NAMES = (RC_THREADS_ON, RC_THREADS_OFF, REDIS_PY, GLIDE)

# Large enough for a batch of 1,000,000 commands; glide's default is 250 ms.
GLIDE_TIMEOUT_MS = 600_000


class Peer:
    """One client under test."""

    name = "peer"

    def set_pipeline(self, keys: Sequence[str], value: bytes) -> list[Any]:
        """Send one SET per key as one pipeline; return the replies."""
        raise NotImplementedError

    def get(self, key: str) -> Any:
        """Run one GET and return its reply."""
        raise NotImplementedError

    def mget(self, keys: Sequence[str]) -> list[Any]:
        """Return the values of keys from any slots, in key order."""
        raise NotImplementedError

    def close(self) -> None:
        """Close every connection of the client."""
        raise NotImplementedError


class _RedisPyStylePeer(Peer):
    """Shared calls of the two clients with redis-py's command API."""

    client: Any

    def set_pipeline(self, keys: Sequence[str], value: bytes) -> list[Any]:
        pipe = self.client.pipeline()
        for key in keys:
            pipe.set(key, value)
        return pipe.execute()

    def get(self, key: str) -> Any:
        return self.client.get(key)

    def close(self) -> None:
        self.client.close()


class RedisClusterPeer(_RedisPyStylePeer):
    """rediscluster, with pipeline worker threads on or off."""

    def __init__(self, target: Target, use_threads: bool) -> None:
        import rediscluster

        self.name = RC_THREADS_ON if use_threads else RC_THREADS_OFF
        self.client = rediscluster.RedisCluster(
            startup_nodes=[{"host": target.host, "port": target.port}],
            pipeline_use_threads=use_threads,
            address_remap=target.map_address if target.remap else None,
        )

    def mget(self, keys: Sequence[str]) -> list[Any]:
        return self.client.mget(keys)



class RedisPyPeer(_RedisPyStylePeer):
    """redis-py's own ``redis.cluster.RedisCluster``."""

    name = REDIS_PY

    def __init__(self, target: Target) -> None:
        import redis.cluster

        self.client = redis.cluster.RedisCluster(
            host=target.host,
            port=target.port,
            address_remap=target.map_address if target.remap else None,
        )

    def mget(self, keys: Sequence[str]) -> list[Any]:
        return self.client.mget_nonatomic(keys)



class GlidePeer(Peer):
    """valkey-glide-sync's ``GlideClusterClient``; batches are non-atomic."""

    name = GLIDE

    def __init__(self, target: Target) -> None:
        import glide_sync

        self._glide = glide_sync
        config = glide_sync.GlideClusterClientConfiguration(
            [glide_sync.NodeAddress(target.host, target.port)],
            request_timeout=GLIDE_TIMEOUT_MS,
            address_resolver=target.map_pair if target.remap else None,
        )
        self.client = glide_sync.GlideClusterClient.create(config)
        self._options = glide_sync.ClusterBatchOptions(timeout=GLIDE_TIMEOUT_MS)

    def set_pipeline(self, keys: Sequence[str], value: bytes) -> list[Any]:
        batch = self._glide.ClusterBatch(is_atomic=False)
        for key in keys:
            batch.set(key, value)
        return self.client.exec(batch, True, self._options) or []

    def get(self, key: str) -> Any:
        return self.client.get(key)

    def mget(self, keys: Sequence[str]) -> list[Any]:
        return self.client.mget(list(keys))

    def close(self) -> None:
        self.client.close()


def glide_version() -> Optional[str]:
    """Return the installed valkey-glide-sync version, or None."""
    try:
        metadata.version("valkey-glide-sync")
        import glide_sync  # noqa: F401 - the import is what can fail
    except (metadata.PackageNotFoundError, ImportError, OSError):
        return None
    return metadata.version("valkey-glide-sync")


PeerFactory = Callable[[Target], Peer]


def peer_factories() -> dict[str, Optional[PeerFactory]]:
    """Return a factory per peer name; None for a peer that is not installed."""
    factories: dict[str, Optional[PeerFactory]] = {
        RC_THREADS_ON: lambda target: RedisClusterPeer(target, use_threads=True),
        RC_THREADS_OFF: lambda target: RedisClusterPeer(target, use_threads=False),
        REDIS_PY: RedisPyPeer,
        GLIDE: GlidePeer if glide_version() is not None else None,
    }
    return factories
