"""Quoting: the one place identifiers and values become SQL text.

Identifiers only ever enter SQL through `ident` (and `qualified`/`ident_list`, built on
it), values only through `literal` or the number and text encoders it shares with the
wire formats (`normalize/encode.py`).
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Iterable
from typing import Any

from pg_assets.json_codec import column_json


def ident(name: str) -> str:
    """Quote an identifier: wrap in double quotes, double any inner quote.

    Examples:
        >>> ident('my "odd" name')
        '"my ""odd"" name"'
    """
    if "\x00" in name:
        raise ValueError("identifiers cannot contain NUL bytes")
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    """`"schema"."table"`."""
    return f"{ident(schema)}.{ident(table)}"


def ident_list(names: Iterable[str]) -> str:
    return ", ".join(ident(n) for n in names)


def text_literal(value: str) -> str:
    """A standard-conforming string literal; NUL bytes, which Postgres text cannot hold, are dropped.

    Examples:
        >>> text_literal("it's")
        "'it''s'"
    """
    if "\x00" in value:
        value = value.replace("\x00", "")
    return "'" + value.replace("'", "''") + "'"


# The one table of non-finite numbers, shared by `literal`, INSERT ... VALUES and COPY text:
# Python's spelling (`repr` of a float, `str` of a Decimal) -> what Postgres is given (None:
# NULL). NaN floats are NULL, as dlt stores them; a Decimal NaN is a value `numeric` keeps, so
# it stays `NaN` whatever its sign or signal flag; the infinities are `Infinity` / `-Infinity`
# (a bounded `numeric(p,s)` column refuses them, so such a load fails whole, naming the table).
# The encoders look a number's text up in a table derived from this one (finite numbers are
# not in it and pass as they are): one dict lookup per value.
NON_FINITE: dict[str, str | None] = {
    "nan": None, "inf": "Infinity", "-inf": "-Infinity",  # float
    "NaN": "NaN", "-NaN": "NaN", "sNaN": "NaN", "-sNaN": "NaN",  # Decimal
    "Infinity": "Infinity", "-Infinity": "-Infinity",
}
# A float's -0.0 stays bare, as dlt's INSERT ... VALUES writes it: Postgres reads it as a numeric, which has
# no negative zero, so it is stored as 0 (COPY text keeps the sign, as dlt's CSV path does).
_NUMBER_LITERALS = {k: "NULL" if v is None else f"'{v}'" for k, v in NON_FINITE.items()}


def float_literal(value: float) -> str:
    """A float (or an int bound for a float column) as the loaders write it.

    Examples:
        >>> float_literal(1.5), float_literal(float("-inf")), float_literal(float("nan"))
        ('1.5', "'-Infinity'", 'NULL')
    """
    text = repr(float(value))
    return _NUMBER_LITERALS.get(text, text)


def decimal_literal(value: decimal.Decimal | int) -> str:
    """A Decimal (or an int bound for a numeric column) as the loaders write it.

    Examples:
        >>> decimal_literal(decimal.Decimal("-sNaN")), decimal_literal(decimal.Decimal("Infinity"))
        ("'NaN'", "'Infinity'")
    """
    text = str(value)
    return _NUMBER_LITERALS.get(text, text)


def literal(value: Any) -> str:
    """Any Python value as an SQL literal (connections run with standard_conforming_strings on).

    Examples:
        >>> literal(None), literal(True), literal(3), literal(b"\\x00a")
        ('NULL', 'TRUE', '3', "'\\\\x0061'")
    """
    if value is None:
        return "NULL"
    if isinstance(value, Expression):
        return str(value)
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_literal(value)
    if isinstance(value, decimal.Decimal):
        return decimal_literal(value)
    if isinstance(value, str):
        return text_literal(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "'\\x" + bytes(value).hex() + "'"
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return "'" + value.isoformat() + "'"
    if isinstance(value, (dict, list, tuple)):
        return text_literal(column_json(value))
    return text_literal(str(value))


class Expression(str):
    """SQL text that `literal` passes through unquoted: only for fixed expressions written in this package."""


NOW = Expression("clock_timestamp()")
