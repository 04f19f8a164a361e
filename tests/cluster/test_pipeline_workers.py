"""Worker threads of the threaded executor and the batches they hand back.

A large batch goes to a worker as a task. When no worker has taken the task
by the time the caller has read its own batches, the caller runs it itself
and a worker later finds it already claimed. Once ``execute()`` returns, no
thread may still refer to any batch, because a batch contains its packed
commands (64 KiB or more for a worker task) and every reply.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

import rediscluster
from rediscluster.batch import NodeBatch
from rediscluster.testing import LocalCluster
from rediscluster.testing.proxy import FaultProxy

# 30 keys over 3 masters: each master's batch of SETs with this value takes
# more than the 64 KiB from which a batch goes to a worker thread.
LARGE_VALUE = "w" * 12_000
SLOW_DELAY = 0.3


@pytest.fixture
def one_worker_client(
    proxied_cluster: LocalCluster,
) -> Iterator[rediscluster.RedisCluster]:
    client = rediscluster.RedisCluster(
        startup_nodes=proxied_cluster.startup_nodes, pipeline_max_workers=1
    )
    yield client
    for node in proxied_cluster.nodes:
        if node.proxy is not None:
            node.proxy.heal()
    client.close()


def proxy_for(cluster: LocalCluster, name: str) -> FaultProxy:
    for node in cluster.nodes:
        if f"{node.host}:{node.announced_port}" == name and node.proxy is not None:
            return node.proxy
    raise AssertionError(f"no proxy in front of {name}")


def live_batches() -> list[NodeBatch]:
    gc.collect()
    return [item for item in gc.get_objects() if isinstance(item, NodeBatch)]


def holders_of(item: Any, ignore: list[Any]) -> list[str]:
    """Return the type names of objects other than frames that refer to item."""
    return [
        type(referrer).__name__
        for referrer in gc.get_referrers(item)
        if referrer is not ignore and not isinstance(referrer, FrameType)
    ]


def test_caller_run_task_not_kept(
    proxied_cluster: LocalCluster, one_worker_client: rediscluster.RedisCluster
) -> None:
    rc = one_worker_client
    keys = [f"worker:{n}" for n in range(30)]
    masters = sorted(rc.get_primaries(), key=lambda node: (node.host, node.port))
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    rc.pipeline().set(keys[0], "warm").get(keys[1]).execute()

    # The caller keeps the first batch by address, and its delay gives the one
    # worker time to take the second. The longer delay keeps the worker busy
    # with it, so the caller runs the third task itself.
    proxy_for(proxied_cluster, masters[0].name).set_delay(SLOW_DELAY / 3)
    proxy_for(proxied_cluster, masters[1].name).set_delay(SLOW_DELAY)
    pipe = rc.pipeline(use_threads=True)
    for key in keys:
        pipe.set(key, LARGE_VALUE)
    assert pipe.execute() == [True] * len(keys)
    assert rc._executor is not None
    assert rc._executor.worker_count == 1

    # By now the worker has finished its own task and found the third one
    # claimed.
    time.sleep(SLOW_DELAY * 3)
    batches = live_batches()
    referred = {batch.node.name: holders_of(batch, batches) for batch in batches}
    assert referred == {}
