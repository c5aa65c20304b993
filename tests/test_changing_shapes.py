"""Data that changes shape: one column given values of ever other types, flat and nested.

A value of another type is converted into its column as dlt converts it, one that does not fit
goes to a variant column (`v__v_bool`), a list to a child
table (`t__v`), a dict to flattened columns (`v__a`), as dlt 1.31 stores them. The property tests
load random sequences of value types and read every value back from wherever it went; the dlt
tests load a few such sequences with dlt itself and compare the tables column by column.
"""

from __future__ import annotations

import decimal
import itertools
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dlt_interop import catalog_of, dlt_pipeline, dlt_uri  # noqa: F401 - dlt_uri is a fixture

import pg_assets

# scalars that no column type coerces into another's (text never looks like a number, a bool or a date)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(string.ascii_letters, min_size=1, max_size=4).map(lambda s: "s_" + s))
NESTED = st.one_of(SCALARS, st.lists(SCALARS.filter(lambda v: v is not None), min_size=1, max_size=3),
                   st.fixed_dictionaries({"a": SCALARS}))
_names = itertools.count()
Query = Callable[..., list[tuple]]


def same(stored: Any, given: Any) -> bool:
    """Whether `stored` is `given` as dlt converts it into a column of another type: numbers as numbers,
    any scalar in a text column as its `str` (`True` as `'True'`), any number in a bool column as its
    truth value (`1.5` is true, as dlt's `bool(n)`)."""
    if isinstance(stored, str) and not isinstance(given, str):
        return stored == str(given)
    if isinstance(stored, bool):
        return isinstance(given, (bool, int, float)) and stored == bool(given)
    if isinstance(given, bool):
        return False
    if isinstance(given, int) and isinstance(stored, (int, float, decimal.Decimal)):
        return stored == given  # exactly: an int past 2**53 must not come back rounded by a double
    if isinstance(given, float) and isinstance(stored, (int, float, decimal.Decimal)):
        return float(stored) == given
    return stored == given


def rows_of(query: Query, dataset: str, table: str) -> list[dict[str, Any]]:
    columns = [c for (c,) in query("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                   "AND table_name = %s ORDER BY ordinal_position", (dataset, table))]
    if not columns:
        return []
    rows = query(f'SELECT * FROM "{dataset}"."{table}"')
    return [{c: v for c, v in zip(columns, row) if v is not None} for row in rows]


def cells(row: dict[str, Any], name: str) -> dict[str, Any]:
    """The non-null cells of `row` that hold column `name`'s value: the column and its variants."""
    return {c: v for c, v in row.items() if c == name or c.startswith(f"{name}__v_")}


def assert_scalar(row: dict[str, Any], name: str, value: Any) -> None:
    found = cells(row, name)
    if value is None:
        assert found == {}, (name, found)
    else:
        assert len(found) == 1 and same(next(iter(found.values())), value), (name, value, found)


def assert_round_trip(query: Query, dataset: str, table: str, values: list[Any]) -> None:
    roots = {r["id"]: r for r in rows_of(query, dataset, table)}
    assert sorted(roots) == list(range(len(values)))
    children: dict[str, list[dict[str, Any]]] = {}
    for child in rows_of(query, dataset, f"{table}__v"):
        children.setdefault(child["_dlt_parent_id"], []).append(child)
    for i, value in enumerate(values):
        row = roots[i]
        kids = sorted(children.get(row["_dlt_id"], []), key=lambda c: c["_dlt_list_idx"])
        assert_scalar(row, "v", value if not isinstance(value, (list, dict)) else None)
        assert_scalar(row, "v__a", value["a"] if isinstance(value, dict) else None)
        listed = value if isinstance(value, list) else []
        assert [k["_dlt_list_idx"] for k in kids] == list(range(len(listed)))
        for kid, item in zip(kids, listed):
            assert_scalar(kid, "value", item)


def load(dataset: str, values: list[Any], file_format: str = "insert_values") -> str:
    table = f"t{next(_names)}"
    pg_assets.pipeline(f"shapes_{table}", dataset=dataset, file_format=file_format).run(
        [{"id": i, "v": v} for i, v in enumerate(values)], table_name=table)
    return table


PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(values=st.lists(SCALARS, min_size=1, max_size=12), file_format=st.sampled_from(["insert_values", "copy"]))
def test_any_order_of_scalar_types_in_one_column_loads_and_round_trips(dataset, query, values, file_format):
    assert_round_trip(query, dataset, load(dataset, values, file_format), values)


@PROPERTY
@given(values=st.lists(NESTED, min_size=1, max_size=10))
def test_any_order_of_scalars_lists_and_dicts_in_one_column_loads_and_round_trips(dataset, query, values):
    assert_round_trip(query, dataset, load(dataset, values), values)


def test_a_float_then_a_bool_then_a_list_loads_where_dlt_puts_them(dataset, query):
    """Once a crash: the list, met while a held block was encoded, opened a child table."""
    values = [1.5, True, [1, 2]]
    table = load(dataset, values)
    assert_round_trip(query, dataset, table, values)
    assert query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                 "AND table_name LIKE 't%%' AND column_name NOT LIKE '\\_dlt%%' ORDER BY 1, ordinal_position",
                 (dataset,)) == [
        (table, "id"), (table, "v"), (table, "v__v_bool"), (f"{table}__v", "value")]


def load_both(query: Query, dataset: str, uri: str, pipelines_dir: Any, values: list[Any]) -> tuple[Any, Any]:
    """The catalogs of `values` loaded by dlt (into `<dataset>_d`) and by pg_assets."""
    items = [{"id": i, "v": v} for i, v in enumerate(values)]
    dlt_pipeline("shapes", f"{dataset}_d", uri, pipelines_dir).run(items, table_name="things")
    pg_assets.pipeline("shapes", dataset=dataset).run(items, table_name="things")
    return catalog_of(query, f"{dataset}_d"), catalog_of(query, dataset)


def values_of(query: Query, dataset: str) -> list[list[tuple[str, Any]]]:
    """Every row of `things` and `things__v` as sorted (column, value) pairs, ids and load ids left out."""
    skip = {"_dlt_id", "_dlt_load_id", "_dlt_parent_id"}
    return sorted(sorted((c, str(v)) for c, v in row.items() if c not in skip)
                  for table in ("things", "things__v") for row in rows_of(query, dataset, table))


@pytest.fixture
def dlt_dataset(dataset: str, query: Query) -> Any:
    yield f"{dataset}_d"
    for schema in (f"{dataset}_d", f"{dataset}_d_staging"):
        query(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize("values", [[1.5, True, [1, 2]], [[1, "s_y"], 7, {"a": "s_z"}, {"a": 2.5}, False],
                                    [2, 2.5, "s_t", {"a": [1, 2]}]],
                         ids=["float-bool-list", "list-int-dicts", "int-float-text-dict-of-list"])
def test_changing_types_give_the_tables_and_rows_dlt_gives(values, dataset, dlt_dataset, dlt_uri, query,
                                                           tmp_path):  # noqa: F811
    theirs, ours = load_both(query, dataset, dlt_uri, tmp_path, values)
    assert ours["columns"] == theirs["columns"]
    assert values_of(query, dataset) == values_of(query, dlt_dataset)


@pytest.mark.parametrize("values", [["s_x", 3, True], [True, 1.5], [True, 7]],
                         ids=["bool-into-text", "float-into-bool", "int-into-bool"])
def test_where_dlt_converts_a_value_into_its_column_it_is_converted_the_same(values, dataset, dlt_dataset,
                                                                              dlt_uri, query, tmp_path):  # noqa: F811
    """dlt 1.31 stores `True` in a text column as `'True'` and any number in a bool column as `bool(n)`;
    so does pg_assets, so that a dataset either tool wrote holds the same columns and values."""
    theirs, ours = load_both(query, dataset, dlt_uri, tmp_path, values)
    assert ours["columns"] == theirs["columns"]
    assert values_of(query, dataset) == values_of(query, dlt_dataset)
    assert_round_trip(query, dataset, "things", values)


def test_two_resources_that_become_one_table_are_refused_before_staging(dataset, query):
    p = pg_assets.pipeline("twins", dataset=dataset)
    twins = [pg_assets.resource([{"a": 1}], name="My-Table"), pg_assets.resource([{"a": 2}], name="my_table")]
    with pytest.raises(pg_assets.ConfigError, match=r"`My-Table` and `my_table` both load table `my_table`"):
        p.run(twins)
    assert query("SELECT count(*) FROM pg_namespace WHERE nspname IN (%s, %s)", (dataset, f"{dataset}_staging")) \
        == [(0,)]


def test_a_decimal_with_more_digits_than_its_scale_is_rounded_as_postgres_rounds(dataset, query):
    """Documented: as dlt and Postgres do, `numeric(38,9)` keeps 9 decimal places; a `scale` hint keeps more."""
    value = decimal.Decimal("1.2345678901234567890")
    p = pg_assets.pipeline("dec", dataset=dataset)
    p.run([{"d": value}], table_name="rounded")
    p.run([{"d": value}], table_name="kept", columns={"d": {"data_type": "decimal", "precision": 38, "scale": 19}})
    assert query(f'SELECT d FROM "{dataset}".rounded') == [(decimal.Decimal("1.234567890"),)]
    assert query(f'SELECT d FROM "{dataset}".kept') == [(value,)]


@pytest.mark.parametrize("file_format", ["insert_values", "copy"])
def test_an_int_a_double_would_round_keeps_its_digits_in_a_variant_column(dataset, query, file_format):
    """dlt stores `2**60 + 1` in a double column as `2**60`; here it goes to `v__v_bigint`, exactly."""
    values = [1.5, 2**60 + 1, 2**60, 3]
    table = load(dataset, values, file_format)
    assert query(f'SELECT id, v, v__v_bigint FROM "{dataset}"."{table}" ORDER BY id') == [
        (0, 1.5, None), (1, None, 2**60 + 1), (2, float(2**60), None), (3, 3.0, None)]
