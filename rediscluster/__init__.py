"""A Redis Cluster client for Python built on redis-py.

``RedisCluster`` routes every redis-py command to the node that serves its
key's hash slot; ``RedisCluster.pipeline()`` returns a ``ClusterPipeline``
that sends each node its batch concurrently.
"""

from .client import RedisCluster
from .exceptions import (
    ClusterError,
    CrossSlotError,
    NoReachableNodeError,
    NotClusterError,
    OutcomeUnknownError,
    PipelineUsageError,
    PoolClosedError,
    PoolTimeoutError,
    SlotNotCoveredError,
    TooManyRedirectsError,
    TopologyError,
)
from .pipeline import ClusterPipeline
from .pubsub import ClusterPubSub, ShardedPubSubUnsupportedError
from .topology import ClusterNode

__version__ = "0.1.0"

__all__ = [
    "ClusterError",
    "ClusterNode",
    "ClusterPipeline",
    "ClusterPubSub",
    "CrossSlotError",
    "NoReachableNodeError",
    "NotClusterError",
    "OutcomeUnknownError",
    "PipelineUsageError",
    "PoolClosedError",
    "PoolTimeoutError",
    "RedisCluster",
    "ShardedPubSubUnsupportedError",
    "SlotNotCoveredError",
    "TooManyRedirectsError",
    "TopologyError",
    "__version__",
]
