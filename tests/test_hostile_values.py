"""Hostile values: each either round-trips or fails before anything is committed, naming table, column and row.

Run in both formats (`insert_values`, `copy`) against the session's embedded server.
Values changed on purpose are checked too: NUL bytes are dropped from text and NaN
floats are stored as NULL (as dlt does); the infinities stay infinite in every path.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import math

import pyarrow as pa
import pytest

import pg_assets
from pg_assets import sql
from pg_assets.errors import BadDataError, ConfigError

FORMATS = ["insert_values", "copy"]


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return request.param


def _run(dataset: str, fmt: str, items: list, **options) -> pg_assets.LoadInfo:
    return pg_assets.pipeline("hostile", dataset=dataset, file_format=fmt).run(items, table_name="t", **options)


ROUND_TRIPS = {
    "quotes_and_backslashes": "it's a \\ back'slash \\N \\t",
    "tab_newline_cr": "a\tb\nc\rd",
    "emoji_and_rtl": "😀 مرحبا \u200f",
    "sql_comment_and_semicolon": "x'); DROP TABLE t; --",
    "copy_end_marker": "\\.",
    "very_long": "x" * 200_000,
    "looks_like_null": "NULL",
    "empty": "",
}


@pytest.mark.parametrize("value", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_strings_round_trip(dataset: str, query, fmt: str, value: str) -> None:
    _run(dataset, fmt, [{"id": 1, "s": value}])
    assert query(f'SELECT s FROM "{dataset}".t') == [(value,)]


def test_nul_bytes_are_dropped_on_purpose(dataset: str, query, fmt: str) -> None:
    _run(dataset, fmt, [{"id": 1, "s": "a\x00b"}])
    assert query(f'SELECT s FROM "{dataset}".t') == [("ab",)]


FLOATS = {"nan": (math.nan, None), "inf": (math.inf, math.inf), "minus_inf": (-math.inf, -math.inf),
          "tiny": (5e-324, 5e-324), "minus_zero": (-0.0, -0.0)}


@pytest.mark.parametrize(("value", "stored"), FLOATS.values(), ids=FLOATS.keys())
def test_floats_mean_the_same_in_every_path(dataset: str, query, fmt: str, value: float, stored: float | None) -> None:
    _run(dataset, fmt, [{"id": 1, "f": 1.5}, {"id": 2, "f": value}])
    (got,), = query(f'SELECT f FROM "{dataset}".t WHERE id = 2')
    if repr(value) == "-0.0" and fmt == "insert_values":
        stored = 0.0  # dlt's INSERT ... VALUES writes -0.0 bare, which Postgres reads as the numeric 0
    assert repr(got) == repr(stored)  # by repr: -0.0 == 0.0, but where dlt keeps the sign, it must survive
    (literal,), = query(f"SELECT {sql.literal(value)}::double precision")
    assert literal == stored or (literal is None and stored is None)


DECIMALS = {"nan": "NaN", "many_places": "1.123456789", "negative": "-12345678901234567890.5"}
# numeric(38,9), dlt's decimal column, holds neither infinity nor 30 integer digits
TOO_BIG = {"infinity": "Infinity", "minus_infinity": "-Infinity"}


@pytest.mark.parametrize("text", DECIMALS.values(), ids=DECIMALS.keys())
def test_decimals_mean_the_same_in_every_path(dataset: str, query, fmt: str, text: str) -> None:
    value = decimal.Decimal(text)
    _run(dataset, fmt, [{"id": 1, "d": decimal.Decimal("1.5")}, {"id": 2, "d": value}])
    (got,), = query(f'SELECT d FROM "{dataset}".t WHERE id = 2')
    (literal,), = query(f"SELECT ({sql.literal(value)})::numeric(38, 9)")
    assert got.is_nan() if value.is_nan() else got == value
    assert literal.is_nan() if value.is_nan() else literal == got


@pytest.mark.parametrize("text", TOO_BIG.values(), ids=TOO_BIG.keys())
def test_decimals_too_big_for_the_column_fail_before_the_commit(dataset: str, query, fmt: str, text: str) -> None:
    _run(dataset, fmt, [{"id": 1, "d": decimal.Decimal("1.5")}])
    with pytest.raises(pg_assets.TerminalLoadError, match="table `t` failed: numeric field overflow"):
        _run(dataset, fmt, [{"id": 2, "d": decimal.Decimal(text)}])
    assert query(f'SELECT id FROM "{dataset}".t') == [(1,)]
    (literal,), = query(f"SELECT ({sql.literal(decimal.Decimal(text))})::numeric::text")
    assert literal == text if "Infinity" in text else True


def test_a_lone_surrogate_names_table_column_and_row(dataset: str, query, fmt: str) -> None:
    items = [{"id": 1, "s": "fine"}, {"id": 2, "s": "bad \ud800 here"}]
    with pytest.raises(BadDataError) as caught:
        _run(dataset, fmt, items)
    assert (caught.value.table, caught.value.column, caught.value.row) == ("t", "s", 2)
    assert "lone surrogate" in str(caught.value)
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".t',)) == [(None,)]


COLLIDING = {
    "space_and_underscore": {"Foo Bar": 1, "foo_bar": 2},
    "camel_and_snake": {"fooBar": 1, "foo_bar": 2},
    "nested_and_flat": {"a": {"b": 1}, "a__b": 2},
}


@pytest.mark.parametrize("item", COLLIDING.values(), ids=COLLIDING.keys())
def test_keys_that_collide_once_normalised_are_refused(dataset: str, query, fmt: str, item: dict) -> None:
    with pytest.raises(BadDataError, match="once normalised") as caught:
        _run(dataset, fmt, [{"id": 1}, {"id": 2, **item}])
    assert caught.value.table == "t" and caught.value.row == 2
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".t',)) == [(None,)]


@pytest.mark.parametrize("disposition", ["append", "merge"])
def test_our_own_column_names_are_refused(dataset: str, fmt: str, disposition: str) -> None:
    options = {"primary_key": "id"} if disposition == "merge" else {}
    with pytest.raises(BadDataError, match="`_pg_assets_` are pg_assets' own") as caught:
        _run(dataset, fmt, [{"id": 1, "_pg_assets_seq": 5}], write_disposition=disposition, **options)
    assert caught.value.column == "_pg_assets_seq"


def test_a_users_dlt_id_is_kept(dataset: str, query, fmt: str) -> None:
    _run(dataset, fmt, [{"id": 1, "_dlt_id": "mine-1", "kids": [{"k": 1}]}])
    assert query(f'SELECT _dlt_id FROM "{dataset}".t') == [("mine-1",)]
    assert query(f'SELECT _dlt_parent_id FROM "{dataset}".t__kids') == [("mine-1",)]


def test_a_users_dlt_load_id_is_replaced_by_this_loads(dataset: str, query, fmt: str) -> None:
    info = _run(dataset, fmt, [{"id": 1, "_dlt_load_id": "forged"}])
    assert query(f'SELECT _dlt_load_id FROM "{dataset}".t') == [(info.load_id,)]


NAMES = {"nul_in_pipeline_name": ("a\x00b", None), "empty_pipeline_name": ("", None),
         "nul_in_dataset": ("p", "d\x00s"), "empty_dataset": ("p", "  ")}


@pytest.mark.parametrize(("name", "ds"), NAMES.values(), ids=NAMES.keys())
def test_bad_pipeline_and_dataset_names(name: str, ds: str | None) -> None:
    with pytest.raises(ConfigError, match="name must be non-empty text"):
        pg_assets.pipeline(name, dataset=ds)


@pytest.mark.parametrize("table", ["", "\x00", None])
def test_an_empty_table_name_is_a_config_error(table) -> None:
    with pytest.raises(ConfigError, match="needs"):
        pg_assets.resource([{"id": 1}], name=table)


DEEP = {"x": 1}
for _ in range(200):
    DEEP = {"x": DEEP}

# name -> (items, SQL over the table `t`, expected rows)
STORED_AS = {
    "int_beyond_int64_goes_to_a_decimal_variant": (
        [{"id": 1, "n": 1}, {"id": 2, "n": 2**70}], "SELECT n, n__v_decimal::text FROM {t} ORDER BY id",
        [(1, None), (None, "1180591620717411303424.000000000")]),
    "nul_in_a_key_is_dropped_from_the_name": ([{"id": 1, "a\x00b": 1}], "SELECT a_b FROM {t}", [(1,)]),
    "surrogate_in_a_key_becomes_an_underscore": ([{"id": 1, "k\ud800x": 1}], "SELECT k_x FROM {t}", [(1,)]),
    "key_of_300_characters_is_shortened": (
        [{"id": 1, "k" * 300: 7}], "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{ds}' "
        "AND table_name = 't' AND length(column_name) <= 63 AND column_name LIKE 'kkkk%%'", [(1,)]),
    "nesting_200_deep_is_one_shortened_column": (
        [{"id": 1, "d": DEEP}], "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{ds}' "
        "AND table_name = 't' AND column_name LIKE 'd%%' AND length(column_name) <= 63", [(1,)]),
    "a_value_that_changes_type_gets_variants": (
        [{"id": 1, "v": 1}, {"id": 2, "v": "x"}], "SELECT v, v__v_text FROM {t} ORDER BY id", [(1, None), (None, "x")]),
    "bytes_round_trip": ([{"id": 1, "b": b"\x00\xff'"}], "SELECT b FROM {t}", [(memoryview(b"\x00\xff'"),)]),
    # (a key that only ever holds NaN makes no column, as in dlt: tests/differential/test_differential.py)
    "nan_inside_a_flattened_dict_is_null": ([{"id": 1, "j": {"a": math.nan}}, {"id": 2, "j": {"a": 1.5}}],
                                            "SELECT j__a FROM {t} ORDER BY id", [(None,), (1.5,)]),
}


@pytest.mark.parametrize(("items", "statement", "expected"), STORED_AS.values(), ids=STORED_AS.keys())
def test_values_are_stored_as_documented(dataset: str, query, fmt: str, items: list, statement: str,
                                         expected: list) -> None:
    _run(dataset, fmt, items)
    rows = query(statement.format(t=f'"{dataset}".t', ds=dataset))
    assert [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows] == [
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in expected]


UTC = dt.timezone.utc
# name -> a value that must come back exactly (aware datetimes compare by instant)
EXACT = {
    "bigint_min": -2**63,
    "bigint_max": 2**63 - 1,
    "composed_e_acute": "caf\u00e9",
    "decomposed_e_acute": "cafe\u0301",
    "zero_width_and_bom": "a\u200bb\ufeffc",
    "sql_injection_text": "'; DROP TABLE t; SELECT '",
    "dollar_quote": "$$ $body$ x $body$ $$",
    "bytes_all_256": bytes(range(256)),
    "bytes_empty": b"",
    "date_min": dt.date(1, 1, 1),
    "date_max": dt.date(9999, 12, 31),
    "time_last_microsecond": dt.time(23, 59, 59, 999999),
    "datetime_plus_14": dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    "datetime_minus_12_30": dt.datetime(2024, 6, 30, 23, 59, 59, 1,
                                        tzinfo=dt.timezone(-dt.timedelta(hours=12, minutes=30))),
    "datetime_year_1": dt.datetime(1, 1, 2, tzinfo=UTC),
    "decimal_tiny": decimal.Decimal("0.000000001"),
    "decimal_negative_zero": decimal.Decimal("-0"),
}


@pytest.mark.parametrize("value", EXACT.values(), ids=EXACT.keys())
def test_values_round_trip_exactly(dataset: str, query, fmt: str, value) -> None:
    _run(dataset, fmt, [{"id": 1, "v": value}])
    (got,), = query(f'SELECT v FROM "{dataset}".t')
    assert (bytes(got) if isinstance(got, memoryview) else got) == value


# name -> (items, and the table, column and row of that table the error must name)
NAMED_ERRORS = {
    "surrogate_in_a_child_row": ([{"id": 1, "kids": [{"s": "ok"}, {"s": "\udfff"}]}], "t__kids", "s", 2),
    "surrogate_in_a_flattened_dict": ([{"id": 1}, {"id": 2}, {"id": 3, "a": {"b": "x\ud800"}}], "t", "a__b", 3),
    "keys_equal_after_unicode_is_dropped": ([{"id": 1, "é": 1}, {"id": 2, "è": 2}], "t", "x", 2),
    "blank_and_empty_key": ([{"id": 1, "": 1, " ": 2}], "t", "_empty", 1),
    "our_own_name_nested": ([{"id": 1, "a": {"_pg_assets_seq": 1}}], "t", "_pg_assets_seq", 1),
}


@pytest.mark.parametrize(("items", "table", "column", "row"), NAMED_ERRORS.values(), ids=NAMED_ERRORS.keys())
def test_named_errors_come_before_anything_is_written(dataset: str, query, fmt: str, items: list, table: str,
                                                      column: str, row: int) -> None:
    with pytest.raises(BadDataError) as caught:
        _run(dataset, fmt, items)
    assert (caught.value.table, caught.value.column, caught.value.row) == (table, column, row)
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".t',)) == [(None,)]


def test_an_int_too_big_for_numeric_fails_before_the_commit(dataset: str, query, fmt: str) -> None:
    _run(dataset, fmt, [{"id": 1, "n": 1}])
    with pytest.raises(BadDataError, match=r"column `n__v_decimal`: 10+ does not fit `numeric\(38,9\)`"):
        _run(dataset, fmt, [{"id": 2, "n": 10**40}])
    assert query(f'SELECT id FROM "{dataset}".t') == [(1,)]


TOO_LARGE = {"decimal-past-29-digits": ({}, decimal.Decimal("1" + "0" * 30 + ".5"), "numeric(38,9)"),
             "int-past-29-digits-after-a-decimal": ({}, 10**40, "numeric(38,9)"),
             "rounds-up-to-the-limit": ({}, decimal.Decimal("9" * 29 + ".9999999996"), "numeric(38,9)"),
             "past-a-precision-hint": ({"d": {"data_type": "decimal", "precision": 6, "scale": 2}},
                                       decimal.Decimal("12345.5"), "numeric(6,2)")}


@pytest.mark.parametrize(("hints", "value", "size"), TOO_LARGE.values(), ids=TOO_LARGE.keys())
def test_a_number_too_large_for_its_numeric_column_is_a_named_error(dataset: str, query, fmt: str, hints: dict,
                                                                   value: object, size: str) -> None:
    _run(dataset, fmt, [{"id": 1, "d": decimal.Decimal("1.5")}], columns=hints)
    with pytest.raises(BadDataError, match=rf"item 2 of the load, table `t`, column `d`: .* does not fit "
                                           rf"`{re.escape(size)}`.*precision: 76") as caught:
        _run(dataset, fmt, [{"id": 2, "d": decimal.Decimal("2.5")}, {"id": 3, "d": value}], columns=hints)
    assert (caught.value.table, caught.value.column, caught.value.row, caught.value.value) == ("t", "d", 2, value)
    assert query(f'SELECT id FROM "{dataset}".t') == [(1,)]


def test_the_size_of_an_existing_numeric_column_is_the_catalogs(dataset: str, query, fmt: str) -> None:
    """A table made by hand: its `numeric(10,2)` column refuses 10**8 by name, before anything is staged."""
    query(f'CREATE SCHEMA "{dataset}"')
    query(f'CREATE TABLE "{dataset}".t (id bigint, small numeric(10,2))')
    _run(dataset, fmt, [{"id": 1, "small": decimal.Decimal("12345678.25")}])
    assert query(f'SELECT small FROM "{dataset}".t') == [(decimal.Decimal("12345678.25"),)]
    with pytest.raises(BadDataError, match=r"column `small`: .* does not fit `numeric\(10,2\)`"):
        _run(dataset, fmt, [{"id": 2, "small": decimal.Decimal("123456789")}])


@pytest.mark.parametrize("name", ['t"; DROP SCHEMA public; --', "Robert'); DROP TABLE students;--", "t" * 100])
def test_hostile_table_and_column_names_become_plain_identifiers(dataset: str, query, fmt: str, name: str) -> None:
    info = pg_assets.pipeline("hostile", dataset=dataset, file_format=fmt).run([{"id": 1, name: "v"}],
                                                                                table_name=name)
    table = pg_assets.normalize_identifier(name)
    assert len(table) <= 63 and table in info.tables
    assert query(f"SELECT {sql.ident(table)} FROM {sql.qualified(dataset, table)}") == [("v",)]


def test_lists_of_lists_become_nested_child_tables(dataset: str, query, fmt: str) -> None:
    _run(dataset, fmt, [{"id": 1, "m": [[1, 2], [3]], "e": {}, "l": []}])
    assert query(f'SELECT value FROM "{dataset}".t__m__list ORDER BY _dlt_parent_id, _dlt_list_idx') in (
        [(1,), (2,), (3,)], [(3,), (1,), (2,)])
    columns = {c for (c,) in query("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                   "AND table_name = 't'", (dataset,))}
    assert not columns & {"e", "l"}


ARROW = {
    "floats": (pa.array([math.nan, math.inf, -math.inf, -0.0, None]), [None, math.inf, -math.inf, -0.0, None]),
    "bigint_bounds": (pa.array([-2**63, 2**63 - 1, None, 0, 1]), [-2**63, 2**63 - 1, None, 0, 1]),
    "text": (pa.array(["caf\u00e9", "cafe\u0301", "'; DROP TABLE t; --", "\\N", "a\tb\nc"]),
             ["caf\u00e9", "cafe\u0301", "'; DROP TABLE t; --", "\\N", "a\tb\nc"]),
    "bytes": (pa.array([bytes(range(256)), b"", None, b"\\", b"'"]), [bytes(range(256)), b"", None, b"\\", b"'"]),
    "dates": (pa.array([dt.date(1, 1, 1), dt.date(9999, 12, 31), None, dt.date(2000, 2, 29), dt.date(1970, 1, 1)]),
              [dt.date(1, 1, 1), dt.date(9999, 12, 31), None, dt.date(2000, 2, 29), dt.date(1970, 1, 1)]),
}


@pytest.mark.parametrize(("array", "stored"), ARROW.values(), ids=ARROW.keys())
def test_arrow_values_mean_what_dict_values_mean(dataset: str, query, array: pa.Array, stored: list) -> None:
    pg_assets.pipeline("hostile", dataset=dataset).run(pa.table({"id": range(5), "v": array}), table_name="t")
    got = [v for (v,) in query(f'SELECT v FROM "{dataset}".t ORDER BY id')]
    # compared by repr: -0.0 == 0.0, but the sign must survive
    assert [repr(bytes(v) if isinstance(v, memoryview) else v) for v in got] == [repr(v) for v in stored]


def test_hostile_arrow_column_names_become_plain_identifiers(dataset: str, query) -> None:
    name = 'x"; DROP SCHEMA public; --'
    pg_assets.pipeline("hostile", dataset=dataset).run(pa.table({"id": [1], name: ["v"]}), table_name="t")
    column = pg_assets.normalize_identifier(name)
    assert query(f'SELECT {sql.ident(column)} FROM "{dataset}".t') == [("v",)]
