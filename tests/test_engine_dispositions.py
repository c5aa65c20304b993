"""Write dispositions, indexes and all-or-nothing loads against the embedded Postgres."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

import pg_assets
from pg_assets.load.errors import is_transient

STRATEGIES = ["truncate-and-insert", "insert-from-staging", "staging-optimized"]


def rows(ids, kids=2):
    return [{"id": i, "name": f"n{i}", "kids": [{"k": f"{i}-{j}"} for j in range(kids)]} for i in ids]


def table(query, dataset, name, cols="*", order="1"):
    return query(f'SELECT {cols} FROM "{dataset}"."{name}" ORDER BY {order}')


def test_append_accumulates(dataset: str, query) -> None:
    p = pg_assets.pipeline("app", dataset=dataset)
    p.run(rows([1, 2]), table_name="t")
    p.run(rows([3]), table_name="t")
    assert table(query, dataset, "t", "id") == [(1,), (2,), (3,)]
    assert table(query, dataset, "t__kids", "count(*)", "1") == [(6,)]
    assert len(table(query, dataset, "_dlt_loads", "load_id")) == 2


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_replace_swaps_root_and_child_tables(strategy: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("rep", dataset=dataset, replace_strategy=strategy)
    p.run(rows([1, 2, 3]), table_name="t", write_disposition="replace")
    p.run(rows([4], kids=1), table_name="t", write_disposition="replace")
    assert table(query, dataset, "t", "id") == [(4,)]
    assert table(query, dataset, "t__kids", "k") == [("4-0",)]
    p.run([{"id": 5}], table_name="t", write_disposition={"disposition": "replace", "strategy": strategy})
    assert table(query, dataset, "t", "id") == [(5,)]
    assert table(query, dataset, "t__kids", "count(*)") == [(0,)]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_replace_with_no_rows_empties_the_tables(strategy: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("rep0", dataset=dataset, replace_strategy=strategy)
    p.run(rows([1]), table_name="t", write_disposition="replace")
    p.run([], table_name="t", write_disposition="replace")
    assert table(query, dataset, "t", "count(*)") == [(0,)]
    assert table(query, dataset, "t__kids", "count(*)") == [(0,)]


def _failing(n_good: int):
    for i in range(n_good):
        yield {"id": i, "name": "x" * 50, "kids": [{"k": "y"}]}
    raise RuntimeError("source broke")


@pytest.mark.parametrize("disposition", ["append", *STRATEGIES])
def test_a_failed_load_changes_nothing(disposition: str, dataset: str, query) -> None:
    strategy = None if disposition == "append" else disposition
    wd = "append" if strategy is None else {"disposition": "replace", "strategy": strategy}
    p = pg_assets.pipeline("fail", dataset=dataset, batch_bytes=4096, workers=4)
    p.run(rows([1, 2]), table_name="t", write_disposition=wd)
    before = (table(query, dataset, "t", "id, name"), table(query, dataset, "t__kids", "k"))
    with pytest.raises(RuntimeError, match="source broke"):
        p.run(_failing(5000), table_name="t", write_disposition=wd)
    assert (table(query, dataset, "t", "id, name"), table(query, dataset, "t__kids", "k")) == before
    assert len(table(query, dataset, "_dlt_loads", "load_id")) == 1
    p.run(rows([9]), table_name="t", write_disposition=wd)  # the next run just works
    assert table(query, dataset, "t", "max(id)") == [(9,)]


def test_staging_optimized_keeps_a_dependent_view(dataset: str, query) -> None:
    """The view is created again in the swap's transaction (see `tests/test_views_swap.py` for the rest)."""
    p = pg_assets.pipeline("view", dataset=dataset, replace_strategy="staging-optimized")
    p.run(rows([1]), table_name="t", write_disposition="replace")
    query(f'CREATE VIEW "{dataset}".v AS SELECT id FROM "{dataset}".t')
    p.run(rows([2]), table_name="t", write_disposition="replace")
    assert table(query, dataset, "v", "id") == [(2,)]


def _indexes(query, dataset):
    return {r[0]: r[1] for r in query("SELECT tablename || '.' || indexname, indexdef FROM pg_indexes "
                                      "WHERE schemaname = %s", (dataset,))}


@pytest.mark.parametrize("create_indexes", [True, False], ids=["on", "off"])
def test_create_indexes(create_indexes: bool, dataset: str, query) -> None:
    p = pg_assets.pipeline("idx", dataset=dataset, create_indexes=create_indexes)
    p.run(rows([1]), table_name="t", columns={"name": {"unique": True}})
    unique = {k for k, v in _indexes(query, dataset).items() if "UNIQUE" in v and not k.startswith("_dlt")}
    if create_indexes:
        assert unique == {"t.t__dlt_id_key", "t.t_name_key", "t__kids.t__kids__dlt_id_key"}
        with pytest.raises(pg_assets.TerminalLoadError, match="t") as err:
            p.run([{"id": 2, "name": "n1"}], table_name="t")
        assert "n1" in str(err.value)
    else:
        assert unique == set()
        assert not [k for k in _indexes(query, dataset) if not k.startswith("_dlt")]


@pytest.mark.parametrize("file_format", ["insert_values", "copy"])
def test_terminal_errors_name_table_column_and_value(file_format: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("err", dataset=dataset, file_format=file_format)
    with pytest.raises(pg_assets.TerminalLoadError) as err:
        p.run([{"id": 1, "req": "x"}, {"id": 2}], table_name="t", columns={"req": {"nullable": False}})
    assert err.value.table and "t" in err.value.table
    assert "req" in str(err.value)
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".t',)) == [(None,)]


def _kill_first_worker(dataset_marker: str, stop: threading.Event, killed: list, credentials) -> None:
    conn = credentials.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        while not stop.is_set() and not killed:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                        (f"pg_assets:{dataset_marker}:%:worker",))
            pids = [r[0] for r in cur.fetchall()]
            if pids:
                cur.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
                killed.append(pids[0])
            time.sleep(0.01)
    conn.close()


def test_lost_connections_are_retried(dataset: str, query, pg_credentials) -> None:
    def slow():
        for i in range(400):
            if i % 20 == 0:
                time.sleep(0.05)
            yield {"id": i, "pad": "p" * 100}

    stop, killed = threading.Event(), []
    watcher = threading.Thread(target=_kill_first_worker, args=("retry_me", stop, killed, pg_credentials))
    watcher.start()
    try:
        info = pg_assets.pipeline("retry_me", dataset=dataset, batch_bytes=2000, workers=2).run(slow(), table_name="t")
    finally:
        stop.set()
        watcher.join()
    assert killed, "the test never saw a worker connection to kill"
    assert info.row_counts["t"] == 400
    assert table(query, dataset, "t", "count(*), count(DISTINCT id)") == [(400, 400)]


def test_driver_errors_are_classified(pg_credentials) -> None:
    conn = pg_credentials.connect()
    conn.autocommit = True
    cur = conn.cursor()
    for statement in ("SELECT 'abc'::bigint", "SELEC 1", "SELECT * FROM no_such_table"):
        with pytest.raises(psycopg2.Error) as err:
            cur.execute(statement)
        assert not is_transient(err.value), statement
    other = pg_credentials.connect()
    other.autocommit = True
    other.cursor().execute("SELECT pg_terminate_backend(%s)", (conn.get_backend_pid(),))
    with pytest.raises(psycopg2.Error) as err:
        cur.execute("SELECT 1")
    assert is_transient(err.value)
    other.close()


def test_a_retried_batch_whose_commit_went_through_is_not_staged_twice(dataset: str, pg_credentials, query) -> None:
    from pg_assets.load.session import _insert_job, _once

    query(f'CREATE SCHEMA "{dataset}"')
    query(f'CREATE TABLE "{dataset}".t (id bigint)')
    query(f'CREATE TABLE "{dataset}".ledger (batch bigint PRIMARY KEY)')
    job = _once(f'"{dataset}".ledger', 7, _insert_job(f'INSERT INTO "{dataset}".t (id) VALUES ', b"(1),(2)"))
    conn = pg_credentials.connect()
    try:
        for retry in (False, True):  # the first attempt commits; its reply "is lost"; the retry runs again
            with conn.cursor() as cur:
                job(cur, retry)
            conn.commit()
    finally:
        conn.close()
    assert query(f'SELECT count(*) FROM "{dataset}".t') == [(2,)]
    assert query(f'SELECT batch FROM "{dataset}".ledger') == [(7,)]


@pytest.mark.parametrize("strategy", ["delete-insert", "upsert"])
def test_a_table_loaded_by_append_can_become_a_merge_table(strategy: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("switch", dataset=dataset)
    p.run([{"id": 1, "kids": [{"a": 1, "g": [1]}, {"a": 2}]}, {"id": 2, "kids": [{"a": 5}]}], table_name="t")
    p.run([{"id": 1, "kids": [{"a": 3}]}], table_name="t", primary_key="id",
          write_disposition={"disposition": "merge", "strategy": strategy})
    assert table(query, dataset, "t", "id") == [(1,), (2,)]
    assert table(query, dataset, "t__kids", "a") == [(3,), (5,)]
    assert table(query, dataset, "t__kids__g", "count(*)") == [(0,)]
    nullable = query("SELECT is_nullable FROM information_schema.columns WHERE table_schema = %s "
                     "AND table_name = 't__kids' AND column_name = '_dlt_root_id'", (dataset,))
    assert nullable == [("YES",)]  # added to a table with rows: NOT NULL would have failed


# ---- a new table takes its staging table --------------------------------------------------------------------


def _definition(query, dataset: str, name: str) -> dict:
    """What a table is, as the catalog says: persistence, comment, columns, constraints, indexes."""
    (persistence, comment), = query("SELECT c.relpersistence, obj_description(c.oid, 'pg_class') FROM pg_class c "
                                    "WHERE c.oid = %s::regclass", (f'"{dataset}"."{name}"',))
    columns = query("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (dataset, name))
    constraints = query("SELECT conname, contype FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1",
                        (f'"{dataset}"."{name}"',))
    return {"persistence": persistence, "comment": comment, "columns": columns, "constraints": constraints,
            "indexes": sorted(k for k in _indexes(query, dataset) if k.startswith(f"{name}."))}


@pytest.mark.parametrize("disposition", ["append", "replace"])
def test_a_new_table_is_defined_as_one_made_by_ddl(disposition: str, dataset: str, query) -> None:
    """The first load of a table adopts its staging table; the table is the one DDL would make."""
    hints = {"name": {"unique": True}, "extra": {"data_type": "text"}, "id": {"nullable": False}}
    p = pg_assets.pipeline("adopt", dataset=dataset)
    p.run(rows([1, 2]), table_name="t", write_disposition=disposition, columns=hints)
    adopted = {t: _definition(query, dataset, t) for t in ("t", "t__kids")}
    # the same root table made by DDL: created empty by a load of no rows, then loaded by the copying path
    q = pg_assets.pipeline("adopt", dataset=dataset + "_ddl")
    try:
        q.run([], table_name="t", write_disposition=disposition, columns=hints)
        q.run(rows([1, 2]), table_name="t", write_disposition=disposition, columns=hints)
        made = _definition(query, dataset + "_ddl", "t")
    finally:
        query(f'DROP SCHEMA IF EXISTS "{dataset}_ddl" CASCADE; DROP SCHEMA IF EXISTS "{dataset}_ddl_staging" CASCADE')
    assert adopted["t"] == made
    assert adopted["t"]["persistence"] == "p" and adopted["t"]["comment"] is None
    assert ("extra", "character varying", "YES") in adopted["t"]["columns"]
    assert ("_dlt_id", "character varying", "NO") in adopted["t"]["columns"]
    # Postgres 18 lists NOT NULL constraints too: named after the final table, as DDL names them
    assert {c for c, kind in adopted["t"]["constraints"] if kind == "u"} == {"t__dlt_id_key", "t_name_key"}
    assert all(c.startswith("t_") for c, _ in adopted["t"]["constraints"])
    assert adopted["t__kids"]["columns"] == [("k", "character varying", "YES"), ("_dlt_parent_id", "character varying", "NO"),
                                             ("_dlt_list_idx", "bigint", "NO"), ("_dlt_id", "character varying", "NO")]
    assert [c for c, kind in adopted["t__kids"]["constraints"] if kind == "u"] == ["t__kids__dlt_id_key"]
    assert query("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (f"{dataset}_staging",)) == [(0,)]
    p.run(rows([3]), table_name="t", write_disposition=disposition, columns=hints)  # now copied into it
    assert table(query, dataset, "t", "count(*)") == [(3,) if disposition == "append" else (1,)]


def test_a_table_another_writer_creates_meanwhile_gets_the_rows_copied(dataset: str, query, pg_credentials) -> None:
    """A table absent when the load planned but present at the commit keeps its own rows."""
    def items():
        conn = psycopg2.connect(**pg_credentials.connect_kwargs())
        conn.autocommit = True
        with conn.cursor() as cur:  # the dataset exists: the load made its schema when it planned
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{dataset}"; CREATE TABLE "{dataset}".t '
                        f'(id bigint, name text, other text); INSERT INTO "{dataset}".t VALUES (0, \'theirs\', \'x\')')
        conn.close()
        yield from ({"id": i, "name": f"n{i}"} for i in (1, 2))

    p = pg_assets.pipeline("late", dataset=dataset)
    p.run(items(), table_name="t")
    assert table(query, dataset, "t", "id, name, other") == [(0, "theirs", "x"), (1, "n1", None), (2, "n2", None)]
