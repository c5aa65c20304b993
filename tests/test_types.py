"""Type inference and DDL: the truth tables."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest

from pg_assets.normalize.types import COERCE, NoFit, infer_type
from pg_assets.schema import postgres_type

UTC = dt.timezone.utc
INFER = [
    ("str", "text"),
    ("2024-01-02T03:04:05Z", "timestamp"),
    ("2024-01-02T03:04:05", "timestamp"),
    ("2024-01-02 03:04:05.123+02:00", "timestamp"),
    ("2024-01-02", "text"),
    ("123", "text"),
    (1, "bigint"),
    (2**63, "decimal"),
    (1.5, "double"),
    (True, "bool"),
    (dt.datetime(2024, 1, 1, tzinfo=UTC), "timestamp"),
    (dt.datetime(2024, 1, 1), "timestamp"),
    (dt.date(2024, 1, 1), "date"),
    (dt.time(1, 2), "time"),
    (decimal.Decimal("1.23"), "decimal"),
    (b"\x00", "binary"),
    (uuid.UUID(int=1), "text"),
    ({"a": 1}, "json"),
]


@pytest.mark.parametrize(("value", "expected"), INFER, ids=[f"{type(v).__name__}-{e}" for v, e in INFER])
def test_infer_type(value: object, expected: str) -> None:
    assert infer_type(value) == expected


DDL = [
    (("text",), {}, "varchar"),
    (("text", 50), {}, "varchar(50)"),
    (("bigint",), {}, "bigint"),
    (("bigint", 16), {}, "smallint"),
    (("bigint", 32), {}, "integer"),
    (("double",), {}, "double precision"),
    (("bool",), {}, "boolean"),
    (("timestamp",), {}, "timestamp with time zone"),
    (("timestamp", 3), {"timezone": False}, "timestamp (3) without time zone"),
    (("date",), {}, "date"),
    (("time",), {}, "time without time zone"),
    (("decimal",), {}, "numeric(38,9)"),
    (("decimal", 10, 2), {}, "numeric(10,2)"),
    (("binary",), {}, "bytea"),
    (("json",), {}, "jsonb"),
]


@pytest.mark.parametrize(("args", "kwargs", "expected"), DDL, ids=[d[2] for d in DDL])
def test_postgres_type(args: tuple, kwargs: dict, expected: str) -> None:
    assert postgres_type(*args, **kwargs) == expected


FITS = [("bigint", "11", 11), ("text", 10, "10"), ("text", 1.5, "1.5"), ("double", 3, 3.0), ("double", "2.5", 2.5),
        ("bool", "true", True), ("bool", 1, True), ("bool", 2, True), ("text", True, "True"), ("timestamp", 1700000000, dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))]
NO_FIT = [("bigint", 1.5), ("bigint", True), ("bigint", "abc"), ("timestamp", "not a date"), ("text", [1]),
          ("bool", "maybe"), ("binary", "x")]


@pytest.mark.parametrize(("column", "value", "expected"), FITS, ids=[f"{c}<-{v!r}" for c, v, _ in FITS])
def test_values_coerce_into_existing_columns(column: str, value: object, expected: object) -> None:
    assert COERCE[column](value) == expected


@pytest.mark.parametrize(("column", "value"), NO_FIT, ids=[f"{c}<-{v!r}" for c, v in NO_FIT])
def test_values_that_do_not_fit_go_to_variants(column: str, value: object) -> None:
    with pytest.raises(NoFit):
        COERCE[column](value)


# A value of every type that meets a column of another type, as dlt 1.31's normalizer sees it
FOREIGN_VALUES = [
    "12", " 0x1f ", "2.5", "true", "No", "2024-01-02", "2024-01-02T03:04:05+01:00", "23:59:58", "AP8=", "0x0102",
    "text", 0, 1, 2, -7, 86400 * 3, 2 ** 40, 0.0, 1.5, -0.0, 1e16, 3.0, True, False,
    decimal.Decimal("1.50"), decimal.Decimal("4"), decimal.Decimal("1E+12"),
    dt.datetime(2024, 1, 2, 23, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=-5))), dt.datetime(2024, 1, 2, 3, 4),
    dt.date(2024, 2, 29), dt.time(1, 2, 3, 4), b"\x00\xff", bytes(range(5)),
]
COLUMN_TYPES = ("text", "bigint", "double", "bool", "timestamp", "date", "time", "decimal", "binary")


def _dlt_coerced(column: str, value: object) -> object:
    """What dlt 1.31 stores for `value` in a `column` column, or NoFit where it makes a variant."""
    from dlt.common.data_types.type_helpers import coerce_value, py_type_to_sc_type

    try:
        return coerce_value(column, py_type_to_sc_type(type(value)), value)
    except (ValueError, TypeError):
        return NoFit


def _ours(column: str, value: object) -> object:
    try:
        return COERCE[column](value)
    except NoFit:
        return NoFit


FOREIGN_PAIRS = [pytest.param(column, value, id=f"{column}<-{value!r}") for column in COLUMN_TYPES
                 for value in FOREIGN_VALUES if infer_type(value) != column]


@pytest.mark.parametrize(("column", "value"), FOREIGN_PAIRS)
def test_a_foreign_value_fits_a_column_as_dlt_fits_it(column: str, value: object) -> None:
    """dlt is the oracle: the same values fit (with the same result), the others go to the same variants."""
    theirs, ours = _dlt_coerced(column, value), _ours(column, value)
    assert (type(ours).__name__, ours) == (type(theirs).__name__, theirs) or (
        ours is not NoFit and theirs is not NoFit and ours == theirs and type(ours) in (type(theirs),
                                                                                         *type(theirs).__mro__))
