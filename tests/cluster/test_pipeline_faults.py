"""ClusterPipeline when a node fails: cut replies, no free connection, gevent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.retry import Retry

import rediscluster
from rediscluster import OutcomeUnknownError
from rediscluster.testing import LocalCluster


@pytest.fixture
def prc(proxied_cluster: LocalCluster) -> Iterator[rediscluster.RedisCluster]:
    client = rediscluster.RedisCluster(
        startup_nodes=proxied_cluster.startup_nodes,
        retry=Retry(NoBackoff(), 2),
        socket_timeout=2,
    )
    yield client
    for node in proxied_cluster.nodes:
        if node.proxy is not None:
            node.proxy.heal()
    client.close()


def spread_keys(rc: rediscluster.RedisCluster, count: int) -> list[str]:
    keys = [f"fault:{n}" for n in range(count)]
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3
    return keys


def in_use(rc: rediscluster.RedisCluster) -> int:
    return sum(node.pool.in_use for node in rc.topology.nodes())


def proxy_of(cluster: LocalCluster, name: str):  # type: ignore[no-untyped-def]
    for node in cluster.nodes:
        if f"{node.host}:{node.announced_port}" == name:
            return node.proxy
    raise AssertionError(f"no proxy for {name}")


@pytest.mark.parametrize("use_threads", [True, False])
def test_cut_mid_reply_writes(
    proxied_cluster: LocalCluster,
    prc: rediscluster.RedisCluster,
    use_threads: bool,
) -> None:
    keys = spread_keys(prc, 60)
    victim = prc.get_node_from_key(keys[0])
    victim_keys = [k for k in keys if prc.get_node_from_key(k) is victim]
    prc.pipeline().set(keys[0], "warm").execute()
    created_before = victim.pool.created
    values = {key: f"{key}:" + "v" * 500 for key in keys}

    # GETSET replies carry the old value, so a cut after 3 replies' worth of
    # bytes lands in the middle of the fourth reply of the victim's batch.
    for key in keys:
        prc.set(key, values[key])
    reply_size = len(f"${len(values[keys[0]])}\r\n{values[keys[0]]}\r\n")
    proxy_of(proxied_cluster, victim.name).cut_after(3 * reply_size + 10, count=1)

    pipe = prc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.getset(key, values[key] + "!")
    results = pipe.execute(raise_on_error=False)

    unknown = [k for k, r in zip(keys, results) if isinstance(r, OutcomeUnknownError)]
    for key, result in zip(keys, results):
        if key in unknown:
            continue
        assert result == values[key].encode(), key
    assert unknown == victim_keys[3:]
    assert in_use(prc) == 0
    assert victim.pool.created < created_before + 1


@pytest.mark.parametrize("use_threads", [True, False])
def test_cut_mid_reply_reads_retried(
    proxied_cluster: LocalCluster,
    prc: rediscluster.RedisCluster,
    use_threads: bool,
) -> None:
    keys = spread_keys(prc, 60)
    values = {key: f"{key}:" + "r" * 500 for key in keys}
    for key in keys:
        prc.set(key, values[key])
    victim = prc.get_node_from_key(keys[0])
    proxy_of(proxied_cluster, victim.name).cut_after(1500, count=1)

    pipe = prc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.get(key)
    results = pipe.execute()

    assert results == [values[k].encode() for k in keys]
    assert pipe.last_stats[victim.name].retries > 0
    assert in_use(prc) == 0


def test_no_free_connection_second_node(cluster: LocalCluster) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes,
        max_connections=1,
        pool_timeout=0.1,
        retry=Retry(NoBackoff(), 1),
    )
    try:
        keys = spread_keys(rc, 30)
        second = rc.get_node_from_key(keys[1])
        if second is rc.get_node_from_key(keys[0]):
            second = next(
                rc.get_node_from_key(k) for k in keys
                if rc.get_node_from_key(k) is not rc.get_node_from_key(keys[0])
            )
        _ = rc.router.parser  # loads COMMAND metadata before the pool is exhausted
        held = second.pool.acquire()
        try:
            pipe = rc.pipeline()
            for key in keys:
                pipe.set(key, key)
            results = pipe.execute(raise_on_error=False)
        finally:
            second.pool.release(held)
        for key, result in zip(keys, results):
            if rc.get_node_from_key(key) is second:
                assert isinstance(result, rediscluster.PoolTimeoutError)
            else:
                assert result is True
        assert in_use(rc) == 0
    finally:
        rc.close()


@pytest.mark.parametrize("use_threads", [True, False])
def test_rejected_handshake_other_nodes_run(
    cluster: LocalCluster, use_threads: bool
) -> None:
    # The last node in connection order rejects new connections with an
    # error reply. Its commands fail with that error, and the other nodes'
    # batches, already written by then, are read as usual.
    rc = rediscluster.RedisCluster(startup_nodes=cluster.startup_nodes)
    try:
        keys = spread_keys(rc, 30)
        nodes = {rc.get_node_from_key(k).name: rc.get_node_from_key(k) for k in keys}
        last = nodes[max(nodes, key=lambda name: (name.split(":")[0],
                                                  int(name.split(":")[1])))]
        pool = last.pool
        while pool.idle:
            pool.discard(pool.acquire())  # so the pipeline opens a connection
        make_connection = pool._factory

        def rejected() -> Any:
            connection = make_connection()

            def connect() -> None:
                raise ResponseError("handshake rejected by the test")

            connection.connect = connect
            return connection

        pool._factory = rejected
        pipe = rc.pipeline(use_threads=use_threads)
        for key in keys:
            pipe.set(key, key)
        results = pipe.execute(raise_on_error=False)
        pool._factory = make_connection
        for key, result in zip(keys, results):
            if rc.get_node_from_key(key) is last:
                assert isinstance(result, ResponseError)
                assert "handshake rejected" in str(result)
            else:
                assert result is True
        assert in_use(rc) == 0
        assert [rc.get(k) for k in keys if rc.get_node_from_key(k) is not last] == [
            k.encode() for k in keys if rc.get_node_from_key(k) is not last
        ]
    finally:
        rc.close()


GEVENT_CHILD = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import json, os, sys, time
    import rediscluster

    host, port = sys.argv[1], int(sys.argv[2])
    rc = rediscluster.RedisCluster(host=host, port=port)
    keys = [f"gevent:{n}" for n in range(30)]
    timings = []
    ok = True
    for round_number in range(5):
        # Values large enough that every node's batch goes to a worker.
        value = str(round_number).encode() * 16384
        pipe = rc.pipeline(use_threads=True)
        for key in keys:
            pipe.set(key, value).get(key)
        started = time.perf_counter()
        results = pipe.execute()
        timings.append(time.perf_counter() - started)
        expected = [v for k in keys for v in (True, value)]
        ok = ok and results == expected
    workers = rc._executor.worker_count
    rc.close()
    from rediscluster.pool import _instant_poll
    print(json.dumps({
        "instant_poll_module": type(_instant_poll()).__module__,
        "ok": ok,
        "timings": timings,
        "workers": workers,
        "os_threads": len(os.listdir("/proc/self/task")),
    }))
    """
)


def test_gevent_pipeline_overlaps(proxied_cluster: LocalCluster) -> None:
    delay = 0.05
    for node in proxied_cluster.nodes:
        node.proxy.set_delay(delay)
    try:
        first = proxied_cluster.startup_nodes[0]
        env = dict(os.environ, GEVENT_RESOLVER="ares")
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                GEVENT_CHILD,
                str(first["host"]),
                str(first["port"]),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    finally:
        for node in proxied_cluster.nodes:
            node.proxy.heal()
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["ok"] is True
    assert report["workers"] >= 1
    # The idle-connection check never waits, so it skips gevent's poll.
    assert report["instant_poll_module"] == "select"
    # Workers are greenlets: the process runs on its main OS thread only.
    assert report["os_threads"] == 1
    # One round trip is 2 * delay; three sequential ones would take 6 * delay.
    assert min(report["timings"]) < 4 * delay


@pytest.mark.parametrize("one_node", [True, False])
@pytest.mark.parametrize("use_threads", [True, False])
def test_interrupt_before_write_frees_connection(
    rc: rediscluster.RedisCluster,
    monkeypatch: pytest.MonkeyPatch,
    one_node: bool,
    use_threads: bool,
) -> None:
    keys = ["{a}1", "{a}2"] if one_node else spread_keys(rc, 30)
    original = rediscluster.batch.NodeBatch.write
    calls = []

    def interrupted(batch: rediscluster.batch.NodeBatch) -> None:
        calls.append(batch)
        if len(calls) == 1:
            raise KeyboardInterrupt
        original(batch)

    monkeypatch.setattr(rediscluster.batch.NodeBatch, "write", interrupted)
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.set(key, "v")
    with pytest.raises(KeyboardInterrupt):
        pipe.execute()
    assert in_use(rc) == 0
    monkeypatch.setattr(rediscluster.batch.NodeBatch, "write", original)
    pipe = rc.pipeline(use_threads=use_threads)
    for key in keys:
        pipe.get(key)
    assert len(pipe.execute()) == len(keys)
    assert in_use(rc) == 0
