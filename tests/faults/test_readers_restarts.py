"""Readers querying tables while loads replace and merge them, and server restarts in the middle of loads.

Readers: for every replace and merge strategy, loads change every row of a table (and its child
table) again and again while reader threads query it, directly and through a view, in one
statement each. Every answer must be a whole state: all rows of one load, each with its two
children; no reader ever gets an error (they may wait on the commit's locks).

Restarts: the server shuts down fast (every session ends) and comes back, while a load stages
(from inside it) or at a random moment (from another thread). The load retries to success or
fails with a `PgAssetsError`, and the table holds its before- or after-state, as after a cut.
"""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

import pg_assets
import pg_server
from fault_trials import Dataset, restarted_load

ROWS, LOADS, READERS = 200, 3, 4
STRATEGIES = [("replace", "truncate-and-insert"), ("replace", "insert-from-staging"),
              ("replace", "staging-optimized"), ("merge", "delete-insert"), ("merge", "upsert"),
              ("merge", "insert-only"), ("merge", "scd2")]


def rows(version: int) -> list[dict[str, Any]]:
    return [{"id": i, "version": version, "items": [{"k": k, "version": version} for k in range(2)]}
            for i in range(ROWS)]


def summary(dataset: str, scd2: bool) -> str:
    """One statement over root and child table: rows, the versions among them, children, their versions."""
    current = "WHERE t._dlt_valid_to IS NULL" if scd2 else ""
    return (f'SELECT count(DISTINCT t._dlt_id) AS roots, min(t.version) AS lo, max(t.version) AS hi, '
            f'count(c._dlt_id) AS kids, min(c.version) AS kid_lo, max(c.version) AS kid_hi '
            f'FROM "{dataset}".t LEFT JOIN "{dataset}".t__items c '
            f'ON c._dlt_parent_id = t._dlt_id {current}')


class Readers:
    """Threads that query until stopped and keep every answer and every error."""

    def __init__(self, config: Any, statements: list[str]) -> None:
        self.config, self.statements = config, statements
        self.seen: list[tuple] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(n,)) for n in range(READERS)]

    def __enter__(self) -> "Readers":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _read(self, n: int) -> None:
        conn = psycopg2.connect(**self.config.connect_kwargs())
        conn.autocommit = True
        statement = self.statements[n % len(self.statements)]
        try:
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    try:
                        cur.execute(statement)
                        self.seen.append(cur.fetchone())
                    except psycopg2.Error as exc:
                        self.errors.append(f"{type(exc).__name__}: {exc}".strip())
        finally:
            conn.close()


@pytest.mark.parametrize(("disposition", "strategy"), STRATEGIES, ids=[s for _, s in STRATEGIES])
def test_readers_during_loads_see_no_error_and_no_partial_state(tcp_server, disposition: str, strategy: str):
    dataset = f"r_{secrets.token_hex(4)}"
    p = pg_assets.pipeline("readers", dataset=dataset, credentials=tcp_server.config, workers=2)
    options = {"write_disposition": {"disposition": disposition, "strategy": strategy},
               "primary_key": "id" if disposition == "merge" else None}
    p.run(rows(0), table_name="t", **options)
    statement = summary(dataset, scd2=strategy == "scd2")
    admin = psycopg2.connect(**tcp_server.config.connect_kwargs())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE VIEW "{dataset}".t_summary AS {statement}')
    with Readers(tcp_server.config, [statement, f'SELECT * FROM "{dataset}".t_summary']) as readers:
        for version in range(1, LOADS + 1):
            p.run(rows(version), table_name="t", **options)
    with admin.cursor() as cur:
        for schema in (dataset, f"{dataset}_staging"):
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.close()
    assert readers.errors == []
    # insert-only keeps the first version of each row; the others end at the last load
    versions = {0} if strategy == "insert-only" else set(range(LOADS + 1))
    wholes = {(ROWS, v, v, 2 * ROWS, v, v) for v in versions}
    assert readers.seen and set(readers.seen) <= wholes, sorted(set(readers.seen) - wholes)[:5]


@pytest.fixture
def own_server() -> Iterator[pg_server.Server]:
    """A server of this test's own, since it is restarted."""
    srv = pg_server.start()
    try:
        yield srv
    finally:
        srv.stop()


RESTART_SEEDS = range(3)


@pytest.mark.parametrize("from_inside", [True, False], ids=["mid-staging", "random-moment"])
def test_a_server_restart_mid_load_retries_to_success_or_fails_cleanly(own_server, from_inside: bool):
    ds = Dataset(own_server.config, own_server.config, f"f_{secrets.token_hex(4)}")
    ds.load(ds.direct, ds._take())
    ds._committed(range(0, 400))
    for seed in RESTART_SEEDS:
        trial = restarted_load(ds, own_server, random.Random(seed), from_inside=from_inside)
        assert trial.problems == [], trial
        # a restart from inside always lands in the load: it was retried, or it failed (and was rerun)
        assert not from_inside or trial.retries or trial.error, trial
