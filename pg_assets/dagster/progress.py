"""Progress of a running load in the run log, from the op's own thread.

The engine reports `ProgressEvent`s from its loader threads; the load itself runs
on a daemon thread while the op's thread writes a line per table that moved, every
few seconds, to `context.log`. Daemon: if the run is terminated the process exits
without waiting for the load, and an uncommitted load leaves nothing visible.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pg_assets.info import LoadInfo, ProgressEvent


class ProgressBoard:
    """The latest progress per table, written by loader threads, read by the op's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, ProgressEvent] = {}
        self._reported: dict[str, int] = {}

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            self._latest[event.table] = event

    def news(self) -> list[ProgressEvent]:
        """Tables whose row count moved since the last call."""
        with self._lock:
            fresh = [e for t, e in self._latest.items() if self._reported.get(t) != e.rows]
            self._reported.update({e.table: e.rows for e in fresh})
        return fresh


def _log_progress(log: Any, events: list[ProgressEvent]) -> None:
    for e in events:
        rate = f" ({e.rows_per_second:,.0f} rows/s)" if e.rate_is_telling else ""
        log.info(f"`{e.table}`: {e.rows:,} rows staged in {e.seconds:.1f}s{rate}")


def run_logging_progress(work: Callable[[ProgressBoard], LoadInfo], log: Any, interval: float) -> LoadInfo:
    """Run `work` on a daemon thread and log its progress from this (the op's) thread."""
    board, outcome, done = ProgressBoard(), {}, threading.Event()

    def target() -> None:
        try:
            outcome["info"] = work(board)
        except BaseException as exc:  # handed to the op's thread, re-raised there
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="pg_assets-load", daemon=True).start()
    while not done.wait(interval):
        _log_progress(log, board.news())
    _log_progress(log, board.news())
    if "error" in outcome:
        raise outcome["error"]
    return outcome["info"]
