"""One rule per non-finite number, whichever way a value travels: `sql.literal`, INSERT VALUES, COPY.

NaN floats are NULL (as dlt stores them), a Decimal NaN stays numeric `NaN`, and the
infinities are `Infinity` / `-Infinity` in every path.
"""

from __future__ import annotations

import decimal
import io
import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from pg_assets import sql
from pg_assets.normalize.arrow_wire import wire_array
from pg_assets.normalize.encode import COPY, INSERT_VALUES
from pg_assets.schema import Column

D = decimal.Decimal
# value, column type, its Postgres type, what Postgres stores as text (None: NULL)
CASES: dict[str, tuple[Any, str, str, str | None]] = {
    "float_nan": (math.nan, "double", "double precision", None),
    "float_inf": (math.inf, "double", "double precision", "Infinity"),
    "float_minus_inf": (-math.inf, "double", "double precision", "-Infinity"),
    "decimal_nan": (D("NaN"), "decimal", "numeric", "NaN"),
    "decimal_minus_nan": (D("-NaN"), "decimal", "numeric", "NaN"),
    "decimal_signalling_nan": (D("sNaN"), "decimal", "numeric", "NaN"),
    "decimal_infinity": (D("Infinity"), "decimal", "numeric", "Infinity"),
    "decimal_minus_infinity": (D("-Infinity"), "decimal", "numeric", "-Infinity"),
    "wei_infinity": (D("Infinity"), "wei", "numeric", "Infinity"),
}
# the literal text every path writes: COPY the same word unquoted, \N for NULL
TEXTS = {"float_nan": "NULL", "float_inf": "'Infinity'", "float_minus_inf": "'-Infinity'",
         "decimal_nan": "'NaN'", "decimal_minus_nan": "'NaN'", "decimal_signalling_nan": "'NaN'",
         "decimal_infinity": "'Infinity'", "decimal_minus_infinity": "'-Infinity'", "wei_infinity": "'Infinity'"}
Query = Callable[..., list[tuple]]


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
def test_literal_and_both_wire_formats_write_the_same_text(case: str) -> None:
    value, data_type, _, _ = CASES[case]
    literal = TEXTS[case]
    assert sql.literal(value) == literal
    assert INSERT_VALUES.encoder(data_type)(value) == literal
    assert COPY.encoder(data_type)(value) == ("\\N" if literal == "NULL" else literal.strip("'"))


def _through_copy(pg_conn: Any, pg_type: str, text: str) -> Any:
    with pg_conn.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE copied (v {pg_type})")
        cur.copy_expert("COPY copied (v) FROM STDIN", io.StringIO(text + "\n"))
        cur.execute("SELECT v::text FROM copied")
        got = cur.fetchone()[0]
        cur.execute("DROP TABLE copied")
    return got


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
def test_postgres_stores_one_outcome_on_every_path(pg_conn: Any, query: Query, case: str) -> None:
    value, data_type, pg_type, stored = CASES[case]
    assert {
        "literal": query(f"SELECT ({sql.literal(value)})::{pg_type}::text")[0][0],
        "insert_values": query(f"SELECT ({INSERT_VALUES.encoder(data_type)(value)})::{pg_type}::text")[0][0],
        "copy": _through_copy(pg_conn, pg_type, COPY.encoder(data_type)(value)),
    } == {"literal": stored, "insert_values": stored, "copy": stored}


def test_the_arrow_wire_makes_nan_null_and_keeps_the_infinities() -> None:
    floats = pa.array([math.nan, math.inf, -math.inf, 1.5])
    assert wire_array(floats, Column("f", "double")).to_pylist() == [None, math.inf, -math.inf, 1.5]


JSON_VALUE = {"nan": math.nan, "inf": math.inf, "minus_inf": -math.inf, "d": D("NaN"), "big": 2**70,
              "list": [math.nan, 1.5], "deep": {"x": [{"y": -math.inf}]}}
JSON_STORED = {"nan": None, "inf": None, "minus_inf": None, "d": "NaN", "big": 2**70,
               "list": [None, 1.5], "deep": {"x": [{"y": None}]}}


def test_json_values_drop_non_finite_floats_to_null_on_every_path(query: Query) -> None:
    assert query(f"SELECT ({sql.literal(JSON_VALUE)})::jsonb")[0][0] == JSON_STORED
    assert query(f"SELECT ({INSERT_VALUES.encoder('json')(JSON_VALUE)})::jsonb")[0][0] == JSON_STORED


@pytest.mark.parametrize("fmt", ["insert_values", "copy"])
def test_a_json_column_with_nan_and_infinity_loads_the_same_in_both_formats(dataset: str, query: Query,
                                                                           fmt: str) -> None:
    import pg_assets

    pg_assets.pipeline("json_nan", dataset=dataset, file_format=fmt).run(
        [{"id": 1, "doc": JSON_VALUE}], table_name="t", max_table_nesting=0)
    assert query(f"SELECT doc FROM {sql.qualified(dataset, 't')}") == [(JSON_STORED,)]
