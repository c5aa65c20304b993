"""One dataset, two tools: the real dlt 1.31 and pg_assets hand a dataset and its cursors to each other.

Every step asserts the dataset's invariants: row counts, one row per key in merge
tables, and no child row without its parent or root.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

import pg_assets
from pg_assets.connection import ConnectionConfig

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)


def day(n: int) -> dt.datetime:
    return START + dt.timedelta(days=n)


def orders(ids: range, when: Callable[[int], dt.datetime], tag: str) -> list[dict[str, Any]]:
    """Nested orders: a flattened dict, a child list of dicts and a grandchild list of scalars."""
    return [{"id": i, "updated_at": when(i), "customer": {"name": f"{tag}{i}"},
             "items": [{"sku": f"{tag}-{i}-{k}", "qty": k, "tags": [tag, f"k{k}"]} for k in range(2)]}
            for i in ids]


@pytest.fixture
def dlt_uri(pg_credentials: ConnectionConfig) -> str:
    """The embedded server as dlt wants it (dlt insists on a password; the server trusts local sockets)."""
    return (f"postgresql://{pg_credentials.username}:unused@localhost/{pg_credentials.database}"
            f"?host={pg_credentials.host}")


def dlt_pipeline(name: str, dataset: str, uri: str, pipelines_dir: Path) -> Any:
    return dlt.pipeline(pipeline_name=name, destination=dlt.destinations.postgres(uri), dataset_name=dataset,
                        pipelines_dir=str(pipelines_dir))


def dlt_orders(rows: list[dict[str, Any]]) -> Any:
    @dlt.resource(name="orders", primary_key="id", write_disposition="merge")
    def resource(updated_at: Any = dlt.sources.incremental("updated_at", initial_value=START)) -> Iterator[Any]:
        yield rows

    return resource()


def pg_orders(rows: list[dict[str, Any]]) -> pg_assets.Resource:
    return pg_assets.resource(rows, name="orders", primary_key="id", write_disposition="merge",
                              incremental={"cursor_path": "updated_at", "initial_value": START})


def tables_of(query: Callable[..., list[tuple]], dataset: str) -> dict[str, list[str]]:
    rows = query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                 "ORDER BY table_name, ordinal_position", (dataset,))
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def assert_consistent(query: Callable[..., list[tuple]], dataset: str, orders_count: int) -> None:
    """One row per id, two items per order, two tags per item, and no orphans anywhere."""
    q = f'"{dataset}"'
    assert query(f"SELECT count(*), count(DISTINCT id) FROM {q}.orders") == [(orders_count, orders_count)]
    assert query(f"SELECT count(*) FROM {q}.orders__items") == [(2 * orders_count,)]
    assert query(f"SELECT count(*) FROM {q}.orders__items__tags") == [(4 * orders_count,)]
    for child, parent in (("orders__items", "orders"), ("orders__items__tags", "orders__items")):
        orphans = query(f"SELECT count(*) FROM {q}.{child} c LEFT JOIN {q}.{parent} p "
                        f"ON p._dlt_id = c._dlt_parent_id WHERE p._dlt_id IS NULL")
        assert orphans == [(0,)], f"{child} has rows without a parent"
        rootless = query(f"SELECT count(*) FROM {q}.{child} c LEFT JOIN {q}.orders r "
                         f"ON r._dlt_id = c._dlt_root_id WHERE r._dlt_id IS NULL")
        assert rootless == [(0,)], f"{child} has rows without a root"


def no_variants(tables: dict[str, list[str]]) -> bool:
    return not any("__v_" in c for cols in tables.values() for c in cols)


def cursor_of(state: dict[str, Any], source: str) -> dict[str, Any]:
    return state["sources"][source]["resources"]["orders"]["incremental"]["updated_at"]


def test_pg_assets_dataset_resumes_in_a_fresh_dlt_pipeline_and_back(dataset, dlt_uri, query, tmp_path):
    p = pg_assets.pipeline("shop", dataset=dataset)
    p.run(pg_orders(orders(range(1, 6), day, "a")))
    assert_consistent(query, dataset, 5)
    before = tables_of(query, dataset)

    dp = dlt_pipeline("shop", dataset, dlt_uri, tmp_path / "fresh")
    dp.sync_destination()
    assert cursor_of(dp.state, "shop")["last_value"] == day(5)
    # 4 is older than the cursor (filtered), 5 sits on the boundary (de-duplicated), 6 and 7 are new
    dp.run(dlt_orders(orders(range(4, 8), day, "b")))
    assert query(f'SELECT id FROM "{dataset}".orders WHERE customer__name LIKE %s ORDER BY id', ("b%",)) == [
        (6,), (7,)]
    assert_consistent(query, dataset, 7)
    assert tables_of(query, dataset) == before and no_variants(before)

    p.run(pg_orders(orders(range(6, 10), day, "c")))
    assert query(f'SELECT id FROM "{dataset}".orders WHERE customer__name LIKE %s ORDER BY id', ("c%",)) == [
        (8,), (9,)]
    assert_consistent(query, dataset, 9)
    assert tables_of(query, dataset) == before
    assert cursor_of(p.state(), "shop")["last_value"] == day(9)


def test_dlt_dataset_resumes_in_pg_assets_and_back_on_dlt_machine(dataset, dlt_uri, query, tmp_path):
    dp = dlt_pipeline("shop", dataset, dlt_uri, tmp_path / "dlt")
    dp.run(dlt_orders(orders(range(1, 6), day, "a")))
    assert_consistent(query, dataset, 5)
    before = tables_of(query, dataset)

    p = pg_assets.pipeline("shop", dataset=dataset)
    assert isinstance(cursor_of(p.state(), "shop")["last_value"], dt.datetime)
    p.run(pg_orders(orders(range(4, 8), day, "b")))
    assert query(f'SELECT id FROM "{dataset}".orders WHERE customer__name LIKE %s ORDER BY id', ("b%",)) == [
        (6,), (7,)]
    assert_consistent(query, dataset, 7)
    assert tables_of(query, dataset) == before

    dp = dlt_pipeline("shop", dataset, dlt_uri, tmp_path / "dlt")  # the original machine and its local state
    dp.run(dlt_orders(orders(range(6, 10), day, "c")))
    assert query(f'SELECT id FROM "{dataset}".orders WHERE customer__name LIKE %s ORDER BY id', ("c%",)) == [
        (8,), (9,)]
    assert_consistent(query, dataset, 9)
    assert tables_of(query, dataset) == before and no_variants(before)

    p.run(pg_orders(orders(range(9, 11), day, "d")))
    assert_consistent(query, dataset, 10)
    assert tables_of(query, dataset) == before


def test_dlt_dataset_reader_reads_pg_assets_data(dataset, dlt_uri, tmp_path):
    p = pg_assets.pipeline("shop", dataset=dataset)
    p.run(pg_orders(orders(range(1, 4), day, "a")))
    p.run([{"k": "x"}], table_name="events")
    ds = dlt.dataset(dlt.destinations.postgres(dlt_uri), dataset, schema="shop")
    counts = dict(ds.row_counts().fetchall())
    assert counts == {"orders": 3, "orders__items": 6, "orders__items__tags": 12, "events": 1}
    rows = ds["orders"].select("id", "customer__name").order_by("id").fetchall()
    assert rows == [(1, "a1"), (2, "a2"), (3, "a3")]


RECORDS = [{"id": 1, "name": "a", "price": 1.5, "paid": True, "ts": day(1), "on": dt.date(2024, 1, 2),
            "amount": __import__("decimal").Decimal("1.25"), "blob": b"\x00x", "meta": {"Deep Key": {"x": 1}},
            "lines": [{"sku": "s1", "dims": [1, 2]}],
            "a_child_list_with_a_very_long_name_that_needs_shortening_by_the_naming": [{"v": 1}]}]


def catalog_of(query: Callable[..., list[tuple]], dataset: str) -> dict[str, Any]:
    """Tables, columns (type, length, precision, nullability) and constraints, as Postgres has them."""
    columns = query(
        "SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, "
        "is_nullable FROM information_schema.columns WHERE table_schema = %s ORDER BY table_name, ordinal_position",
        (dataset,))
    constraints = query(
        "SELECT c.conrelid::regclass::text, c.contype, array_agg(a.attname::text ORDER BY a.attname) "
        "FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
        "WHERE c.connamespace = %s::regnamespace GROUP BY c.oid, c.conrelid, c.contype", (dataset,))
    return {"columns": columns,
            "constraints": sorted((t.split(".", 1)[1], k, tuple(cols)) for t, k, cols in constraints)}


@pytest.mark.parametrize(("disposition", "strategy"), [("append", None), ("merge", None),
                                                      ("replace", "staging-optimized")],
                         ids=["append", "merge", "replace-staging-optimized"])
def test_same_records_give_the_same_tables_as_dlt(disposition, strategy, dataset, dlt_uri, query, tmp_path,
                                                   monkeypatch):
    dlt_ds = f"{dataset}_d"
    if strategy:
        monkeypatch.setenv("DESTINATION__REPLACE_STRATEGY", strategy)
    ours_wd = {"disposition": disposition, "strategy": strategy} if strategy else disposition
    try:
        for _ in range(2):  # the second load of a staging-optimized replace swaps the tables
            dlt_pipeline("same", dlt_ds, dlt_uri, tmp_path).run(
                RECORDS, table_name="things", write_disposition=disposition, primary_key="id")
            pg_assets.pipeline("same", dataset=dataset).run(RECORDS, table_name="things",
                                                            write_disposition=ours_wd, primary_key="id")
        theirs, ours = catalog_of(query, dlt_ds), catalog_of(query, dataset)
        assert [r[0] for r in ours["columns"]] == [r[0] for r in theirs["columns"]]
        assert ours["columns"] == theirs["columns"]
        assert ours["constraints"] == theirs["constraints"]
        extra = query("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname NOT IN "
                      "(SELECT conname FROM pg_constraint WHERE connamespace = %s::regnamespace)", (dataset, dataset))
        # the documented extra key indexes of merge tables, and nothing else
        assert all(name.endswith(("_pk", "_idx", "_mk")) for (name,) in extra)
        assert bool(extra) == (disposition == "merge")
    finally:
        query(f'DROP SCHEMA IF EXISTS "{dlt_ds}" CASCADE')
        query(f'DROP SCHEMA IF EXISTS "{dlt_ds}_staging" CASCADE')


def stored_document(query: Callable[..., list[tuple]], dataset: str, schema_name: str) -> dict[str, Any]:
    import json
    (text,), = query(f'SELECT schema FROM "{dataset}"._dlt_version WHERE schema_name = %s '
                     "ORDER BY inserted_at DESC LIMIT 1", (schema_name,))
    return json.loads(text)


def test_stored_schema_is_one_dlt_loads_as_it_is(dataset, query):
    p = pg_assets.pipeline("shop", dataset=dataset)
    p.run(pg_orders(orders(range(1, 3), day, "a")))
    p.run([{"k": "x"}], table_name="events", write_disposition={"disposition": "merge", "strategy": "upsert"},
          primary_key="k")
    doc = stored_document(query, dataset, "shop")
    schema = dlt.Schema.from_dict(doc)  # validates, migrates nothing, and recomputes the hash
    assert (schema.version, schema.version_hash) == (doc["version"], doc["version_hash"])
    # dlt's counts for the same two runs: version 2 with 2 previous hashes after the first, then a new
    # table bumps twice (dlt's extract step writes it, its normalize step its columns)
    assert doc["engine_version"] == 11 and doc["version"] == 4 and len(doc["previous_hashes"]) == 4
    assert {"_dlt_version", "_dlt_loads", "_dlt_pipeline_state"} <= set(doc["tables"])
    tables = doc["tables"]
    assert tables["orders__items"]["parent"] == "orders"
    assert tables["orders__items"]["columns"]["_dlt_root_id"]["root_key"] is True
    assert tables["orders__items"]["columns"]["_dlt_parent_id"]["parent_key"] is True
    assert tables["orders"]["columns"]["_dlt_id"]["row_key"] is True
    assert tables["orders"]["columns"]["id"]["nullable"] is False
    assert "x-merge-strategy" not in tables["orders"] and tables["events"]["x-merge-strategy"] == "upsert"
    assert all("strategy" not in t for t in tables.values())
    assert tables["orders"]["x-normalizer"] == {"seen-data": True}
    assert query(f'SELECT version FROM "{dataset}"._dlt_version ORDER BY inserted_at') == [(2,), (4,)]


def test_other_writers_tables_and_columns_are_kept(dataset, dlt_uri, query, tmp_path):
    dp = dlt_pipeline("shop", dataset, dlt_uri, tmp_path)
    dp.run([{"id": 1}], table_name="dlt_only")
    p = pg_assets.pipeline("shop", dataset=dataset)
    p.run([{"id": 1}], table_name="ours")
    query(f'ALTER TABLE "{dataset}".ours ADD COLUMN added_by_hand integer')
    p.run([{"id": 2}], table_name="ours")
    doc = stored_document(query, dataset, "shop")
    assert "dlt_only" in doc["tables"] and "ours" in doc["tables"]
    assert doc["tables"]["ours"]["columns"]["added_by_hand"]["data_type"] == "bigint"
    dp.run([{"id": 2}], table_name="dlt_only")  # dlt still works on its own machine
    assert query(f'SELECT count(*) FROM "{dataset}".dlt_only') == [(2,)]


def test_a_schema_from_a_newer_engine_stops_the_load_before_anything_is_written(dataset, query):
    p = pg_assets.pipeline("shop", dataset=dataset)
    p.run([{"id": 1}], table_name="t")
    query(f'INSERT INTO "{dataset}"._dlt_version SELECT version + 1, 12, now(), schema_name, %s, '
          f"replace(schema, '\"engine_version\":11', '\"engine_version\":12') FROM \"{dataset}\"._dlt_version",
          ("future",))
    loads = query(f'SELECT count(*) FROM "{dataset}"._dlt_loads')
    with pytest.raises(pg_assets.StoredSchemaError, match="schema engine 12") as caught:
        p.run([{"id": 2}], table_name="t")
    assert caught.value.schema_name == "shop"
    assert query(f'SELECT count(*) FROM "{dataset}".t') == [(1,)]
    assert query(f'SELECT count(*) FROM "{dataset}"._dlt_loads') == loads


def test_an_scd2_table_names_its_validity_columns_as_dlt_does(dataset, query):
    p = pg_assets.pipeline("hist", dataset=dataset)
    p.run([{"nk": 1, "v": "a"}], table_name="dim", primary_key="nk",
          write_disposition={"disposition": "merge", "strategy": "scd2",
                             "validity_column_names": ["valid_from", "valid_to"]})
    schema = dlt.Schema.from_dict(stored_document(query, dataset, "hist"))
    from dlt.common.schema.utils import get_validity_column_names
    assert get_validity_column_names(schema.tables["dim"]) == ["valid_from", "valid_to"]
    assert schema.tables["dim"]["x-merge-strategy"] == "scd2"
