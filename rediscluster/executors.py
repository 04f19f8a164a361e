"""Executors that run a pipeline round's node batches, on workers or on the caller.

``SerialExecutor`` uses no thread but the caller's: it writes every node's
batch first and then reads the replies in the order they arrive, so round
trips still overlap. ``ThreadedExecutor`` does the same for small batches,
and hands every large batch but one to a shared, bounded pool of worker
threads, which write and read it while the caller handles the rest.

Small batches stay on the caller because a write only copies bytes into a
socket buffer and, under the GIL, parsing on several threads does not run in
parallel. A worker's wake-up then only adds latency: in ``make demo`` on a
2-core machine (3 nodes behind 1 ms proxies, 30 commands), pipelines took
about 3% longer when workers read the replies. A large write can block
until the server has read it, and TLS encryption releases the GIL, so large
batches gain from workers.

The worker pool is written here rather than taken from ``concurrent.futures``
because a Future, a work item and a condition per task cost more than the
reply parsing they wrap. Under ``gevent.monkey.patch_all()`` the standard
library's threads are greenlets, so the same workers become greenlets.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from typing import Optional, Sequence

from .arrival import receive_as_ready
from .batch import NodeBatch
from .exceptions import PipelineUsageError

logger = logging.getLogger(__name__)

DEFAULT_MAX_WORKERS = 32

# Packed size from which a batch goes to a worker. An estimate: Linux starts
# a TCP socket's send buffer at 16 KiB and grows it on demand, so smaller
# writes rarely wait for the server to read.
LARGE_BATCH_BYTES = 64 * 1024


class SerialExecutor:
    """Runs node batches on the calling thread, all writes before all reads."""

    def run(self, batches: Sequence[NodeBatch]) -> None:
        """Send every batch, then read the replies in their order of arrival."""
        if len(batches) == 1:
            batches[0].run()
            return
        for batch in batches:
            batch.pack()
        _send_then_receive(batches)


def _send_then_receive(batches: Sequence[NodeBatch]) -> None:
    """Take each packed batch's connection and write it, in the order given,
    then read every batch's replies as they arrive.

    Each write follows its own connection's acquire, so the first round trip
    starts before the later connections are taken. Callers pass the batches
    in node order, the order every pipeline takes connections in.
    """
    try:
        for batch in batches:
            batch.send()
        receive_as_ready(batches)
    except BaseException:
        for batch in batches:
            batch.abandon()
        raise


class _Latch:
    """Lets the caller sleep until ``count`` worker tasks have finished."""

    __slots__ = ("_remaining", "_guard", "_lock", "errors")

    def __init__(self, count: int) -> None:
        self._remaining = count
        self._guard = threading.Lock()
        self._lock = threading.Lock()
        if count > 0:
            self._lock.acquire()
        self.errors: list[BaseException] = []

    def task_done(self) -> None:
        with self._guard:
            self._remaining -= 1
            finished = self._remaining == 0
        if finished:
            self._lock.release()

    def wait(self) -> None:
        self._lock.acquire()


class _Task:
    """Writing and reading one packed batch whose connection the caller took.

    Run once, by a worker or by the caller.
    """

    __slots__ = ("batch", "latch", "_claim")

    def __init__(self, batch: NodeBatch, latch: _Latch) -> None:
        self.batch = batch
        self.latch = latch
        self._claim = threading.Lock()

    def claim(self) -> bool:
        """Return True for exactly one caller: the one that must run the task."""
        return self._claim.acquire(blocking=False)

    def abandon(self) -> None:
        """Give up the task after the caller failed; nothing was sent for it."""
        self.batch.abandon()
        self.latch.task_done()

    def run(self) -> None:
        try:
            self.batch.write()
            self.batch.receive()
        except BaseException as exc:  # handed to the caller by the latch
            self.batch.abandon()
            self.latch.errors.append(exc)
        finally:
            self.latch.task_done()


class ThreadedExecutor:
    """Runs large node batches concurrently on a bounded pool of reused workers.

    Workers start on demand, up to ``max_workers``, and live until
    ``shutdown``. Tasks travel through one ``queue.SimpleQueue``, which
    gevent's monkey patching replaces with a cooperative queue.
    """

    def __init__(self, max_workers: Optional[int] = None) -> None:
        self.max_workers = max_workers or DEFAULT_MAX_WORKERS
        if self.max_workers < 1:
            raise ValueError(
                f"pipeline_max_workers must be a positive integer, got {max_workers!r}"
            )
        self._tasks: "queue.SimpleQueue[Optional[_Task]]" = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False
        _EXECUTORS.add(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<ThreadedExecutor {state}, {len(self._workers)} of "
            f"{self.max_workers} workers, {self._idle} idle>"
        )

    @property
    def worker_count(self) -> int:
        """Number of worker threads started so far."""
        return len(self._workers)

    def run(self, batches: Sequence[NodeBatch]) -> None:
        """Run the batches, every large batch but one on a worker.

        Without a large batch, the caller runs them all as SerialExecutor
        does. Otherwise it first takes every batch's connection, in node
        order. It then writes its own batches, the small ones first so that
        their round trips start before a large write, and reads their replies
        in the order they arrive. A worker task that no worker has picked up
        by then runs on the caller.
        """
        if len(batches) == 1:
            batches[0].run()
            return
        self._check_open()
        for batch in batches:
            batch.pack()
        small = [b for b in batches if b.payload_size < LARGE_BATCH_BYTES]
        if len(small) == len(batches):
            _send_then_receive(batches)  # nothing for a worker
            return
        large = [b for b in batches if b.payload_size >= LARGE_BATCH_BYTES]
        latch = _Latch(max(0, len(large) - 1))
        tasks = [_Task(batch, latch) for batch in large[1:]]
        try:
            # Every connection is taken here, in node order, before any write
            # or hand-off, so two pipelines never each hold a connection the
            # other waits for in a bounded pool.
            for batch in batches:
                batch.acquire()
        except BaseException:
            for batch in batches:
                batch.abandon()
            raise
        own = small + large[:1]
        try:
            if tasks:
                self._submit(tasks)
            for batch in own:
                batch.write()
            receive_as_ready(own)
        except BaseException:
            self._give_up(own, tasks, latch)
            raise
        try:
            for task in tasks:
                # NOTE: an interrupt between claim() and run() leaves that
                # task's connection taken from its pool.
                if task.claim():
                    task.run()
        except BaseException:
            self._give_up([], tasks, latch)
            raise
        latch.wait()
        if latch.errors:
            raise latch.errors[0]

    @staticmethod
    def _give_up(own: Sequence[NodeBatch], tasks: list[_Task], latch: _Latch) -> None:
        """Close the caller's batches and the tasks no worker has taken.

        A task's batch is only touched through its claim, since a worker may
        be writing it. Returns once the workers' tasks have finished.
        """
        for batch in own:
            batch.abandon()
        for task in tasks:
            if task.claim():
                task.abandon()
        latch.wait()

    def shutdown(self) -> None:
        """Stop the workers once they finish the tasks they hold."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
        for _ in workers:
            self._tasks.put(None)
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join()
        logger.debug("stopped %d pipeline workers", len(workers))

    def _check_open(self) -> None:
        if self._closed:
            raise PipelineUsageError(
                "the client is closed; create a new RedisCluster to run pipelines"
            )

    def _submit(self, tasks: list[_Task]) -> None:
        with self._lock:
            if self._closed:
                # Nothing was sent yet, so no command's outcome is in doubt.
                raise PipelineUsageError(
                    "the client was closed while a pipeline started; create a "
                    "new RedisCluster to run pipelines"
                )
            missing = len(tasks) - self._idle
            room = self.max_workers - len(self._workers)
            for _ in range(max(0, min(missing, room))):
                self._start_worker()
        for task in tasks:
            self._tasks.put(task)

    def _start_worker(self) -> None:
        worker = threading.Thread(
            target=self._work,
            name=f"rediscluster-pipeline-{len(self._workers)}",
            daemon=True,
        )
        self._workers.append(worker)
        self._idle += 1
        worker.start()

    def _work(self) -> None:
        tasks = self._tasks
        while True:
            task = tasks.get()
            if task is None:
                return
            if not task.claim():
                # The caller ran it. Drop it now: held until the next get(),
                # it would keep the batch and its replies alive.
                del task
                continue
            with self._lock:
                self._idle -= 1
            try:
                task.run()
            finally:
                # Drop the task now: held until the next get(), it would keep
                # the batch and its replies alive after execute() returned.
                del task
                with self._lock:
                    self._idle += 1


_EXECUTORS: "weakref.WeakSet[ThreadedExecutor]" = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    # Workers are daemon threads, so an unclosed client does not keep the
    # interpreter alive. Stopping them here lets a batch in flight finish.
    for executor in list(_EXECUTORS):
        executor.shutdown()
