"""Column types: what a Python value infers to, and which values a column of each type accepts.

A type's Postgres DDL, and the type a catalog column reads back as, are the schema's
(`pg_assets.schema.postgres_type`, `from_postgres`).

Type knowledge lives in the tables below, not in `if` chains. The names are dlt's
(`text`, `bigint`, `double`, ...) so schemas read the same as dlt's.
"""

from __future__ import annotations

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


def _to_int(v: Any) -> int:
    if type(v) is bool:
        raise NoFit
    if isinstance(v, float) and not v.is_integer():
        raise NoFit
    if isinstance(v, decimal.Decimal) and v != v.to_integral_value():
        raise NoFit
    try:
        out = int(v)
    except (TypeError, ValueError, OverflowError) as exc:
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
        return exact_float(v)
    except (TypeError, ValueError, OverflowError) as exc:
        raise NoFit from exc


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _to_bool(v: Any) -> bool:
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE or s in _FALSE:
            return s in _TRUE
    elif type(v) is int and v in (0, 1):
        return bool(v)
    raise NoFit


def _to_timestamp(v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):  # a subclass (pendulum, as dlt yields them): the same instant, stdlib
        return dt.datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo, fold=v.fold)
    if isinstance(v, str):
        parsed = parse_timestamp(v)
        if parsed is not None:
            return parsed
    elif type(v) in (int, float):
        try:
            return dt.datetime.fromtimestamp(v, dt.timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise NoFit from exc
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
        return decimal.Decimal(str(v) if isinstance(v, float) else v)
    except decimal.InvalidOperation as exc:
        raise NoFit from exc


def _to_text(v: Any) -> str:
    """Numbers and ids read naturally as text; booleans, dates and containers do not."""
    if type(v) is bool or isinstance(v, (dt.date, dt.time, bytes, bytearray, Mapping, list, tuple)):
        raise NoFit
    return str(v)


def _to_json(v: Any) -> Any:
    return v


def _never(v: Any) -> Any:
    raise NoFit


# column type -> function turning a foreign value into the column's native Python value
COERCE: dict[str, Callable[[Any], Any]] = {
    "text": _to_text,
    "bigint": _to_int,
    "double": _to_float,
    "bool": _to_bool,
    "timestamp": _to_timestamp,
    "date": _from_iso(dt.date.fromisoformat, dt.date),
    "time": _from_iso(dt.time.fromisoformat, dt.time),
    "decimal": _to_decimal,
    "wei": _to_decimal,
    "binary": _never,
    "json": _to_json,
}
