"""ClusterPipeline's queue-time plan at its edges, against a real cluster.

While a plan exists, SET and commands whose one key comes first are queued
as bare argument tuples on fast paths that skip the general checks. These
tests drive those paths through a closed client, slots that move between
queueing and ``execute``, interrupted rounds and bounded pools shared by
threads, and compare every result with the same commands run one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import rediscluster
from rediscluster import PipelineUsageError
from rediscluster.testing import LocalCluster


def learn_positions(rc: rediscluster.RedisCluster) -> None:
    """Run each command once, so the router queues them as bare tuples."""
    rc.set("edge:warm", "1")
    rc.get("edge:warm")
    rc.incr("edge:count")
    rc.hset("edge:hash", "field", "1")
    assert {"SET", "GET", "INCRBY", "HSET"} <= rc.router.first_key_only


def keys_on_every_master(rc: rediscluster.RedisCluster, count: int = 30) -> list[str]:
    keys = [f"edge:{n}" for n in range(count)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    return keys


def in_use(rc: rediscluster.RedisCluster) -> dict[str, int]:
    """Return the connections taken from each node's pool and not given back."""
    return {node.name: node.pool.in_use for node in rc.topology.nodes()}


# A client closed while a pipeline exists.

QUEUE_CALLS: dict[str, Callable[[Any], Any]] = {
    "set_str": lambda pipe: pipe.set("edge:a", "v"),
    "set_bytes": lambda pipe: pipe.set(b"edge:a", b"v"),
    "get": lambda pipe: pipe.get("edge:a"),
    "incr": lambda pipe: pipe.incr("edge:a"),
    "hset": lambda pipe: pipe.hset("edge:h", "f", "v"),
    "execute_command": lambda pipe: pipe.execute_command("GET", "edge:a"),
    "set_with_option": lambda pipe: pipe.set("edge:a", "v", ex=10),
    "ping": lambda pipe: pipe.ping(),
}


@pytest.mark.parametrize("call", sorted(QUEUE_CALLS))
def test_closed_client_rejects_queueing(cluster: LocalCluster, call: str) -> None:
    client = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    learn_positions(client)
    pipe = client.pipeline()
    client.close()
    with pytest.raises(PipelineUsageError, match="client is closed"):
        QUEUE_CALLS[call](pipe)
    assert len(pipe) == 0
