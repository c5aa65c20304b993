"""Schema contracts: `evolve`, `freeze`, `discard_row` and `discard_value` for `tables`,
`columns` and `data_type`, per resource, per run and per pipeline."""

from __future__ import annotations

from typing import Any

import pytest

import pg_assets
from pg_assets import SchemaContractError

FIRST = [{"id": 1, "n": 10, "tags": ["a"]}]


def _pipeline(dataset: str, **options: Any) -> pg_assets.Pipeline:
    return pg_assets.pipeline("contracts", dataset=dataset, workers=2, **options)


def _rows(query, dataset: str, table: str = "t") -> list[tuple]:
    return query(f'SELECT * FROM "{dataset}"."{table}" ORDER BY 1')


def _columns(query, dataset: str, table: str = "t") -> list[str]:
    return [c for (c,) in query("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                "AND table_name = %s ORDER BY ordinal_position", (dataset, table))]


def _loads(query, dataset: str) -> int:
    return query(f'SELECT count(*) FROM "{dataset}"._dlt_loads')[0][0]


def _tables(query, dataset: str) -> list[str]:
    return [t for (t,) in query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                                "AND table_name NOT LIKE '\\_dlt%%' ORDER BY 1", (dataset,))]


# ---- freeze: the load fails before anything is written, naming table, column and value ---------


@pytest.mark.parametrize("entity, item, message, column", [
    ("columns", {"id": 2, "n": 20, "extra": "surprise"}, "new column `extra` (value 'surprise')", "extra"),
    ("data_type", {"id": 2, "n": "twenty"}, "column `n` (bigint) got the value 'twenty'", "n"),
    ("tables", {"id": 2, "n": 20, "more": [{"x": 1}]}, "Table `t__more` is new", None),
], ids=["new-column", "new-type", "new-table"])
def test_freeze_fails_before_anything_is_written(dataset, query, entity, item, message, column):
    p = _pipeline(dataset, batch_bytes=4096)  # small batches: rows before the bad one are already staged
    p.run(FIRST, table_name="t", schema_contract={entity: "freeze"})
    good = [{"id": 3, "n": 30}] * 5000
    with pytest.raises(SchemaContractError) as raised:
        p.run(good + [item], table_name="t", schema_contract={entity: "freeze"})
    assert message in str(raised.value)
    assert raised.value.table in ("t", "t__more") and raised.value.column == column
    assert [r[:2] for r in _rows(query, dataset)] == [(1, 10)]
    assert _loads(query, dataset) == 1
    assert _tables(query, dataset) == ["t", "t__tags"]
    assert _columns(query, dataset) == ["id", "n", "_dlt_load_id", "_dlt_id"]
    assert _tables(query, f"{dataset}_staging") == []


def test_freeze_value_error_names_the_value(dataset):
    p = _pipeline(dataset, schema_contract="freeze")
    p.run(FIRST, table_name="t")
    with pytest.raises(SchemaContractError) as raised:
        p.run([{"id": 2, "n": 2.5}], table_name="t")
    assert raised.value.value == 2.5 and raised.value.column == "n"
    assert "`data_type`" in str(raised.value) and "n__v_double" in str(raised.value)


def test_tables_freeze_lets_the_first_load_create_its_tables(dataset, query):
    p = _pipeline(dataset, schema_contract={"tables": "freeze"})
    p.run([{"id": 1, "kids": [{"k": 1}]}], table_name="t")
    assert _tables(query, dataset) == ["t", "t__kids"]
    p.run([{"id": 2, "kids": [{"k": 2}]}], table_name="t")  # existing tables keep loading
    with pytest.raises(SchemaContractError, match="t__other"):
        p.run([{"id": 3, "other": [1]}], table_name="t")
    assert query(f'SELECT count(*) FROM "{dataset}".t')[0][0] == 2


def test_freeze_allows_data_that_fits(dataset, query):
    p = _pipeline(dataset, schema_contract="freeze")
    p.run(FIRST, table_name="t")
    p.run([{"id": 2, "n": 20}, {"id": 3, "tags": ["b", "c"]}], table_name="t")
    assert [r[:2] for r in _rows(query, dataset)] == [(1, 10), (2, 20), (3, None)]


# ---- discard_row / discard_value / evolve --------------------------------------------------------


@pytest.mark.parametrize("entity, mode, item, kept, columns", [
    ("columns", "discard_row", {"id": 2, "n": 20, "extra": "x"}, [(1, 10)], ["id", "n"]),
    ("columns", "discard_value", {"id": 2, "n": 20, "extra": "x"}, [(1, 10), (2, 20)], ["id", "n"]),
    ("columns", "evolve", {"id": 2, "n": 20, "extra": "x"}, [(1, 10), (2, 20)], ["id", "n", "extra"]),
    ("data_type", "discard_row", {"id": 2, "n": "twenty"}, [(1, 10)], ["id", "n"]),
    ("data_type", "discard_value", {"id": 2, "n": "twenty"}, [(1, 10), (2, None)], ["id", "n"]),
    ("data_type", "evolve", {"id": 2, "n": "twenty"}, [(1, 10), (2, None)], ["id", "n", "n__v_text"]),
], ids=lambda v: v if isinstance(v, str) and " " not in v and len(v) < 14 else None)
def test_discard_and_evolve(dataset, query, entity, mode, item, kept, columns):
    p = _pipeline(dataset)
    p.run([{"id": 1, "n": 10}], table_name="t")
    p.run([item, {"id": 3, "n": 30}], table_name="t", schema_contract={entity: mode})
    assert [r[:2] for r in _rows(query, dataset)] == [*kept, (3, 30)]
    assert [c for c in _columns(query, dataset) if not c.startswith("_dlt")] == columns


@pytest.mark.parametrize("mode", ["discard_row", "discard_value"])
def test_discarded_new_table_drops_its_rows_but_loads_the_parent(dataset, query, mode):
    p = _pipeline(dataset)
    p.run([{"id": 1}], table_name="t")
    p.run([{"id": 2, "kids": [1, 2]}], table_name="t", schema_contract={"tables": mode})
    assert [r[0] for r in _rows(query, dataset)] == [1, 2]
    assert _tables(query, dataset) == ["t"]


def test_new_table_may_have_new_columns_under_a_column_freeze(dataset, query):
    """A contract on columns concerns stored tables: a new table's columns are all new."""
    p = _pipeline(dataset, schema_contract={"columns": "freeze"})
    p.run([{"id": 1}], table_name="t")
    p.run([{"id": 1, "anything": True}], table_name="other")
    assert _columns(query, dataset, "other") == ["id", "anything", "_dlt_load_id", "_dlt_id"]


# ---- where the contract comes from ---------------------------------------------------------------


@pytest.mark.parametrize("pipeline_contract, resource_contract, run_contract, fails", [
    ("freeze", None, None, True),
    ("freeze", {"columns": "evolve"}, None, False),
    (None, "freeze", None, True),
    (None, "freeze", "evolve", False),
    ("evolve", {"tables": "freeze"}, None, False),
], ids=["pipeline-default", "resource-overrides-pipeline", "resource", "run-overrides-resource",
        "per-entity-merge"])
def test_contract_precedence(dataset, pipeline_contract, resource_contract, run_contract, fails):
    p = _pipeline(dataset, schema_contract=pipeline_contract)
    p.run([{"id": 1}], table_name="t")
    res = pg_assets.resource([{"id": 2, "new": "x"}], name="t", schema_contract=resource_contract)
    if fails:
        with pytest.raises(SchemaContractError, match="`new`"):
            p.run(res, schema_contract=run_contract)
    else:
        p.run(res, schema_contract=run_contract)


@pytest.mark.parametrize("contract, message", [
    ("frozen", "unknown schema_contract mode `frozen`"),
    ({"column": "freeze"}, "Did you mean `columns`?"),
], ids=["bad-mode", "bad-entity"])
def test_bad_pipeline_contract_fails_at_construction(contract, message):
    with pytest.raises(pg_assets.ConfigError, match=message):
        pg_assets.pipeline("contracts", dataset="never_used", schema_contract=contract)
