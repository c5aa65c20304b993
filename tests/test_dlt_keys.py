"""Row keys and root keys as dlt 1.31 makes them, proved by loading the same rows with both tools.

The real dlt loads rows into one dataset, pg_assets the same rows into its twin (or into
the same dataset, for the hand-overs); the test then reads both back from the embedded
Postgres. Every `_dlt_id` dlt derives (upsert and insert-only key hashes, scd2 row hashes,
child rows below them) must be the same in both; `_dlt_root_id` must exist exactly where
dlt makes it. The hand-overs are the ones a user coming from dlt meets: history kept, no
row retired by mistake, no child row orphaned.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import dlt
import pendulum
import pyarrow as pa
import pytest

import pg_assets
from pg_assets.connection import ConnectionConfig

Query = Callable[..., list[tuple]]
UTC = dt.timezone.utc
PLUS_0530 = dt.timezone(dt.timedelta(hours=5, minutes=30))
SCD2 = {"disposition": "merge", "strategy": "scd2"}

# one table per type: its value is in the primary key, in the row and in the child rows
KEYED_TYPES: dict[str, Any] = {
    "datetime_utc": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    "datetime_offset": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS_0530),
    "datetime_naive": dt.datetime(2024, 1, 2, 3, 4, 5),
    "pendulum": pendulum.datetime(2024, 1, 2, 3, 4, 5, 6, tz="Europe/Berlin"),
    "date": dt.date(2024, 1, 2),
    "time": dt.time(1, 2, 3, 4),
    # microseconds 10000-99999: orjson 3.13 writes them without their leading zero, dlt as isoformat does
    "time_centis": dt.time(21, 35, 50, 13393, fold=1),
    "time_aware": dt.time(5, 51, 8, 13393, tzinfo=PLUS_0530),
    "decimal": Decimal("10.50"),
    "bytes": b"\x00\xff",
    "uuid": UUID(int=7),
    "float": 2.5e-05,
    "negative_zero": -0.0,
    "int64_max": 2**63 - 1,
    "text": "ключ 🎉",
}
# values that are no key: only in the row and its child rows
CONTENT_TYPES: dict[str, Any] = {
    "nan": float("nan"),
    "infinity": float("-inf"),
    "nested": {"day": dt.date(2024, 1, 3), "amounts": [Decimal("1.0"), {"at": dt.datetime(2024, 1, 4)}]},
}
STRATEGIES = ["delete-insert", "upsert", "insert-only", "scd2"]
HASHED = ["upsert", "insert-only", "scd2"]  # strategies whose root keys are hashes, the same in both tools


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture
def dlt_uri(pg_credentials: ConnectionConfig) -> str:
    """The embedded server as dlt wants it (dlt insists on a password; the server trusts local sockets)."""
    return (f"postgresql://{pg_credentials.username}:unused@localhost/{pg_credentials.database}"
            f"?host={pg_credentials.host}")


@pytest.fixture
def twin(dataset: str, query: Query) -> Iterator[str]:
    """A second dataset for dlt's copy of the rows, dropped afterwards."""
    name = f"{dataset}_d"
    yield name
    for schema in (name, f"{name}_staging"):
        query(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def dlt_run(uri: str, dataset: str, pipelines_dir: Path, data: Any, **hints: Any) -> None:
    p = dlt.pipeline(pipeline_name="keys", destination=dlt.destinations.postgres(uri), dataset_name=dataset,
                     pipelines_dir=str(pipelines_dir))
    p.run(data, **hints).raise_on_failed_jobs()


def rows_of(value: Any, ids: range = range(1, 3), kids: int = 2) -> list[dict[str, Any]]:
    """Rows holding `value` at the top, in a child list of dicts and in a grandchild list of scalars."""
    return [{"id": i, "v": value, "kids": [{"n": k, "v": value, "tags": [value, f"t{k}"]} for k in range(kids)]}
            for i in ids]


def write_disposition(strategy: str) -> dict[str, str]:
    return {"disposition": "merge", "strategy": strategy}


def tables_below(query: Query, dataset: str, root: str) -> list[str]:
    found = query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND "
                  "(table_name = %s OR table_name LIKE %s) ORDER BY table_name", (dataset, root, f"{root}\\_\\_%"))
    return [name for (name,) in found]


def columns_of(query: Query, dataset: str, table: str) -> set[str]:
    found = query("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                  (dataset, table))
    return {name for (name,) in found}


def keys_of(query: Query, dataset: str, table: str) -> list[tuple]:
    """Every row's keys: (`_dlt_id`, `_dlt_parent_id`, `_dlt_list_idx`) of a child row, (`id`, `_dlt_id`) of a root."""
    cols = columns_of(query, dataset, table)
    picked = ["_dlt_id", "_dlt_parent_id", "_dlt_list_idx"] if "_dlt_parent_id" in cols else ["id", "_dlt_id"]
    return query(f'SELECT {", ".join(picked)} FROM "{dataset}"."{table}" ORDER BY {", ".join(picked)}')


def stored_document(query: Query, dataset: str, schema_name: str) -> dict[str, Any]:
    (text,), = query(f'SELECT schema FROM "{dataset}"._dlt_version WHERE schema_name = %s '
                     "ORDER BY inserted_at DESC LIMIT 1", (schema_name,))
    return json.loads(text)


def propagation_of(query: Query, dataset: str, schema_name: str) -> dict[str, Any]:
    config = stored_document(query, dataset, schema_name)["normalizers"]["json"].get("config") or {}
    return (config.get("propagation") or {}).get("tables") or {}


def both_load(query: Query, dataset: str, twin: str, uri: str, tmp_path: Path, strategy: str) -> list[str]:
    """Every type's table loaded by dlt into `twin` and by pg_assets into `dataset`; the table names."""
    tables = {f"k_{name}": value for name, value in {**KEYED_TYPES, **CONTENT_TYPES}.items()}
    pk = {t: ["id", "v"] if t.removeprefix("k_") in KEYED_TYPES else ["id"] for t in tables}
    wd = write_disposition(strategy)
    dlt_run(uri, twin, tmp_path, [dlt.resource(rows_of(v), name=t, primary_key=pk[t], write_disposition=wd)
                                  for t, v in tables.items()])
    pg_assets.pipeline("keys", dataset=dataset).run(
        [pg_assets.resource(rows_of(v), name=t, primary_key=pk[t], write_disposition=wd) for t, v in tables.items()])
    return list(tables)


# ---- the same rows, the same keys -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", HASHED)
def test_every_hashed_dlt_id_is_dlts_for_every_type(strategy, dataset, twin, dlt_uri, query, tmp_path):
    roots = both_load(query, dataset, twin, dlt_uri, tmp_path, strategy)
    differing = {}
    for root in roots:
        for table in tables_below(query, twin, root):
            theirs, ours = keys_of(query, twin, table), keys_of(query, dataset, table)
            if theirs != ours:
                differing[table] = (theirs, ours)
    assert not differing
    assert all(len(tables_below(query, dataset, r)) == len(tables_below(query, twin, r)) for r in roots)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_child_tables_have_a_root_key_where_dlt_makes_one(strategy, dataset, twin, dlt_uri, query, tmp_path):
    roots = both_load(query, dataset, twin, dlt_uri, tmp_path, strategy)
    children = [t for r in roots for t in tables_below(query, twin, r) if t != r]
    assert children
    rooted = {t: "_dlt_root_id" in columns_of(query, twin, t) for t in children}
    assert all(rooted.values()) is (strategy != "scd2") and any(rooted.values()) is (strategy != "scd2")
    assert {t: "_dlt_root_id" in columns_of(query, dataset, t) for t in children} == rooted
    assert set(propagation_of(query, dataset, "keys")) == set(propagation_of(query, twin, "keys"))


def test_columnar_items_get_the_keys_of_the_same_rows_as_dicts(dataset, twin, dlt_uri, query, tmp_path):
    """scd2 hashes the item under its own column names, upsert the primary key's normalised
    names: an Arrow table keys its rows as dlt keys the rows given as dicts."""
    rows = [{"Order ID": i, "at": dt.datetime(2024, 1, i, 3, tzinfo=UTC), "day": dt.date(2024, 1, i),
             "price": Decimal(f"{i}.50"), "blob": bytes([i, 255]), "ratio": i / 3, "note": None if i == 2 else "é"}
            for i in range(1, 4)]
    table = pa.table({
        "Order ID": pa.array([r["Order ID"] for r in rows], pa.int64()),
        "at": pa.array([r["at"] for r in rows], pa.timestamp("us", tz="UTC")),
        "day": pa.array([r["day"] for r in rows], pa.date32()),
        "price": pa.array([r["price"] for r in rows], pa.decimal128(10, 2)),
        "blob": pa.array([r["blob"] for r in rows], pa.binary()),
        "ratio": pa.array([r["ratio"] for r in rows], pa.float64()),
        "note": pa.array([r["note"] for r in rows], pa.string()),
    })
    for strategy in ("scd2", "upsert"):
        name = f"orders_{strategy.replace('-', '_')}"
        hints = {"table_name": name, "primary_key": "Order ID", "write_disposition": write_disposition(strategy)}
        dlt_run(dlt_uri, twin, tmp_path, rows, **hints)
        pg_assets.pipeline("keys", dataset=dataset).run(table, **hints)
        ours = query(f'SELECT order_id, _dlt_id FROM "{dataset}"."{name}" ORDER BY 1')
        assert ours == query(f'SELECT order_id, _dlt_id FROM "{twin}"."{name}" ORDER BY 1') and len(ours) == 3


# ---- hand-overs on one dataset ---------------------------------------------------------------------


def scd2_rows(changed: int | None = None) -> list[dict[str, Any]]:
    """Three rows with a datetime, a date, a Decimal and a child list; `changed` gets another price."""
    return [{"id": i, "at": dt.datetime(2024, 1, i, 12, tzinfo=UTC), "day": dt.date(2024, 2, i),
             "price": Decimal("9.99") if i == changed else Decimal(f"{i}.10"),
             "lines": [{"sku": f"s{i}", "seen": dt.date(2024, 3, i)}]} for i in range(1, 4)]


def versions(query: Query, dataset: str) -> tuple[int, int]:
    """(current, retired) versions of `dim`."""
    (current, retired), = query(f'SELECT count(*) FILTER (WHERE _dlt_valid_to IS NULL), '
                                f'count(*) FILTER (WHERE _dlt_valid_to IS NOT NULL) FROM "{dataset}".dim')
    return current, retired


def test_dlt_scd2_history_is_kept_when_pg_assets_loads_the_same_rows(dataset, dlt_uri, query, tmp_path):
    dlt_run(dlt_uri, dataset, tmp_path, scd2_rows(), table_name="dim", primary_key="id", write_disposition=SCD2)
    before = keys_of(query, dataset, "dim__lines")
    pg_assets.pipeline("keys", dataset=dataset).run(scd2_rows(), table_name="dim", primary_key="id",
                                                    write_disposition=SCD2)
    assert versions(query, dataset) == (3, 0)
    assert keys_of(query, dataset, "dim__lines") == before
    assert "_dlt_root_id" not in columns_of(query, dataset, "dim__lines")
    assert "dim" not in propagation_of(query, dataset, "keys")


def test_dlt_retires_only_the_row_it_changed_after_pg_assets(dataset, dlt_uri, query, tmp_path):
    pg_assets.pipeline("keys", dataset=dataset).run(scd2_rows(), table_name="dim", primary_key="id",
                                                    write_disposition=SCD2)
    dlt_run(dlt_uri, dataset, tmp_path, scd2_rows(changed=2), table_name="dim", primary_key="id",
            write_disposition=SCD2)
    assert versions(query, dataset) == (3, 1)
    assert query(f'SELECT id, price FROM "{dataset}".dim WHERE _dlt_valid_to IS NOT NULL') == [(2, Decimal("2.10"))]
    assert query(f'SELECT count(*) FROM "{dataset}".dim__lines') == [(4,)]


def test_scd2_child_tables_have_no_root_key_and_no_propagation_entry(dataset, query):
    p = pg_assets.pipeline("keys", dataset=dataset)
    for changed in (None, 2):
        p.run(scd2_rows(changed), table_name="dim", primary_key="id", write_disposition=SCD2)
    assert "_dlt_root_id" not in columns_of(query, dataset, "dim__lines")
    assert propagation_of(query, dataset, "keys") == {}
    assert versions(query, dataset) == (3, 1)
    # the new version's child rows were inserted, those of the unchanged versions once
    assert query(f'SELECT count(*) FROM "{dataset}".dim__lines') == [(4,)]
    orphans = query(f'SELECT count(*) FROM "{dataset}".dim__lines c LEFT JOIN "{dataset}".dim d '
                    "ON d._dlt_id = c._dlt_parent_id WHERE d._dlt_id IS NULL")
    assert orphans == [(0,)]


def keyed_rows(kids: int) -> list[dict[str, Any]]:
    """Three rows keyed on (`id`, `day`), a date, each with `kids` child rows."""
    return [{"id": i, "day": dt.date(2024, 1, i), "v": f"r{i}",
             "kids": [{"k": k, "at": dt.datetime(2024, 1, i, k, tzinfo=UTC)} for k in range(kids)]} for i in range(1, 4)]


def load_keyed(tool: str, strategy: str, kids: int, dataset: str, uri: str, tmp_path: Path) -> None:
    hints = {"table_name": "keyed", "primary_key": ["id", "day"], "write_disposition": write_disposition(strategy)}
    if tool == "dlt":
        dlt_run(uri, dataset, tmp_path, keyed_rows(kids), **hints)
    else:
        pg_assets.pipeline("keys", dataset=dataset).run(keyed_rows(kids), **hints)


@pytest.mark.parametrize("strategy", ["upsert", "delete-insert"])
@pytest.mark.parametrize("first, then", [("pg_assets", "dlt"), ("dlt", "pg_assets")],
                         ids=["pg_assets-then-dlt", "dlt-then-pg_assets"])
def test_merging_fewer_children_leaves_no_orphans(first, then, strategy, dataset, dlt_uri, query, tmp_path):
    load_keyed(first, strategy, 3, dataset, dlt_uri, tmp_path)
    load_keyed(then, strategy, 1, dataset, dlt_uri, tmp_path)
    q = f'"{dataset}"'
    assert query(f"SELECT count(*), count(DISTINCT (id, day)) FROM {q}.keyed") == [(3, 3)]
    per_root = query(f"SELECT r.id, count(c._dlt_id) FROM {q}.keyed r LEFT JOIN {q}.keyed__kids c "
                     "ON c._dlt_root_id = r._dlt_id GROUP BY r.id ORDER BY r.id")
    assert per_root == [(1, 1), (2, 1), (3, 1)]
    orphans = query(f"SELECT count(*) FROM {q}.keyed__kids c LEFT JOIN {q}.keyed r ON r._dlt_id = c._dlt_parent_id "
                    "WHERE r._dlt_id IS NULL")
    assert orphans == [(0,)] and query(f"SELECT count(*) FROM {q}.keyed__kids") == [(3,)]


# ---- merge options where they touch the stored form ------------------------------------------------

BOUNDARY = "2030-01-01T00:00:00+00:00"
OPTIONS = {
    "scd2-validity-active-boundary": ({**SCD2, "validity_column_names": ["Valid From", "valid_to"],
                                       "active_record_timestamp": "9999-12-31T00:00:00+00:00",
                                       "boundary_timestamp": BOUNDARY}, {"primary_key": "id"}),
    "scd2-merge-key": ({**SCD2, "boundary_timestamp": BOUNDARY}, {"merge_key": "grp"}),
    "scd2-hard-delete": ({**SCD2, "boundary_timestamp": BOUNDARY},
                         {"primary_key": "id", "columns": {"deleted": {"hard_delete": True}}}),
    "scd2-version-column": ({**SCD2, "boundary_timestamp": BOUNDARY, "row_version_column_name": "ver"},
                            {"primary_key": "id"}),
    "delete-insert-dedup-sort": (write_disposition("delete-insert"),
                                 {"primary_key": "id", "columns": {"v": {"dedup_sort": "desc"}}}),
    "delete-insert-merge-key": (write_disposition("delete-insert"), {"merge_key": "grp"}),
    "delete-insert-hard-delete": (write_disposition("delete-insert"),
                                  {"primary_key": "id", "columns": {"deleted": {"hard_delete": True}}}),
    "upsert-hard-delete": (write_disposition("upsert"),
                           {"primary_key": "id", "columns": {"deleted": {"hard_delete": True}}}),
}
STORED_HINTS = ("data_type", "nullable", "primary_key", "merge_key", "hard_delete", "dedup_sort", "x-valid-from",
                "x-valid-to", "x-active-record-timestamp")
KEY_COLUMNS = ("_dlt_load_id", "_dlt_id", "_dlt_root_id", "_dlt_parent_id")


def option_rows(load: int, duplicates: bool) -> list[dict[str, Any]]:
    """Three rows; the second load changes every `v`, flags row 2 deleted and (with `duplicates`) repeats
    key 1 with other content. `ver` changes for row 1 only, and is the same for rows 2 and 3."""
    rows = [{"id": i, "grp": i % 2, "v": f"v{i}_{load}", "ver": load if i == 1 else 0,
             "deleted": True if (load, i) == (2, 2) else None, "kids": [i, load]} for i in range(1, 4)]
    return rows + ([{"id": 1, "grp": 1, "v": "a_dup", "ver": 5, "deleted": None, "kids": [9]}]
                   if duplicates and load == 2 else [])


def content_of(query: Query, dataset: str, table: str, columns: list[str]) -> list[tuple]:
    picked = ", ".join(f'"{c}"' for c in columns)
    return query(f'SELECT {picked} FROM "{dataset}"."{table}" ORDER BY {picked}')


@pytest.mark.parametrize("option", list(OPTIONS))
def test_merge_options_store_what_dlt_stores(option, dataset, twin, dlt_uri, query, tmp_path):
    """Columns, the options' column hints and the rows (keys aside) after two loads, the same as dlt's.
    Duplicate keys in a batch only where dlt's choice among them is defined (scd2, `dedup_sort`)."""
    wd, hints = OPTIONS[option]
    duplicates = option.startswith("scd2") or "dedup-sort" in option
    for load in (1, 2):
        rows = option_rows(load, duplicates)
        dlt_run(dlt_uri, twin, tmp_path, dlt.resource(rows, name="t", write_disposition=wd, **hints))
        pg_assets.pipeline("keys", dataset=dataset).run(rows, table_name="t", write_disposition=wd, **hints)
    catalog = ("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
               "WHERE table_schema = %s AND table_name = 't' ORDER BY ordinal_position")
    if option != "scd2-version-column":  # dlt makes that column NOT NULL (listed in the README)
        assert query(catalog, (dataset,)) == query(catalog, (twin,))
    ours, theirs = (stored_document(query, d, "keys")["tables"]["t"]["columns"] for d in (dataset, twin))
    assert {c: {k: v for k, v in ours[c].items() if k in STORED_HINTS} for c in theirs if c != "ver"} == \
        {c: {k: v for k, v in theirs[c].items() if k in STORED_HINTS} for c in theirs if c != "ver"}
    for table in ("t", "t__kids"):
        if table == "t__kids" and option == "scd2-version-column":
            continue  # dlt re-inserts child rows of unchanged versions (listed in the README)
        columns = [c for c in columns_of(query, twin, table) if c not in KEY_COLUMNS]
        assert content_of(query, dataset, table, columns) == content_of(query, twin, table, columns)


# ---- sql_database rows ----------------------------------------------------------------------------

SOURCE_TABLE = """CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, at timestamptz, naive timestamp, day date,
    t time, price numeric(10, 2), blob bytea, u uuid, f double precision, doc jsonb, note text)"""
SOURCE_ROWS = """INSERT INTO "{schema}".src VALUES
    (1, '2024-01-02 03:04:05.000006+00', '2024-01-02 03:04:05', '2024-01-02', '01:02:03', 10.50, '\\x00ff',
     '00000000-0000-0000-0000-000000000007', 2.5e-05, '{{"a": [1, "x"], "b": {{"c": null}}}}', 'é'),
    (2, '2024-06-30 23:59:59+00', NULL, '2024-02-29', '23:59:59.5', -0.01, '', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
     -0.0, '[]', NULL)"""


@pytest.fixture
def source_schema(dataset: str, query: Query) -> Iterator[str]:
    """A schema of the embedded database holding the table both tools read, dropped afterwards."""
    name = f"{dataset}_src"
    query(f'CREATE SCHEMA "{name}"')
    query(SOURCE_TABLE.format(schema=name))
    query(SOURCE_ROWS.format(schema=name))
    yield name
    query(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def sqlalchemy_url(credentials: ConnectionConfig) -> str:
    return (f"postgresql+psycopg2://{credentials.username}@/{credentials.database}"
            f"?host={credentials.host}&port={credentials.port}")


@pytest.mark.parametrize("strategy", ["scd2", "upsert"])
def test_sql_database_rows_get_the_keys_dlts_sql_database_gives_them(
        strategy, source_schema, dataset, twin, dlt_uri, pg_credentials, query, tmp_path, monkeypatch):
    from dlt.sources.sql_database import sql_table

    url = sqlalchemy_url(pg_credentials)
    dlt_run(dlt_uri, twin, tmp_path, sql_table(credentials=url, table="src", schema=source_schema,
                                               write_disposition=write_disposition(strategy), primary_key="id"))
    monkeypatch.setenv("SRC_URL", url)
    (tmp_path / "pipelines.yaml").write_text(
        f"sources:\n  db:\n    kind: sql_database\n    credentials: ${{SRC_URL}}\n    schema: {source_schema}\n"
        f"    dataset: {dataset}\n    resources:\n      src:\n        primary_key: id\n"
        f"        write_disposition: {{disposition: merge, strategy: {strategy}}}\n")
    from pg_assets import runner
    from pg_assets.spec import load_spec
    runner.run_source(load_spec(tmp_path / "pipelines.yaml"), "db")
    ours = query(f'SELECT id, _dlt_id FROM "{dataset}".src ORDER BY id')
    assert ours == query(f'SELECT id, _dlt_id FROM "{twin}".src ORDER BY id') and len(ours) == 2


@pytest.mark.parametrize("tool", ["dlt", "pg_assets"])
def test_child_tables_that_have_a_root_key_keep_getting_it_after_a_switch_to_scd2(tool, dataset, dlt_uri, query,
                                                                                  tmp_path):
    """dlt keeps propagating `_dlt_root_id` into child tables that have it (a NOT NULL column): a table
    first merged by delete-insert, then by scd2, gets it in every row, whichever tool loads it."""
    dlt_run(dlt_uri, dataset, tmp_path, scd2_rows(), table_name="dim", primary_key="id",
            write_disposition=write_disposition("delete-insert"))
    if tool == "dlt":
        dlt_run(dlt_uri, dataset, tmp_path, scd2_rows(changed=2), table_name="dim", primary_key="id",
                write_disposition=SCD2)
    else:
        pg_assets.pipeline("keys", dataset=dataset).run(scd2_rows(changed=2), table_name="dim", primary_key="id",
                                                        write_disposition=SCD2)
    (rows, rooted), = query(f'SELECT count(*), count(_dlt_root_id) FROM "{dataset}".dim__lines')
    assert rows == rooted > 3  # the scd2 load added child rows, each with its root
    assert "dim" in propagation_of(query, dataset, "keys")
    assert versions(query, dataset)[0] == 3


# batch 1, batch 2 under insert-only: a child table new in batch 2, a list that grew, a new key beside them
INSERT_ONLY_BATCHES = {
    "new-child-table": ([{"id": 1}], [{"id": 1, "x": [1, 2]}]),
    "grown-list": ([{"id": 1, "x": [1]}], [{"id": 1, "x": [5, 6]}, {"id": 2, "x": [7]}]),
}


@pytest.mark.parametrize("case", list(INSERT_ONLY_BATCHES))
def test_insert_only_adds_the_child_rows_dlt_adds_under_known_keys(case, dataset, twin, dlt_uri, query, tmp_path):
    """dlt's insert-only inserts every child row whose `_dlt_id` its table lacks, whether its root
    key is new or was loaded before; the root rows of known keys stay as they were."""
    hints = {"table_name": "t", "write_disposition": write_disposition("insert-only"), "primary_key": "id"}
    for batch in INSERT_ONLY_BATCHES[case]:
        dlt_run(dlt_uri, twin, tmp_path, batch, **hints)
        pg_assets.pipeline("keys", dataset=dataset).run(batch, **hints)
    assert tables_below(query, dataset, "t") == tables_below(query, twin, "t") == ["t", "t__x"]
    for table in ("t", "t__x"):
        assert keys_of(query, dataset, table) == keys_of(query, twin, table)
    values = 'SELECT _dlt_parent_id, _dlt_list_idx, value FROM "{}".t__x ORDER BY 1, 2'
    assert query(values.format(dataset)) == query(values.format(twin))
