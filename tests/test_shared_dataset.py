"""Several writers on one dataset at once: other pipelines, other processes, a lost connection.

Merges into one table serialise on the commit's table lock, so no key is ever doubled
and every row ends with the values of one commit; datasets and tables are created by
many runs at once without a race; a run that loses the connection holding its run
lock stops before it commits.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import pg_assets

WRITER = """
import sys, pg_assets
uri, dataset, name, tag, n = sys.argv[1:]
rows = [{"id": i, "v": tag, "kids": [{"k": tag}]} for i in range(int(n))]
pg_assets.pipeline(name, dataset=dataset, credentials=uri, create_indexes=False, workers=2).run(
    rows, table_name="shared", write_disposition="merge", primary_key="id")
"""

CREATOR = """
import sys, pg_assets
uri, dataset, name = sys.argv[1:]
pg_assets.pipeline(name, dataset=dataset, credentials=uri, workers=1).run(
    [{"id": 1, "by": name, "kids": [{"k": 1}]}], table_name="events")
"""


def run_processes(script: str, argvs: list[list[str]]) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", script, *argv], stderr=subprocess.PIPE, text=True)
             for argv in argvs]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    failed = [(p.returncode, e[-2000:]) for p, e in zip(procs, errors) if p.returncode]
    assert not failed, failed


def test_eight_pipelines_merging_the_same_keys_at_once_leave_one_row_per_key(dataset, pg_credentials, query):
    uri = pg_credentials.uri()
    run_processes(WRITER, [[uri, dataset, f"writer_{n}", f"w{n}", "5000"] for n in range(8)])
    q = f'"{dataset}"'
    assert query(f"SELECT count(*), count(DISTINCT id), count(DISTINCT v) FROM {q}.shared") == [(5000, 5000, 1)]
    (winner,), = query(f"SELECT DISTINCT v FROM {q}.shared")
    assert query(f"SELECT count(*), count(DISTINCT k) FROM {q}.shared__kids") == [(5000, 1)]
    assert query(f"SELECT DISTINCT k FROM {q}.shared__kids") == [(winner,)]
    assert query(f"SELECT count(*) FROM {q}.shared__kids c LEFT JOIN {q}.shared p ON p._dlt_id = c._dlt_root_id "
                 "WHERE p._dlt_id IS NULL") == [(0,)]
    assert query(f"SELECT count(*) FROM {q}._dlt_loads") == [(8,)]


def test_eight_runs_create_one_dataset_at_once(dataset, pg_credentials, query):
    uri = pg_credentials.uri()
    run_processes(CREATOR, [[uri, dataset, f"creator_{n}"] for n in range(8)])
    assert query(f'SELECT count(*), count(DISTINCT by) FROM "{dataset}".events') == [(8, 8)]
    assert query(f'SELECT count(*) FROM "{dataset}".events__kids') == [(8,)]
    assert query(f'SELECT count(DISTINCT schema_name) FROM "{dataset}"._dlt_version') == [(8,)]


def nested(ids: range, tag: str) -> list[dict[str, Any]]:
    return [{"id": i, "v": tag, "items": [{"sku": f"{tag}{i}", "parts": [{"p": 1}]}]} for i in ids]


def load_nested(dataset: str, name: str, ids: range, tag: str) -> pg_assets.LoadInfo:
    return pg_assets.pipeline(name, dataset=dataset, workers=2).run(
        nested(ids, tag), table_name="orders", write_disposition="merge", primary_key="id")


def assert_nested(query: Callable[..., list[tuple]], dataset: str, keys: int) -> None:
    q = f'"{dataset}"'
    assert query(f"SELECT count(*), count(DISTINCT id) FROM {q}.orders") == [(keys, keys)]
    assert query(f"SELECT count(*) FROM {q}.orders__items") == [(keys,)]
    assert query(f"SELECT count(*) FROM {q}.orders__items__parts") == [(keys,)]
    assert query(f"SELECT count(*) FROM {q}.orders__items__parts c LEFT JOIN {q}.orders__items p "
                 "ON p._dlt_id = c._dlt_parent_id WHERE p._dlt_id IS NULL") == [(0,)]


def test_a_second_pipeline_loads_into_nested_tables_the_first_made(dataset, query):
    load_nested(dataset, "first", range(0, 10), "a")
    info = load_nested(dataset, "second", range(5, 15), "b")
    assert info.tables["orders__items__parts"].parent == "orders__items"
    assert_nested(query, dataset, 15)
    load_nested(dataset, "first", range(10, 20), "c")
    assert_nested(query, dataset, 20)


def test_two_pipelines_load_nested_tables_at_the_same_time(dataset, query):
    errors: list[BaseException] = []

    def run(name: str, ids: range, tag: str) -> None:
        try:
            load_nested(dataset, name, ids, tag)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"p{n}", range(n * 5, n * 5 + 10), f"t{n}")) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert_nested(query, dataset, 25)


def cut_main_connection(query: Callable[..., list[tuple]], name: str,
                        meanwhile: Callable[[], None] = lambda: None) -> Iterator[dict[str, Any]]:
    """Items; after the first, the connection holding the run lock is killed, as a network cut would.

    `meanwhile` runs while the load is cut off, before it can reconnect.
    """
    yield {"id": 1, "ts": 1}
    killed = query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE %s "
                   "AND application_name NOT LIKE %s", (f"pg_assets:{name}:%", "%:worker"))
    assert killed == [(True,)]
    meanwhile()
    yield {"id": 2, "ts": 2}


def test_a_run_that_loses_its_run_lock_stops_before_the_commit(dataset, query):
    """Another run took the lock meanwhile and dropped the staged rows: the load must not commit."""
    p = pg_assets.pipeline("lost", dataset=dataset, workers=1)
    p.run([{"id": 0, "ts": 0}], table_name="events")

    def other_run() -> None:
        other = pg_assets.pipeline("lost", dataset=dataset, workers=1)
        other.run(pg_assets.resource([{"id": 5, "ts": 5}], name="events", incremental={"cursor_path": "ts"}))

    res = pg_assets.resource(cut_main_connection(query, "lost", other_run), name="events",
                             incremental={"cursor_path": "ts"})
    with pytest.raises(pg_assets.TransientLoadError, match="staged rows are gone"):
        p.run(res)
    assert query(f'SELECT id FROM "{dataset}".events ORDER BY id') == [(0,), (5,)]
    assert query(f'SELECT count(*) FROM "{dataset}"._dlt_loads') == [(2,)]
    p.run(pg_assets.resource([{"id": 1, "ts": 1}, {"id": 6, "ts": 6}], name="events",
                             incremental={"cursor_path": "ts"}))
    assert query(f'SELECT id FROM "{dataset}".events ORDER BY id') == [(0,), (5,), (6,)]


def test_a_run_that_loses_its_run_lock_takes_it_back_when_its_staging_is_intact(dataset, query):
    p = pg_assets.pipeline("relock", dataset=dataset, workers=1)
    p.run([{"id": 0, "ts": 0}], table_name="events")
    res = pg_assets.resource(cut_main_connection(query, "relock"), name="events", incremental={"cursor_path": "ts"})
    info = p.run(res)
    assert info.retries >= 1
    assert query(f'SELECT id FROM "{dataset}".events ORDER BY id') == [(0,), (1,), (2,)]
    assert query(f'SELECT count(*) FROM "{dataset}"._dlt_loads') == [(2,)]


def test_loads_are_stamped_with_their_commit_time(dataset, query):
    def slow() -> Iterator[dict[str, int]]:
        yield {"id": 1}
        time.sleep(1.0)

    info = pg_assets.pipeline("clock", dataset=dataset).run(slow(), table_name="t")
    (gap,), = query(f'SELECT extract(epoch FROM l.inserted_at - %s::timestamptz) FROM "{dataset}"._dlt_loads l',
                    (info.started_at,))
    assert gap >= 1.0


def test_a_run_whose_staging_another_run_dropped_fails_transient_not_with_a_missing_relation(dataset, query):
    """The worker writes into a staging table the other run dropped: the promised TransientLoadError."""
    p = pg_assets.pipeline("dropped", dataset=dataset, workers=2, batch_bytes=1)  # every row its own batch
    p.run([{"id": 0, "ts": 0}], table_name="events")

    def other_run() -> None:
        pg_assets.pipeline("dropped", dataset=dataset, workers=1).run(
            pg_assets.resource([{"id": 5, "ts": 5}], name="events", incremental={"cursor_path": "ts"}))

    res = pg_assets.resource(cut_main_connection(query, "dropped", other_run), name="events",
                             incremental={"cursor_path": "ts"})
    with pytest.raises(pg_assets.TransientLoadError, match="staged rows are gone|lost the connection"):
        p.run(res)
    assert query(f'SELECT id FROM "{dataset}".events ORDER BY id') == [(0,), (5,)]
