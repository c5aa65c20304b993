"""Fault trials: one load through the proxy with one fault, then the invariant.

A trial first runs a fault-free load of the same shape to measure its bytes and where
its phases start, then a load cut at a random byte of that span (optionally followed
by refused connections), then checks:

- the table holds its before-state or its after-state, never a part;
- no key twice; `_dlt_loads` has one row per committed load; the stored cursor is the
  largest id in the table;
- after a failure, a fault-free rerun brings exactly the expected rows.

Shared by `tests/faults/` (a few seeded trials) and `benchmarks/soak_faults.py` (hundreds).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.errors

import pg_assets
from pg_assets.connection import ConnectionConfig

ROWS = 400
PHASE_MARKS = {b"INSERT INTO": "staging", b"COPY ": "staging", b"pg_advisory_xact_lock": "commit"}


@dataclass
class Trial:
    """What happened in one trial."""

    seed: int
    phase: str = "plan"
    refused: float = 0.0
    ok: bool = False
    retries: int = 0
    error: str = ""
    problems: list[str] = field(default_factory=list)


class Dataset:
    """One dataset under test, loaded trial after trial; remembers what it should hold."""

    def __init__(self, direct: ConnectionConfig, through: ConnectionConfig, name: str, *,
                 file_format: str = "insert_values") -> None:
        self.direct, self.through, self.name = direct, through, name
        self.file_format = file_format
        self.expected: set[int] = set()
        self.loads = 0
        self.next_id = 0

    def pipeline(self, config: ConnectionConfig) -> Any:
        return pg_assets.pipeline("faulty", dataset=self.name, credentials=config, workers=2, batch_bytes=4096,
                                  lock_timeout=30, file_format=self.file_format)

    def resource(self, ids: range, before: Callable[[int], None] = lambda i: None) -> Any:
        """The rows of `ids`; `before(i)` runs before row `i` is yielded (to fault the load from inside)."""
        def items() -> Iterator[dict[str, Any]]:
            for i in ids:
                before(i)
                yield {"id": i, "name": f"row {i}", "tags": [{"t": i % 7}, {"t": i % 5}]}

        return pg_assets.resource(items(), name="events", incremental={"cursor_path": "id"})

    def load(self, config: ConnectionConfig, ids: range, before: Callable[[int], None] = lambda i: None) -> Any:
        return self.pipeline(config).run(self.resource(ids, before))

    def clean_load(self, proxy: Any) -> tuple[int, dict[str, int]]:
        """A fault-free load through the proxy: its size in bytes, and where each phase starts."""
        ids = self._take()
        start = proxy.passed
        proxy.watch(*PHASE_MARKS)
        self.load(self.through, ids)
        self._committed(ids)
        return proxy.passed - start, {PHASE_MARKS[m]: at - start for m, at in proxy.marks.items()}

    def faulted_load(self, proxy: Any, rng: random.Random, *, refuse: float = 0.0,
                     phase: str | None = None) -> Trial:
        """A load cut at a random byte (of `phase`, if given); then the invariant, and a rerun if it failed."""
        size, starts = self.clean_load(proxy)
        bounds = _phase_bounds(size, starts)
        if phase is not None and phase not in bounds:
            phase = None
        low, high = bounds[phase] if phase else (0, size)
        at = rng.randrange(low, max(low + 1, high))
        trial = Trial(seed=at, phase=next(p for p, (lo, hi) in bounds.items() if lo <= at < hi) if bounds else "plan",
                      refused=refuse)
        ids = self._take()
        proxy.cut_after(at, refuse=refuse)
        try:
            info = self.load(self.through, ids)
            trial.ok, trial.retries = True, info.retries
        except pg_assets.PgAssetsError as exc:
            trial.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        except Exception as exc:  # noqa: BLE001 - an escaped driver error is a finding, not a crash
            trial.error = f"ESCAPED {type(exc).__name__}: {exc}"
            trial.problems.append(f"an exception outside the PgAssetsError tree: {type(exc).__name__}")
        proxy.disarm()
        trial.problems += self.check(ids)
        if not trial.ok:
            self.load(self.direct, ids)  # the rerun, fault-free
            self._committed(ids)
            trial.problems += [f"after the rerun: {p}" for p in self.check(ids)]
        return trial

    def check(self, ids: range) -> list[str]:
        """The invariant; a committed load is taken into account as it is found."""
        found = self.ids()
        if found == self.expected | set(ids) and set(ids) - self.expected:
            self._committed(ids)
        problems = []
        if self.duplicates():
            problems.append(f"duplicate ids: {self.duplicates()[:5]}")
        if set(found) != self.expected:
            lost, extra = sorted(self.expected - set(found)), sorted(set(found) - self.expected)
            problems.append(f"partial: {len(lost)} lost, {len(extra)} extra rows")
        loads, cursor = self.bookkeeping()
        if loads != self.loads:
            problems.append(f"_dlt_loads has {loads} rows, {self.loads} loads committed")
        if self.expected and cursor != max(self.expected):
            problems.append(f"the stored cursor is {cursor}, the largest id {max(self.expected)}")
        return problems

    def _take(self, rows: int = ROWS) -> range:
        ids = range(self.next_id, self.next_id + rows)
        self.next_id += rows
        return ids

    def _committed(self, ids: range) -> None:
        if not set(ids) <= self.expected:
            self.expected |= set(ids)
            self.loads += 1

    def _query(self, statement: str) -> list[tuple]:
        """The rows, or none while the table does not exist (no load committed yet)."""
        conn = psycopg2.connect(**self.direct.connect_kwargs())
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall()
        except psycopg2.errors.UndefinedTable:
            return []
        finally:
            conn.close()

    def ids(self) -> set[int]:
        return {i for (i,) in self._query(f'SELECT id FROM "{self.name}".events')}

    def duplicates(self) -> list[int]:
        return [i for (i,) in self._query(f'SELECT id FROM "{self.name}".events GROUP BY id HAVING count(*) > 1')]

    def bookkeeping(self) -> tuple[int, int | None]:
        loads = sum(n for (n,) in self._query(f'SELECT count(*) FROM "{self.name}"._dlt_loads'))
        state = pg_assets.pipeline("faulty", dataset=self.name, credentials=self.direct).state()
        return loads, _cursor(state)


def _cursor(state: Any) -> int | None:
    text = json.dumps(state, default=str)
    data = json.loads(text)
    try:
        inc = data["sources"]["faulty"]["resources"]["events"]["incremental"]["id"]
    except (KeyError, TypeError):
        return None
    return inc.get("last_value")


def _phase_bounds(size: int, starts: dict[str, int]) -> dict[str, tuple[int, int]]:
    staging, commit = starts.get("staging", 0), starts.get("commit", size)
    return {name: (lo, hi) for name, (lo, hi) in
            {"plan": (0, staging), "staging": (staging, commit), "commit": (commit, size)}.items() if hi > lo}


KILLED_LOAD = """
import os, sys
sys.path.insert(0, {here!r})
from pg_assets.destination import resolve_credentials
from fault_trials import Dataset
config = resolve_credentials(os.environ["FAULTS_URI"])
ds = Dataset(config, config, {name!r})
print("loading", flush=True)
ds.load(config, range({start}, {stop}))
"""


def check_and_rerun(ds: Dataset, ids: range, trial: Trial) -> Trial:
    """The invariant after a faulted load of `ids`; when the load did not commit, a fault-free rerun and
    the invariant again."""
    trial.problems += ds.check(ids)
    if not set(ids) <= ds.expected:
        ds.load(ds.direct, ids)
        ds._committed(ids)
        trial.problems += [f"after the rerun: {p}" for p in ds.check(ids)]
    return trial


def killed_load(ds: Dataset, rng: random.Random, *, within: float = 1.0) -> Trial:
    """A load in a child process, SIGKILLed at a random moment of its first `within` seconds of loading
    (counted once its imports are done); then the invariant, and a rerun."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    ids = ds._take(ROWS * 10)  # long enough that most kills land inside the load
    code = KILLED_LOAD.format(here=str(Path(__file__).parent), name=ds.name, start=ids.start, stop=ids.stop)
    child = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "FAULTS_URI": ds.direct.uri()},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.readline()  # "loading": the interpreter and pg_assets are imported
    delay = rng.uniform(0.0, within)
    trial = Trial(seed=int(delay * 1000), phase="kill")
    try:
        child.wait(delay)
        trial.ok = child.returncode == 0
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
    if child.returncode not in (0, -signal.SIGKILL):
        trial.problems.append(f"the child failed by itself: {child.stderr.read().decode()[-500:]}")
    time.sleep(0.2)  # the server notices the dead client and ends its session, releasing the run lock
    return check_and_rerun(ds, ids, trial)


def restarted_load(ds: Dataset, server: Any, rng: random.Random, *, from_inside: bool) -> Trial:
    """A load during which the server restarts (a fast shutdown ends every session; down 0-1 s).

    `from_inside`: when the load is about to read a random row, so its workers are mid-staging;
    otherwise from another thread at a random moment of the time a fault-free load of the same
    size took just before (plan, staging or commit). The load must retry to success or fail with
    a `PgAssetsError`; then the invariant, and a rerun if it failed.
    """
    import threading
    import time

    span = 0.0
    if not from_inside:
        started, clean = time.monotonic(), ds._take(ROWS * 5)
        ds.load(ds.direct, clean)
        ds._committed(clean)
        span = time.monotonic() - started
    ids = ds._take(ROWS * 5)
    down = rng.uniform(0.0, 1.0)
    at = rng.randrange(ids.start, ids.stop)
    trial = Trial(seed=at if from_inside else int(down * 1000), phase="restart", refused=down)
    restart = lambda: server.restart(down)  # noqa: E731
    before = (lambda i: restart() if i == at else None) if from_inside else (lambda i: None)
    timer = None if from_inside else threading.Timer(rng.uniform(0.0, span), restart)
    if timer is not None:
        timer.start()
    try:
        info = ds.load(ds.direct, ids, before)
        trial.ok, trial.retries = True, info.retries
    except pg_assets.PgAssetsError as exc:
        trial.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    except Exception as exc:  # noqa: BLE001 - an escaped driver error is a finding, not a crash
        trial.problems.append(f"an exception outside the PgAssetsError tree: {type(exc).__name__}: {exc}")
    if timer is not None:
        timer.join()
    return check_and_rerun(ds, ids, trial)
