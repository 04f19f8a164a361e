"""Pooled connections that the servers closed while idle (``timeout 1``).

The servers close a client connection after 1 s without traffic. The client
must notice that before it writes to such a connection: a write into a closed
connection fails only after the command may have left, which would turn a
harmless command into an ``OutcomeUnknownError``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import rediscluster
from rediscluster import OutcomeUnknownError
from rediscluster.testing import LocalCluster

from .conftest import write_figures

IDLE_SECONDS = 2.5
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def local() -> Iterator[LocalCluster]:
    from conftest import track

    with LocalCluster(masters=3, replicas=0, extra_config={"timeout": 1}) as cluster:
        track(cluster)
        yield cluster
        write_figures("idle_timeout", FIGURES)


def set_and_get(
    rc: rediscluster.RedisCluster, keys: list[str], tag: str
) -> list[Any]:
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, f"{key}:{tag}")
        pipe.get(key)
    return pipe.execute(raise_on_error=False)


def expected(keys: list[str], tag: str) -> list[Any]:
    return [item for key in keys for item in (True, f"{key}:{tag}".encode())]


@pytest.mark.parametrize("use_threads", [True, False])
def test_idle_connections_closed(local: LocalCluster, use_threads: bool) -> None:
    rc = rediscluster.RedisCluster(
        startup_nodes=local.startup_nodes, pipeline_use_threads=use_threads
    )
    try:
        keys = [f"idle:{n}" for n in range(30)]
        assert len({rc.get_node_from_key(key).name for key in keys}) == 3
        assert set_and_get(rc, keys, "first") == expected(keys, "first")
        for key in keys:
            rc.set(key, f"{key}:plain")
        opened = {node.name: node.pool.created for node in rc.get_primaries()}
        assert min(opened.values()) >= 1

        time.sleep(IDLE_SECONDS)
        # Each server keeps only the connection that runs CLIENT LIST.
        for node in local.masters:
            with node.client() as direct:
                assert len(direct.client_list()) == 1, node
        results = set_and_get(rc, keys, "after-idle")
        unknown = [r for r in results if isinstance(r, OutcomeUnknownError)]

        assert unknown == []
        assert results == expected(keys, "after-idle")
        assert rc.set(keys[0], "plain-after-idle") is True
        time.sleep(IDLE_SECONDS)
        assert rc.get(keys[0]) == b"plain-after-idle"
        FIGURES[f"threads_{use_threads}"] = {
            "idle_seconds": IDLE_SECONDS,
            "connections_before_idle": opened,
            "commands_after_idle": len(results) + 2,
        }
    finally:
        rc.close()
