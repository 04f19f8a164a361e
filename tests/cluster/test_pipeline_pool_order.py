"""Pipelines in several threads sharing bounded per-node pools.

Each pipeline takes its node connections in the order of the nodes' host and
port. Two pipelines then never each hold a connection that the other waits
for, so with ``max_connections=1`` they only wait for each other and no
command fails with ``PoolTimeoutError``. Batches of 64 KiB or more run on
worker threads and smaller ones on the caller, which must not change that
order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import rediscluster
from rediscluster.testing import LocalCluster
from rediscluster.topology import ClusterNode

# More than the 64 KiB from which a batch goes to a worker thread.
LARGE_VALUE = "L" * 70_000
ROUNDS = 10


@pytest.fixture
def bounded_client(cluster: LocalCluster) -> Iterator[rediscluster.RedisCluster]:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, max_connections=1, pool_timeout=1.0
    )
    # COMMAND metadata loads on first use and needs a connection of its own.
    client.set("order:warm", "1")
    client.get("order:warm")
    yield client
    client.close()


def key_on(rc: rediscluster.RedisCluster, node: ClusterNode, prefix: str) -> str:
    for number in range(100_000):
        key = f"{prefix}:{number}"
        if rc.get_node_from_key(key) is node:
            return key
    raise LookupError(f"no key with prefix {prefix!r} on {node.name}")


def run_crossed(
    rc: rediscluster.RedisCluster,
    use_threads: bool,
    large_first: bool,
    barrier: threading.Barrier,
) -> list[str]:
    """Run ROUNDS pipelines of two SETs; return the names of failed outcomes.

    Every round starts at the barrier, together with the other thread's.
    The pipeline's large SET goes to the first master by address when
    large_first is true, and to the second one otherwise.
    """
    masters = sorted(rc.get_primaries(), key=lambda node: (node.host, node.port))
    first_key = key_on(rc, masters[0], "order")
    second_key = key_on(rc, masters[1], "order")
    failures = []
    for _ in range(ROUNDS):
        pipe = rc.pipeline(use_threads=use_threads)
        pipe.set(first_key, LARGE_VALUE if large_first else "small")
        pipe.set(second_key, "small" if large_first else LARGE_VALUE)
        barrier.wait()
        results = pipe.execute(raise_on_error=False)
        failures.extend(type(r).__name__ for r in results if r is not True)
    return failures


@pytest.mark.parametrize("use_threads", [True, False])
def test_crossed_batch_sizes_no_pool_timeout(
    bounded_client: rediscluster.RedisCluster, use_threads: bool
) -> None:
    outcomes: dict[bool, list[str]] = {}
    barrier = threading.Barrier(2, timeout=30)

    def work(large_first: bool) -> None:
        outcomes[large_first] = run_crossed(
            bounded_client, use_threads, large_first, barrier
        )

    threads = [threading.Thread(target=work, args=(flag,)) for flag in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {True: [], False: []}
    assert sum(node.pool.in_use for node in bounded_client.topology.nodes()) == 0
