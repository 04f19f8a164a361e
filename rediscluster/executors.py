"""How a pipeline round runs its node batches: on workers, or on the caller.

``SerialExecutor`` uses no thread but the caller's: it writes every node's
batch first and reads replies afterwards, so round trips still overlap.
``ThreadedExecutor`` hands every batch but one to a shared, bounded pool of
worker threads and runs the remaining batch on the calling thread, which saves
one handoff. Under ``gevent.monkey.patch_all()`` the standard library's
threads are greenlets, so the same workers become greenlets.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional, Sequence

from .batch import NodeBatch, ParseReply

logger = logging.getLogger(__name__)

DEFAULT_MAX_WORKERS = 32


class SerialExecutor:
    """Runs node batches on the calling thread, all writes before all reads."""

    def run(self, batches: Sequence[NodeBatch], parse: ParseReply) -> None:
        """Send every batch, then read every batch's replies."""
        if len(batches) == 1:
            batches[0].run(parse)
            return
        try:
            for batch in batches:
                batch.send()
            for batch in batches:
                batch.receive(parse)
        except BaseException:
            for batch in batches:
                batch.abandon()
            raise


class ThreadedExecutor:
    """Runs node batches concurrently on a bounded pool of reused workers."""

    def __init__(self, max_workers: Optional[int] = None) -> None:
        self.max_workers = max_workers or DEFAULT_MAX_WORKERS
        self._pool: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ThreadedExecutor {state}, max {self.max_workers} workers>"

    @property
    def started(self) -> bool:
        """True once a worker pool exists."""
        return self._pool is not None

    def run(self, batches: Sequence[NodeBatch], parse: ParseReply) -> None:
        """Run every batch; one on the calling thread, the others on workers."""
        if len(batches) == 1:
            batches[0].run(parse)
            return
        pool = self._workers()
        futures: list[Future[None]] = [
            pool.submit(batch.run, parse) for batch in batches[1:]
        ]
        try:
            batches[0].run(parse)
        finally:
            # Workers own their batches' connections and clean them up, so the
            # caller waits for them even when its own batch failed.
            for future in futures:
                future.exception()
        for future in futures:
            future.result()

    def shutdown(self) -> None:
        """Stop the workers after the batches they run now."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
            logger.debug("pipeline workers stopped")

    def _workers(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._closed:
                raise RuntimeError(
                    "the client is closed; create a new RedisCluster to run "
                    "pipelines"
                )
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_workers,
                    thread_name_prefix="rediscluster-pipeline",
                )
            return self._pool
