"""Pipeline reads in arrival order when one node stops replying or cuts a reply.

Small batches are read on the calling thread through ``select.poll``, each
with a deadline of one socket timeout. Batches of 64 KiB or more go to
worker threads. A node that stops replying must fail only its own
commands, in about one socket timeout, and every connection must go back to
its pool or be closed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry

import rediscluster
from rediscluster import OutcomeUnknownError
from rediscluster.testing import LocalCluster
from rediscluster.testing.proxy import FaultProxy

SOCKET_TIMEOUT = 0.5

# 30 keys over 3 masters: with this value size each master's batch of SETs
# takes more than the 64 KiB from which a batch goes to a worker thread.
SIZES = {"small": 10, "large": 12_000}


@pytest.fixture
def timed_client(proxied_cluster: LocalCluster) -> Iterator[rediscluster.RedisCluster]:
    client = rediscluster.RedisCluster(
        startup_nodes=proxied_cluster.startup_nodes,
        socket_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    yield client
    for node in proxied_cluster.nodes:
        if node.proxy is not None:
            node.proxy.heal()
    client.close()


def spread_keys(rc: rediscluster.RedisCluster, count: int = 30) -> list[str]:
    keys = [f"deadline:{n}" for n in range(count)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    return keys


def proxy_for(cluster: LocalCluster, name: str) -> FaultProxy:
    for node in cluster.nodes:
        if f"{node.host}:{node.announced_port}" == name and node.proxy is not None:
            return node.proxy
    raise AssertionError(f"no proxy in front of {name}")


def in_use(rc: rediscluster.RedisCluster) -> dict[str, int]:
    return {node.name: node.pool.in_use for node in rc.topology.nodes()}


@pytest.mark.parametrize("use_threads", [True, False])
@pytest.mark.parametrize("size", sorted(SIZES))
def test_silent_node_fails_alone(
    proxied_cluster: LocalCluster,
    timed_client: rediscluster.RedisCluster,
    use_threads: bool,
    size: str,
) -> None:
    rc = timed_client
    keys = spread_keys(rc)
    victim = rc.get_node_from_key(keys[0])
    victim_keys = [k for k in keys if rc.get_node_from_key(k) is victim]
    value = "s" * SIZES[size]
    rc.pipeline().set(keys[0], "warm").set(keys[1], "warm").execute()

    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.set(key, value)
    proxy_for(proxied_cluster, victim.name).blackhole()
    started = time.monotonic()
    results = pipe.execute(raise_on_error=False)
    elapsed = time.monotonic() - started
    proxy_for(proxied_cluster, victim.name).blackhole(False)

    failed = [k for k, r in zip(keys, results) if isinstance(r, Exception)]
    assert failed == victim_keys
    for key, result in zip(keys, results):
        if key in victim_keys:
            assert isinstance(result, OutcomeUnknownError), key
        else:
            assert result is True, key
    assert elapsed < 2 * SOCKET_TIMEOUT
    assert elapsed >= SOCKET_TIMEOUT * 0.9
    assert sum(in_use(rc).values()) == 0


@pytest.mark.parametrize("use_threads", [True, False])
def test_slow_node_within_timeout_succeeds(
    proxied_cluster: LocalCluster,
    timed_client: rediscluster.RedisCluster,
    use_threads: bool,
) -> None:
    # Replies that arrive before the deadline count, even when another node
    # replied first and was read first.
    rc = timed_client
    keys = spread_keys(rc)
    slow = rc.get_node_from_key(keys[0])
    rc.pipeline().set(keys[0], "warm").set(keys[1], "warm").execute()
    proxy_for(proxied_cluster, slow.name).set_delay(downstream=SOCKET_TIMEOUT * 0.6)
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.set(key, key).get(key)
    results = pipe.execute()
    assert results == [v for k in keys for v in (True, k.encode())]
    assert sum(in_use(rc).values()) == 0


@pytest.mark.parametrize("use_threads", [True, False])
def test_large_batch_cut_mid_reply(
    proxied_cluster: LocalCluster,
    timed_client: rediscluster.RedisCluster,
    use_threads: bool,
) -> None:
    rc = timed_client
    keys = spread_keys(rc)
    victim = rc.get_node_from_key(keys[0])
    victim_keys = [k for k in keys if rc.get_node_from_key(k) is victim]
    value = "c" * SIZES["large"]
    for key in keys:
        rc.set(key, value)
    reply_size = len(f"${len(value)}\r\n{value}\r\n")
    proxy_for(proxied_cluster, victim.name).cut_after(2 * reply_size + 5, count=1)

    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.getset(key, value + "!")
    results = pipe.execute(raise_on_error=False)

    for key, result in zip(keys, results):
        if key in victim_keys[2:]:
            assert isinstance(result, OutcomeUnknownError), key
        else:
            assert result == value.encode(), key
    assert sum(in_use(rc).values()) == 0


GEVENT_CHILD = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import json, sys, time
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    import rediscluster

    host, port, victim = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rc = rediscluster.RedisCluster(
        host=host, port=port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    keys = [f"deadline:{n}" for n in range(30)]
    # Load COMMAND metadata and open a connection to every master while all
    # of them reply, then wait until the parent has silenced the victim.
    rc.router.parser
    warm = rc.pipeline()
    for key in keys:
        warm.set(key, "warm")
    warm.execute()
    print("ready", flush=True)
    sys.stdin.readline()
    runs = []
    for use_threads in (False, True):
        for size in (10, 12000):
            pipe = rc.pipeline(use_threads=use_threads)
            for key in keys:
                pipe.set(key, "g" * size)
            started = time.monotonic()
            results = pipe.execute(raise_on_error=False)
            elapsed = time.monotonic() - started
            runs.append({
                "use_threads": use_threads,
                "size": size,
                "elapsed": elapsed,
                "failed": [k for k, r in zip(keys, results) if r is not True],
                "in_use": sum(n.pool.in_use for n in rc.topology.nodes()),
            })
    expected = [k for k in keys if rc.get_node_from_key(k).name == victim]
    rc.close()
    print(json.dumps({"runs": runs, "expected": expected}))
    """
)


def test_gevent_silent_node_fails_alone(
    proxied_cluster: LocalCluster, timed_client: rediscluster.RedisCluster
) -> None:
    rc = timed_client
    keys = spread_keys(rc)
    victim = rc.get_node_from_key(keys[0])
    first = next(
        address
        for address in proxied_cluster.startup_nodes
        if f"{address['host']}:{address['port']}" != victim.name
    )
    proxy = proxy_for(proxied_cluster, victim.name)
    child = subprocess.Popen(
        [sys.executable, "-c", GEVENT_CHILD,
         str(first["host"]), str(first["port"]), victim.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, GEVENT_RESOLVER="ares"),
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == "ready", child.communicate(timeout=30)[1]
        proxy.blackhole()
        stdout, stderr = child.communicate("go\n", timeout=120)
    finally:
        proxy.blackhole(False)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, stderr
    report = json.loads(stdout.splitlines()[-1])
    for run in report["runs"]:
        assert run["failed"] == report["expected"], run
        assert run["elapsed"] < 2 * SOCKET_TIMEOUT, run
        assert run["in_use"] == 0, run
