"""The retry budget of every phase of a load, written once.

A transient fault (a refused or cut connection, a reset, a deadlock, a serialization
failure) is retried after each of `DELAYS` in turn: five retries spread over 7.75 s,
which outlasts a server restart or a network blip of a few seconds. Each phase keeps its
own count of attempts: opening a connection, writing one batch on a worker connection,
one step on the main connection (the plan reads, the staging DDL), and the commit.

Every retry is logged at WARNING with what failed and why, and counted in the load's
`Retries`, which `LoadInfo.retries` and the Dagster metadata report.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("pg_assets.load")

# seconds to wait before the 1st, 2nd, ... retry; the budget ends after the last
DELAYS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
MAX_ATTEMPTS = len(DELAYS) + 1


class Retries:
    """The retries of one load, counted across its threads."""

    def __init__(self, delays: tuple[float, ...] = DELAYS) -> None:
        self.delays = delays
        self.count = 0
        self._lock = threading.Lock()

    def pause(self, what: str, exc: BaseException, attempt: int) -> bool:
        """After failed attempt number `attempt`: log, count and wait, or False when the budget is spent."""
        if attempt > len(self.delays):
            return False
        delay = self.delays[attempt - 1]
        with self._lock:
            self.count += 1
        log.warning("retrying %s in %.2fs (attempt %d of %d failed): %s", what, delay, attempt,
                    len(self.delays) + 1, first_line(exc))
        time.sleep(delay)
        return True


def first_line(exc: BaseException) -> str:
    """The first line of an error's text, for a log line or a message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
