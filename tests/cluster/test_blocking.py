"""Blocking commands wait their own time, past socket_timeout.

They do so without stalling pipelines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import rediscluster
from rediscluster.testing import LocalCluster


@pytest.fixture
def brc(
    cluster: LocalCluster, rc: rediscluster.RedisCluster
) -> Iterator[rediscluster.RedisCluster]:
    client = rediscluster.RedisCluster(
        startup_nodes=cluster.startup_nodes, socket_timeout=0.5
    )
    yield client
    client.close()


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_blpop_times_out_none(brc: rediscluster.RedisCluster) -> None:
    result, seconds = timed(lambda: brc.blpop(["empty"], timeout=1.5))
    assert result is None
    assert 1.4 <= seconds < 2.4


def test_blpop_gets_pushed_item(brc: rediscluster.RedisCluster) -> None:
    pusher = threading.Timer(0.3, lambda: brc.rpush("queue", "item"))
    pusher.start()
    try:
        result, seconds = timed(lambda: brc.blpop(["queue"], timeout=3))
    finally:
        pusher.join()
    assert result == (b"queue", b"item")
    assert seconds < 1.5


def test_blpop_forever_past_timeout(brc: rediscluster.RedisCluster) -> None:
    pusher = threading.Timer(0.8, lambda: brc.rpush("queue", "late"))
    pusher.start()
    try:
        result = brc.blpop(["queue"], timeout=0)
    finally:
        pusher.join()
    assert result == (b"queue", b"late")


def test_connection_usable_after_block(brc: rediscluster.RedisCluster) -> None:
    brc.blpop(["empty"], timeout=0.6)
    brc.set("empty:after", "v")
    assert brc.get("empty:after") == b"v"


def test_xread_block_empty(brc: rediscluster.RedisCluster) -> None:
    brc.xadd("stream", {"f": "v"})
    result, seconds = timed(lambda: brc.xread({"stream": "$"}, block=1500))
    assert not result
    assert 1.4 <= seconds < 2.4


def test_blocking_spares_pipelines(brc: rediscluster.RedisCluster) -> None:
    keys = [f"side:{n}" for n in range(30)]
    assert len({brc.get_node_from_key(k).name for k in keys}) == 3
    blocker = threading.Thread(target=lambda: brc.blpop(["empty"], timeout=1))
    blocker.start()
    time.sleep(0.1)
    started = time.monotonic()
    try:
        for _ in range(20):
            pipe = brc.pipeline(use_threads=True)
            for key in keys:
                pipe.incr(key)
            pipe.execute()
        seconds = time.monotonic() - started
        still_blocked = blocker.is_alive()
    finally:
        blocker.join()
    assert still_blocked
    assert seconds < 0.7
