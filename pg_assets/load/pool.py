"""A pool of worker threads, each with its own connection, writing staged batches.

The producer (the normalizer) blocks while too many bytes are queued or in flight,
so memory stays flat however large the load. A transient failure (the connection cut
or reset, a deadlock) retries the batch on a fresh connection within the budget of
`retry.py`; the batch ledger makes the retry exactly-once. The first terminal failure
stops the pool and is raised to the producer at its next `submit` or at `join`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg2

from pg_assets.connection import close_quietly
from pg_assets.errors import LoadError, TransientLoadError
from pg_assets.load.errors import describe, is_transient
from pg_assets.load.retry import Retries, first_line

_STOP = object()


@dataclass(frozen=True)
class Job:
    """One batch: `run(cursor, retry)` writes `rows` rows of `table` in the worker's transaction.

    `retry` is True on a second attempt, when the first may have committed before its
    connection was lost: the job then checks whether its rows are already there.
    """

    table: str
    rows: int
    nbytes: int
    run: Callable[[Any, bool], None]


class WorkerPool:
    """`workers` threads draining a queue of jobs; connections open lazily, one per thread."""

    def __init__(self, connect: Callable[[], Any], workers: int, *, max_inflight_bytes: int,
                 on_done: Callable[[Job], None], retries: Retries,
                 describe: Callable[..., LoadError] = describe) -> None:
        self._connect = connect
        self._queue: queue.Queue[Any] = queue.Queue()
        self._budget = threading.Condition()
        self._inflight = 0
        self._max_inflight = max_inflight_bytes
        self._on_done = on_done
        self._retries = retries
        self._describe = describe  # the session's, which knows its `statement_timeout`
        self._error: BaseException | None = None
        self._threads = [threading.Thread(target=self._work, name=f"pg_assets-worker-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for t in self._threads:
            t.start()

    def submit(self, job: Job) -> None:
        """Queue a job, waiting while the in-flight byte budget is spent."""
        with self._budget:
            while self._inflight and self._inflight + job.nbytes > self._max_inflight and not self._error:
                self._budget.wait(0.5)
            self._raise_if_failed()
            self._inflight += job.nbytes
        self._queue.put(job)

    def join(self) -> None:
        """Wait for every queued job; raise the first failure."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for t in self._threads:
            t.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop as soon as possible, dropping queued work (used when the load already failed)."""
        self._error = self._error or LoadError("load aborted")
        self.join_quietly()

    def join_quietly(self) -> None:
        try:
            self.join()
        except BaseException:  # noqa: BLE001 - the caller is already handling a failure
            pass

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        conn = None
        try:
            while True:
                job = self._queue.get()
                if job is _STOP:
                    return
                if self._error is None:
                    conn = self._run(job, conn)
                self._release(job)
                job = None  # the budget is released: so is the payload, not kept while the queue is empty
        finally:
            if conn is not None:
                close_quietly(conn)

    def _release(self, job: Job) -> None:
        with self._budget:
            self._inflight -= job.nbytes
            self._budget.notify_all()

    def _run(self, job: Job, conn: Any) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                conn = conn or self._connect()
                with conn.cursor() as cur:
                    job.run(cur, attempt > 1)
                conn.commit()
                self._on_done(job)
                return conn
            except BaseException as exc:  # noqa: BLE001 - classified below, never swallowed
                if conn is not None:
                    close_quietly(conn)
                    conn = None
                if not is_transient(exc) or not self._retries.pause(f"staging rows of `{job.table}`", exc, attempt):
                    self._fail(job, exc, attempt)
                    return None

    def _fail(self, job: Job, exc: BaseException, attempts: int) -> None:
        if is_transient(exc):
            error: BaseException = TransientLoadError(
                f"staging rows of `{job.table}` kept failing after {attempts} attempts: {first_line(exc)}",
                table=job.table)
            error.__cause__ = exc
        elif isinstance(exc, psycopg2.Error):
            error = self._describe(exc, table=job.table, action="staging rows of")
        else:
            error = exc
        if self._error is None:
            self._error = error
