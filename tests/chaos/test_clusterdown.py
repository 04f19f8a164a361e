"""Commands on a hash slot that no node serves for a while (CLUSTERDOWN).

``CLUSTER DELSLOTS`` of one slot on every node makes the servers reply to
commands on that slot with ``CLUSTERDOWN Hash slot not served``. A timer gives
the slot back to its master after OUTAGE_SECONDS. A client whose retry budget
outlasts the outage waits it out; a client with a budget of one retry reports
the server's error long before the slot comes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.crc import key_slot
from redis.exceptions import ClusterDownError, ResponseError
from redis.retry import Retry

import rediscluster
from rediscluster.exceptions import as_cluster_error
from rediscluster.testing import LocalCluster

from .conftest import write_figures

OUTAGE_SECONDS = 2.0
KEY = "down:key"
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def local() -> Iterator[LocalCluster]:
    from conftest import track

    with LocalCluster(masters=3, replicas=0) as cluster:
        track(cluster)
        yield cluster
        write_figures("clusterdown", FIGURES)


class SlotOutage:
    """Outage of one slot: unassigned on every node, reassigned after a delay.

    ``server_error`` is the error text the slot's master replied with once
    the slot was unassigned.
    """

    def __init__(self, cluster: LocalCluster, slot: int, seconds: float) -> None:
        self.cluster = cluster
        self.slot = slot
        self.seconds = seconds
        self.owner = cluster.node_for_slot(slot)
        self.server_error = ""
        self.started = 0.0
        self.restored = 0.0
        self._timer = threading.Timer(seconds, self._restore)

    def __enter__(self) -> SlotOutage:
        for node in self.cluster.nodes:
            with node.client(socket_timeout=2.0) as client:
                client.execute_command("CLUSTER", "DELSLOTS", self.slot)
        self.started = time.monotonic()
        self._timer.start()
        with self.owner.client(socket_timeout=2.0) as client:
            try:
                client.get(KEY)
            except ResponseError as error:
                # redis-py 5 raises ClusterDownError only from its cluster
                # parser, and a plain ResponseError from this plain client.
                if not isinstance(as_cluster_error(error), ClusterDownError):
                    raise
                self.server_error = str(error)
        return self

    def _restore(self) -> None:
        with self.owner.client(socket_timeout=2.0) as client:
            client.execute_command("CLUSTER", "ADDSLOTS", self.slot)
        self.restored = time.monotonic()

    def __exit__(self, *exc_info: Any) -> None:
        self._timer.join()
        self.cluster.wait_ready()


def run_once(rc: rediscluster.RedisCluster, use_pipeline: bool) -> Any:
    """Send SET then GET of KEY, as plain commands or one pipeline.

    Return the reply to the GET.
    """
    if not use_pipeline:
        rc.set(KEY, "after")
        return rc.get(KEY)
    pipe = rc.pipeline()
    pipe.set(KEY, "after")
    pipe.get(KEY)
    return pipe.execute()[1]


@pytest.mark.parametrize("use_pipeline", [False, True])
def test_waits_out_outage(local: LocalCluster, use_pipeline: bool) -> None:
    retry = Retry(ExponentialWithJitterBackoff(base=0.1, cap=1), 10)
    rc = rediscluster.RedisCluster(startup_nodes=local.startup_nodes, retry=retry)
    try:
        rc.set(KEY, "before")
        with SlotOutage(local, key_slot(KEY.encode()), OUTAGE_SECONDS) as outage:
            assert outage.server_error, "the slot's master did not reply CLUSTERDOWN"
            value = run_once(rc, use_pipeline)
            finished = time.monotonic()

        assert value == b"after"
        assert finished >= outage.restored
        FIGURES[f"large_budget_pipeline_{use_pipeline}"] = {
            "outage_seconds": round(outage.restored - outage.started, 3),
            "seconds_until_success": round(finished - outage.started, 3),
        }
    finally:
        rc.close()


@pytest.mark.parametrize("use_pipeline", [False, True])
def test_small_budget_fails(local: LocalCluster, use_pipeline: bool) -> None:
    retry = Retry(NoBackoff(), 1)
    rc = rediscluster.RedisCluster(startup_nodes=local.startup_nodes, retry=retry)
    try:
        rc.set(KEY, "before")
        with SlotOutage(local, key_slot(KEY.encode()), OUTAGE_SECONDS) as outage:
            with pytest.raises(redis.RedisError) as caught:
                run_once(rc, use_pipeline)
            failed = time.monotonic()

        assert isinstance(caught.value, ClusterDownError), repr(caught.value)
        assert outage.server_error in str(caught.value)
        assert failed - outage.started < OUTAGE_SECONDS / 2
        FIGURES[f"small_budget_pipeline_{use_pipeline}"] = {
            "seconds_until_error": round(failed - outage.started, 3),
            "error": str(caught.value),
        }
    finally:
        rc.close()
