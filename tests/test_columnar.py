"""Columnar items (pyarrow, pandas, polars) load like the same rows given as dicts.

Every test loads into the embedded Postgres and reads back; most compare a columnar load
with the same data loaded as dicts (`to_pylist()`) by another table of the same dataset.
"""

from __future__ import annotations

import datetime as dt
import decimal
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import pg_assets
from pg_assets import runner
from pg_assets.errors import ConfigError, SchemaContractError
from pg_assets.spec import load_spec

UTC = dt.timezone.utc


def sample(n: int = 5, offset: int = 0) -> pa.Table:
    ids = list(range(offset, offset + n))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": pa.array([f"n{i}" if i % 3 else None for i in ids], pa.string()),
        "score": pa.array([i * 1.5 for i in ids], pa.float64()),
        "active": pa.array([i % 2 == 0 for i in ids]),
        "at": pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(hours=i) for i in ids],
                       pa.timestamp("us", tz="UTC")),
        "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in ids], pa.date32()),
    })


AS_ITEM: dict[str, Callable[[pa.Table], Any]] = {
    "arrow-table": lambda t: t,
    "record-batches": lambda t: t.to_batches(max_chunksize=2),
    "pandas": lambda t: t.to_pandas(),
    "polars": lambda t: pl.from_arrow(t),
}

DATA_COLUMNS = "id, name, score, active, at, day"


def select(query: Callable[..., Any], dataset: str, table: str, cols: str = DATA_COLUMNS,
           order: str = "id") -> list[tuple]:
    return query(f'SELECT {cols} FROM "{dataset}"."{table}" ORDER BY {order}')


def column_types(query: Callable[..., Any], dataset: str, table: str) -> dict[str, str]:
    return dict(query("SELECT column_name, data_type FROM information_schema.columns "
                      "WHERE table_schema = %s AND table_name = %s", (dataset, table)))


@pytest.mark.parametrize("kind", list(AS_ITEM))
def test_columnar_items_load_like_dicts(kind: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("col", dataset=dataset)
    data = sample()
    p.run(data.to_pylist(), table_name="as_dicts")
    info = p.run(AS_ITEM[kind](data), table_name="as_columns")
    assert info.tables["as_columns"].rows == 5
    assert select(query, dataset, "as_columns") == select(query, dataset, "as_dicts")
    ids = query(f'SELECT _dlt_load_id, _dlt_id FROM "{dataset}".as_columns')
    assert {load_id for load_id, _ in ids} == {info.load_id}
    assert len({row_id for _, row_id in ids}) == 5 and all(len(r) == 14 for _, r in ids)
    dict_types, arrow_types = column_types(query, dataset, "as_dicts"), column_types(query, dataset, "as_columns")
    assert arrow_types == dict_types


def test_arrow_types_map_as_dlt_maps_them(dataset: str, query) -> None:
    table = pa.table({
        "aware": pa.array([dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        "naive": pa.array([dt.datetime(2024, 5, 1, 12, 30)], pa.timestamp("us")),
        "ms": pa.array([dt.datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)], pa.timestamp("ms", tz="UTC")),
        "ns": pa.array([pd.Timestamp("2024-05-01 12:30:15.123456789", tz="UTC")], pa.timestamp("ns", tz="UTC")),
        "money": pa.array([decimal.Decimal("12.34")], pa.decimal128(10, 2)),
        "big": pa.array(["x" * 3], pa.large_string()),
        "category": pa.array(["red"]).dictionary_encode(),
        "blob": pa.array([b"\x00\x01\xff"], pa.binary()),
        "small": pa.array([7], pa.int8()),
        "ratio": pa.array([0.25], pa.float32()),
        "when": pa.array([dt.time(10, 11, 12)], pa.time64("us")),
        "nested": pa.array([{"a": 1, "b": [1, 2]}]),
        "tags": pa.array([["x", "y"]]),
    })
    pg_assets.pipeline("types", dataset=dataset).run(table, table_name="t")
    types = column_types(query, dataset, "t")
    assert {k: types[k] for k in table.column_names} == {
        "aware": "timestamp with time zone", "naive": "timestamp without time zone",
        "ms": "timestamp with time zone", "ns": "timestamp with time zone", "money": "numeric",
        "big": "character varying", "category": "character varying", "blob": "bytea", "small": "smallint",
        "ratio": "double precision", "when": "time without time zone", "nested": "jsonb", "tags": "jsonb"}
    precision = dict(query("SELECT column_name, coalesce(datetime_precision, numeric_precision * 100 + "
                           "numeric_scale) FROM information_schema.columns WHERE table_schema = %s AND "
                           "column_name IN ('ms', 'money')", (dataset,)))
    assert precision == {"ms": 3, "money": 1002}
    row = query(f'SELECT aware, naive, ms, ns, money, big, category, blob::text, small, ratio, "when", nested, '
                f'tags FROM "{dataset}".t')[0]
    assert row == (dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC), dt.datetime(2024, 5, 1, 12, 30),
                   dt.datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC),
                   dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC), decimal.Decimal("12.34"), "xxx", "red",
                   "\\x0001ff", 7, 0.25, dt.time(10, 11, 12), {"a": 1, "b": [1, 2]}, ["x", "y"])


def test_text_edge_cases_keep_empty_strings_drop_nul_and_nan(dataset: str, query) -> None:
    table = pa.table({"id": [1, 2, 3, 4],
                      "s": ["", None, 'q"uote,comma\nnew\\line', "nul\x00byte"],
                      "f": [float("nan"), 1.0, None, float("inf")]})
    p = pg_assets.pipeline("edge", dataset=dataset)
    p.run(table, table_name="arrow")
    p.run(table.to_pylist(), table_name="dicts")
    assert select(query, dataset, "arrow", "id, s, f") == select(query, dataset, "dicts", "id, s, f") == [
        (1, "", None), (2, None, 1.0), (3, 'q"uote,comma\nnew\\line', None), (4, "nulbyte", float("inf"))]


@pytest.mark.parametrize("strategy", ["truncate-and-insert", "insert-from-staging", "staging-optimized"])
def test_replace(strategy: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("rep", dataset=dataset, replace_strategy=strategy)
    p.run(sample(5), table_name="t", write_disposition="replace")
    p.run(sample(2, offset=10).to_pandas(), table_name="t", write_disposition="replace")
    assert select(query, dataset, "t", "id") == [(10,), (11,)]


def _both(p: pg_assets.Pipeline, batches: list[pa.Table], **options: Any) -> None:
    """Load each batch as Arrow into `arrow` and as dicts into `dicts`, one load per batch."""
    for batch in batches:
        p.run(batch, table_name="arrow", **options)
        p.run(batch.to_pylist(), table_name="dicts", **options)


def _versions(n: int, version: int, deleted: bool = False) -> pa.Table:
    return pa.table({"id": list(range(n)), "v": [version] * n, "deleted": [deleted and i == 0 for i in range(n)]})


@pytest.mark.parametrize("strategy", ["upsert", "delete-insert"])
def test_merge_updates_like_dicts(strategy: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("mrg", dataset=dataset)
    hints = {"deleted": {"hard_delete": True}}
    _both(p, [_versions(4, 1), _versions(3, 2, deleted=True)], primary_key="id", columns=hints,
          write_disposition={"disposition": "merge", "strategy": strategy})
    expected = [(1, 2), (2, 2), (3, 1)]
    assert select(query, dataset, "arrow", "id, v") == select(query, dataset, "dicts", "id, v") == expected
    if strategy == "upsert":  # upsert keys hash the primary key, as for dicts
        assert (select(query, dataset, "arrow", "_dlt_id") == select(query, dataset, "dicts", "_dlt_id"))


def test_delete_insert_dedup_sort_keeps_one_row_per_key(dataset: str, query) -> None:
    batch = pa.table({"id": [1, 1, 1, 2], "ts": [3, 9, 5, 1], "v": ["a", "b", "c", "d"]})
    p = pg_assets.pipeline("dedup", dataset=dataset)
    _both(p, [batch], primary_key="id", columns={"ts": {"dedup_sort": "desc"}}, write_disposition="merge")
    assert select(query, dataset, "arrow", "id, ts, v") == select(query, dataset, "dicts", "id, ts, v") == [
        (1, 9, "b"), (2, 1, "d")]


def test_scd2_keeps_history_like_dicts(dataset: str, query) -> None:
    p = pg_assets.pipeline("scd", dataset=dataset)
    first = pa.table({"id": [1, 2], "v": ["a", "b"]})
    second = pa.table({"id": [1], "v": ["a2"]})
    _both(p, [first, second], write_disposition={"disposition": "merge", "strategy": "scd2"})
    cols = "id, v, _dlt_valid_to IS NULL, _dlt_id"
    assert select(query, dataset, "arrow", cols, "id, v") == select(query, dataset, "dicts", cols, "id, v")
    assert [r[:3] for r in select(query, dataset, "arrow", cols, "id, v")] == [
        (1, "a", False), (1, "a2", True), (2, "b", False)]  # id 2 is missing from the second load: retired


def test_incremental_across_two_runs_with_boundary_dedup(dataset: str, query) -> None:
    p = pg_assets.pipeline("inc", dataset=dataset)

    def batch(ids: list[int], days: list[int]) -> pa.Table:
        return pa.table({"id": ids, "at": pa.array([dt.date(2024, 1, d) for d in days], pa.date32())})

    inc = {"cursor_path": "at", "initial_value": dt.date(2024, 1, 2)}
    p.run(batch([1, 2, 3], [1, 2, 3]), table_name="t", primary_key="id", incremental=dict(inc))
    assert select(query, dataset, "t", "id") == [(2,), (3,)]
    # id 3 is at the stored boundary and already loaded; id 4 shares the boundary and is new
    p.run(pa.table({"id": [3, 4, 5], "at": pa.array([dt.date(2024, 1, 3), dt.date(2024, 1, 3),
                                                      dt.date(2024, 1, 5)], pa.date32())}),
          table_name="t", primary_key="id", incremental=dict(inc))
    assert select(query, dataset, "t", "id") == [(2,), (3,), (4,), (5,)]
    cursor = p.state()["sources"]["inc"]["resources"]["t"]["incremental"]["at"]
    assert cursor["last_value"] == dt.date(2024, 1, 5) and len(cursor["unique_hashes"]) == 1


def test_incremental_cursor_state_matches_dicts(dataset: str, query) -> None:
    data = sample(6)
    inc = {"cursor_path": "at"}
    a, d = pg_assets.pipeline("inc_a", dataset=dataset), pg_assets.pipeline("inc_d", dataset=dataset)
    a.run(data, table_name="arrow", incremental=dict(inc))
    d.run(data.to_pylist(), table_name="dicts", incremental=dict(inc))
    state_a = a.state()["sources"]["inc_a"]["resources"]["arrow"]["incremental"]["at"]
    state_d = d.state()["sources"]["inc_d"]["resources"]["dicts"]["incremental"]["at"]
    assert state_a == state_d


def test_schema_evolves_from_the_arrow_schema_and_freeze_refuses(dataset: str, query) -> None:
    p = pg_assets.pipeline("evo", dataset=dataset)
    p.run(pa.table({"id": [1]}), table_name="t")
    p.run(pa.table({"id": [2], "extra": ["x"]}), table_name="t")
    assert select(query, dataset, "t", "id, extra") == [(1, None), (2, "x")]
    with pytest.raises(SchemaContractError, match="new column `more`"):
        p.run(pa.table({"id": [3], "more": [1.5]}), table_name="t", schema_contract="freeze")
    assert select(query, dataset, "t", "id") == [(1,), (2,)]
    p.run(pa.table({"id": [4], "more": [1.5]}), table_name="t", schema_contract={"columns": "discard_value"})
    assert "more" not in column_types(query, dataset, "t")


def test_mixed_dicts_and_arrow_in_one_resource(dataset: str, query) -> None:
    def items():
        yield {"id": 0, "name": "dict", "only_dict": True}
        yield sample(2, offset=1)
        yield [{"id": 3, "name": "page"}]
        yield sample(1, offset=4).to_pandas()

    pg_assets.pipeline("mix", dataset=dataset).run(items, table_name="t", write_disposition="merge",
                                                  primary_key="id")
    assert select(query, dataset, "t", "id, name, only_dict") == [
        (0, "dict", True), (1, "n1", None), (2, "n2", None), (3, "page", None), (4, "n4", None)]


def test_switches_leave_out_the_dlt_columns(dataset: str, query) -> None:
    pg_assets.pipeline("sw", dataset=dataset).run(sample(2), table_name="t", add_dlt_load_id=False,
                                                  add_dlt_id=False)
    assert not {"_dlt_id", "_dlt_load_id"} & set(column_types(query, dataset, "t"))
    with pytest.raises(ConfigError, match="merge needs `_dlt_id`"):
        pg_assets.pipeline("sw", dataset=dataset).run(sample(2), table_name="t", add_dlt_id=False,
                                                      write_disposition="merge")


class Custom:
    pass


@pytest.mark.parametrize("item", [np.arange(3), Custom()], ids=["numpy-array", "custom-object"])
def test_items_we_do_not_understand_fail_naming_type_and_resource(item: Any, dataset: str, query) -> None:
    with pytest.raises(ConfigError, match=rf"Resource `t` produced an item of type `.*{type(item).__name__}`"):
        pg_assets.pipeline("bad", dataset=dataset).run([{"id": 1}, item], table_name="t")
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".t',)) == [(None,)]


def test_an_arrow_type_without_mapping_names_the_column_and_the_hint(dataset: str, query) -> None:
    table = pa.table({"id": [1], "took": pa.array([dt.timedelta(seconds=5)], pa.duration("s"))})
    p = pg_assets.pipeline("dur", dataset=dataset)
    with pytest.raises(SchemaContractError, match=r"column `took` .*`columns: \{took: \{data_type: text\}\}`"):
        p.run(table, table_name="t")
    p.run(table, table_name="t", columns={"took": {"data_type": "bigint"}})
    assert select(query, dataset, "t", "id, took") == [(1, 5)]


def test_a_value_that_does_not_cast_to_the_existing_column_fails(dataset: str, query) -> None:
    p = pg_assets.pipeline("cast", dataset=dataset)
    p.run(pa.table({"id": [1]}), table_name="t")
    with pytest.raises(SchemaContractError, match=r"column `id` is `bigint`.*`string`"):
        p.run(pa.table({"id": ["not a number"]}), table_name="t")
    p.run(pa.table({"id": ["7"]}), table_name="t")  # casts safely
    assert select(query, dataset, "t", "id") == [(1,), (7,)]


def test_python_kind_yields_dataframes_with_yaml_switches(tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / "frames.py").write_text(textwrap.dedent("""
        import pandas as pd

        def frames():
            yield pd.DataFrame({"id": [1, 2], "name": ["a", "b"]})
            yield pd.DataFrame({"id": [3], "name": ["c"]})
    """))
    (tmp_path / "pipelines.yaml").write_text(textwrap.dedent(f"""
        sources:
          s:
            kind: python
            dataset: {dataset}
            resources:
              frames: {{function: "frames:frames", add_dlt_load_id: false}}
    """))
    runner.run_source(load_spec(tmp_path / "pipelines.yaml"), "s")
    assert select(query, dataset, "frames", "id, name") == [(1, "a"), (2, "b"), (3, "c")]
    assert "_dlt_load_id" not in column_types(query, dataset, "frames")
    assert "_dlt_id" in column_types(query, dataset, "frames")


def test_create_indexes_apply_to_columnar_tables(dataset: str, query) -> None:
    pg_assets.pipeline("idx", dataset=dataset, create_indexes=True).run(
        sample(3), table_name="t", columns={"id": {"unique": True}})
    constraints = query("SELECT count(*) FROM information_schema.table_constraints WHERE table_schema = %s "
                        "AND table_name = 't' AND constraint_type = 'UNIQUE'", (dataset,))
    assert constraints == [(2,)]  # `id` and `_dlt_id`


def test_discard_row_drops_the_rows_with_a_refused_column(dataset: str, query) -> None:
    p = pg_assets.pipeline("disc", dataset=dataset)
    p.run(pa.table({"id": [1], "name": ["a"]}), table_name="t")
    p.run(pa.table({"id": [2, 3], "name": ["b", "c"], "new": [None, 1]}), table_name="t",
          schema_contract={"columns": "discard_row"})
    assert select(query, dataset, "t", "id, name") == [(1, "a"), (2, "b")]


def test_polars_lazy_frames_load(dataset: str, query) -> None:
    pg_assets.pipeline("lazy", dataset=dataset).run(pl.LazyFrame({"id": [1, 2]}), table_name="t")
    assert select(query, dataset, "t", "id") == [(1,), (2,)]


def test_dlt_columns_in_the_data_are_replaced_by_the_loads_own(dataset: str, query) -> None:
    exported = pa.table({"id": [1], "_dlt_load_id": ["old"], "_dlt_id": ["old-id"]})
    info = pg_assets.pipeline("exp", dataset=dataset).run(exported, table_name="t")
    assert select(query, dataset, "t", "id, _dlt_load_id, _dlt_id <> 'old-id'") == [(1, info.load_id, True)]


def test_a_failed_columnar_load_leaves_nothing_and_keeps_the_cursor(dataset: str, query) -> None:
    p = pg_assets.pipeline("fail", dataset=dataset)
    p.run(sample(2), table_name="t", incremental={"cursor_path": "id"})

    def broken():
        yield sample(3, offset=10)
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        p.run(broken, table_name="t", incremental={"cursor_path": "id"})
    assert select(query, dataset, "t", "id") == [(0,), (1,)]
    assert p.state()["sources"]["fail"]["resources"]["t"]["incremental"]["id"]["last_value"] == 1


def test_a_switch_cannot_leave_out_a_column_the_table_requires(dataset: str, query) -> None:
    p = pg_assets.pipeline("req", dataset=dataset)
    p.run(sample(1), table_name="t")
    with pytest.raises(ConfigError, match=r"`t` already has `_dlt_load_id` \(NOT NULL\).*`add_dlt_load_id: false`"):
        p.run(sample(1, offset=5), table_name="t", add_dlt_load_id=False)
    assert select(query, dataset, "t", "id") == [(0,)]
