"""Column types: what a Python value infers to, and which values a column of each type accepts.

A type's Postgres DDL, and the type a catalog column reads back as, are the schema's
(`pg_assets.schema.postgres_type`, `from_postgres`).

Type knowledge lives in the tables below, not in `if` chains. The names are dlt's
(`text`, `bigint`, `double`, ...) so schemas read the same as dlt's.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any


# Exact Python type -> column type. Looked up with `type(v)`, so bool never falls into
# int and datetime never into date; subclasses go through `_by_isinstance` below.
PYTHON_TYPES: dict[type, str] = {
    str: "text",
    int: "bigint",
    float: "double",
    bool: "bool",
    dt.datetime: "timestamp",
    dt.date: "date",
    dt.time: "time",
    decimal.Decimal: "decimal",
    bytes: "binary",
    bytearray: "binary",
    memoryview: "binary",
    dict: "json",
    list: "json",
    tuple: "json",
    uuid.UUID: "text",
}

# what a resource may yield bare, as `{"value": x}`: the scalar types above and their subclasses
SCALAR_TYPES: tuple[type, ...] = tuple(t for t in PYTHON_TYPES if t not in (dict, list, tuple))

# isinstance order matters: bool before int, datetime before date.
_ISINSTANCE_ORDER: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "bigint"),
    (float, "double"),
    (dt.datetime, "timestamp"),
    (dt.date, "date"),
    (dt.time, "time"),
    (decimal.Decimal, "decimal"),
    (str, "text"),
    (bytes, "binary"),
    (Mapping, "json"),
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

ISO_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
)


def _by_isinstance(value: Any) -> str:
    for py_type, data_type in _ISINSTANCE_ORDER:
        if isinstance(value, py_type):
            return data_type
    return "text"


def parse_timestamp(value: str) -> dt.datetime | None:
    """An ISO-8601 timestamp string as a datetime, or None when it is not one."""
    if not ISO_TIMESTAMP.match(value):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def infer_type(value: Any) -> str:
    """The column type a first non-null value creates.

    Examples:
        >>> infer_type(True), infer_type(3), infer_type("2024-01-02T03:04:05Z"), infer_type("2024-01-02")
        ('bool', 'bigint', 'timestamp', 'text')
    """
    data_type = PYTHON_TYPES.get(type(value)) or _by_isinstance(value)
    if data_type == "text" and type(value) is str and parse_timestamp(value) is not None:
        return "timestamp"
    if data_type == "bigint" and not INT64_MIN <= value <= INT64_MAX:
        return "decimal"
    return data_type


# ---- coercion of values into an existing column type ---------------------------------------


class NoFit(Exception):
    """The value cannot be stored in the column's type: it goes to a variant column."""


def _hex_or(parse: Callable[[str], Any], from_int: Callable[[int], Any]) -> Callable[[str], Any]:
    """dlt's text parsing for numbers: surrounding blanks ignored, `0x...` read as hexadecimal."""
    def read(text: str) -> Any:
        text = text.strip()
        return from_int(int(text[2:], 16)) if text.startswith("0x") else parse(text)

    return read


_INT_TEXT, _FLOAT_TEXT = _hex_or(int, int), _hex_or(float, float)
_DECIMAL_TEXT = _hex_or(decimal.Decimal, decimal.Decimal)


def _to_int(v: Any) -> int:
    if type(v) is bool:
        raise NoFit
    if isinstance(v, float) and not v.is_integer():
        raise NoFit
    if isinstance(v, decimal.Decimal) and v != v.to_integral_value():
        raise NoFit
    try:
        out = _INT_TEXT(v) if isinstance(v, str) else int(v)
    except (TypeError, ValueError, OverflowError, decimal.InvalidOperation) as exc:
        raise NoFit from exc
    if not INT64_MIN <= out <= INT64_MAX:
        raise NoFit
    return out


FLOAT_EXACT = 2**53  # every int up to this size is a double exactly; past it only some are


def exact_float(v: Any) -> float:
    """`v` as a float, refused (NoFit) when it is an int a double would round: `2**60 + 1` goes to a
    variant column instead of losing its last digits (dlt rounds it)."""
    if type(v) is int and not -FLOAT_EXACT <= v <= FLOAT_EXACT:
        try:
            as_float = float(v)
        except OverflowError as exc:
            raise NoFit from exc
        if as_float != v:
            raise NoFit
        return as_float
    return float(v)


def _to_float(v: Any) -> float:
    if type(v) is bool or not isinstance(v, (int, float, str, decimal.Decimal)):
        raise NoFit
    try:
        return _FLOAT_TEXT(v) if isinstance(v, str) else exact_float(v)
    except (TypeError, ValueError, OverflowError) as exc:
        raise NoFit from exc


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _to_bool(v: Any) -> bool:
    """Words as dlt reads them; any number is its truth value (dlt's `bool(x)`: 2 is True, 0.0 False)."""
    if isinstance(v, str):
        s = v.lower()
        if s in _TRUE or s in _FALSE:
            return s in _TRUE
    elif isinstance(v, (int, float, decimal.Decimal)):
        return bool(v)
    raise NoFit


def _text_timestamp(text: str) -> dt.datetime:
    """dlt's reading of text as a timestamp: ISO first (a bare date is midnight), then seconds since the epoch."""
    parsed = parse_timestamp(text)
    if parsed is not None:
        return parsed
    try:
        day = dt.date.fromisoformat(text)
        return dt.datetime(day.year, day.month, day.day)
    except ValueError:
        pass
    try:
        return _to_timestamp(float(text))
    except ValueError as exc:
        raise NoFit from exc


def _to_timestamp(v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):  # a subclass (pendulum, as dlt yields them): the same instant, stdlib
        return dt.datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo, fold=v.fold)
    if isinstance(v, str):
        return _text_timestamp(v)
    elif type(v) in (int, float):
        try:
            return dt.datetime.fromtimestamp(v, dt.timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise NoFit from exc
    elif type(v) is dt.date:  # midnight, naive: stored as UTC, as dlt stores it
        return dt.datetime(v.year, v.month, v.day)
    raise NoFit


def _to_date(v: Any) -> dt.date:
    """ISO text; a datetime's day in UTC (naive means UTC); a number as seconds since the epoch (dlt's rules);
    a subclass of date (pendulum's) as the same day."""
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return dt.date(v.year, v.month, v.day)
    if isinstance(v, dt.datetime):
        return (v.astimezone(dt.timezone.utc) if v.tzinfo is not None else v).date()
    if type(v) in (int, float):
        return _to_timestamp(v).date()
    if isinstance(v, str):
        return _to_date(_text_timestamp(v))
    raise NoFit


def _to_time(v: Any) -> dt.time:
    """ISO time text with at least hours and minutes (`12` alone is no time to dlt); a subclass of
    time (pendulum's) as the same time."""
    if isinstance(v, dt.time):
        return dt.time(v.hour, v.minute, v.second, v.microsecond, v.tzinfo, fold=v.fold)
    if isinstance(v, str) and ":" in v:
        return _from_iso(dt.time.fromisoformat, dt.time)(v)
    raise NoFit


def _from_iso(parse: Callable[[str], Any], kind: type) -> Callable[[Any], Any]:
    """Coerce ISO text, or a subclass of `kind` (pendulum's), into `kind` itself."""
    def coerce(v: Any) -> Any:
        if isinstance(v, kind) and not isinstance(v, dt.datetime):
            return parse(v.isoformat())
        if not isinstance(v, str):
            raise NoFit
        try:
            return parse(v)
        except ValueError as exc:
            raise NoFit from exc

    return coerce


def _to_decimal(v: Any) -> decimal.Decimal:
    if type(v) is bool or not isinstance(v, (int, float, str)):
        raise NoFit
    try:
        return _DECIMAL_TEXT(v) if isinstance(v, str) else decimal.Decimal(str(v) if isinstance(v, float) else v)
    except (decimal.InvalidOperation, ValueError) as exc:
        raise NoFit from exc


def _to_text(v: Any) -> str:
    """Scalars as dlt writes them into a text column: ISO dates and times, base64 bytes, `True` / `False`,
    numbers as Python prints them; containers do not fit."""
    if isinstance(v, (Mapping, list, tuple)):
        raise NoFit
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    return str(v)


def _to_binary(v: Any) -> bytes:
    """`0x...` hex or strict base64 text, or an int's little-endian bytes (dlt's rules)."""
    try:
        if isinstance(v, str):
            return bytes.fromhex(v[2:]) if v.startswith("0x") else base64.b64decode(v, validate=True)
        if type(v) is int and v >= 0:
            return v.to_bytes((v.bit_length() + 7) // 8, "little")
    except (ValueError, binascii.Error) as exc:
        raise NoFit from exc
    raise NoFit


def _to_json(v: Any) -> Any:
    return v


# column type -> function turning a foreign value into the column's native Python value
COERCE: dict[str, Callable[[Any], Any]] = {
    "text": _to_text,
    "bigint": _to_int,
    "double": _to_float,
    "bool": _to_bool,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "time": _to_time,
    "decimal": _to_decimal,
    "wei": _to_decimal,
    "binary": _to_binary,
    "json": _to_json,
}
