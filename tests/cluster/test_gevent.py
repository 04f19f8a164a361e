"""Threaded pipelines in a process that gevent patched, as ``tox -e gevent`` runs.

Under ``gevent.monkey.patch_all()`` the executor's worker threads are
greenlets. These tests check that the reads of a threaded pipeline really run
on several greenlets of one OS thread and still return every reply in order.
Outside such a process they skip.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import rediscluster
from rediscluster.batch import NodeBatch

from .spread import spread_keys

gevent = pytest.importorskip("gevent")
monkey = pytest.importorskip("gevent.monkey")

pytestmark = pytest.mark.skipif(
    not monkey.is_module_patched("threading"),
    reason="needs a process patched by gevent.monkey.patch_all(): tox -e gevent",
)


class GreenletRecorder:
    """Records the greenlet and OS thread that reads each node batch's replies."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.greenlets: set[int] = set()
        self.native_threads: set[int] = set()
        self._lock = threading.Lock()
        original = NodeBatch.receive
        monkeypatch.setattr(NodeBatch, "receive", self._wrap(original))

    def _wrap(self, original: Any) -> Any:
        def recorded(batch: NodeBatch) -> Any:
            with self._lock:
                self.greenlets.add(id(gevent.getcurrent()))
                self.native_threads.add(threading.get_native_id())
            return original(batch)

        return recorded


def test_threaded_pipeline_on_greenlets(
    rc: rediscluster.RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = spread_keys(rc, "gevent:")
    # Three 40 KB values per master make each batch larger than 64 KiB, the
    # size from which batches go to workers. Smaller ones stay on the caller.
    value = b"g" * 40_000
    recorder = GreenletRecorder(monkeypatch)
    pipe = rc.pipeline(use_threads=True)
    for key in keys:
        pipe.set(key, value).get(key)
    results = pipe.execute()
    assert results == [result for _ in keys for result in (True, value)]
    assert len(recorder.greenlets) > 1
    assert recorder.native_threads == {threading.get_native_id()}
