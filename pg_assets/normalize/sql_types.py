"""Column hints from a source database's own column types (SQLAlchemy reflection).

A table copied from another database keeps its types: `numeric(12,2)` stays
`numeric(12,2)`, `varchar(80)` stays `varchar(80)`, `timestamp` stays without a time
zone. The knowledge is the table `SQL_TYPES` below: the first SQLAlchemy type class a
reflected type is an instance of decides the hint, most specific classes first. The
hints use the engine's vocabulary (`pg_assets.normalize.types`), so the destination
DDL comes from `postgres_type` like any other hinted column.

SQLAlchemy is imported here only; the engine itself never needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import types as sa
from sqlalchemy.dialects import mysql, postgresql

from pg_assets.normalize.naming import normalize_identifier

Hint = dict[str, Any]


def _text(t: Any) -> Hint:
    length = getattr(t, "length", None)
    return {"data_type": "text", "precision": length} if length else {"data_type": "text"}


def _integer(bits: int | None) -> Callable[[Any], Hint]:
    def hint(t: Any) -> Hint:
        return {"data_type": "bigint", "precision": bits} if bits else {"data_type": "bigint"}

    return hint


def _tinyint(t: Any) -> Hint:
    """MySQL and MariaDB spell BOOLEAN `tinyint(1)`."""
    return {"data_type": "bool"} if getattr(t, "display_width", None) == 1 else {"data_type": "bigint",
                                                                               "precision": 16}


def _decimal(t: Any) -> Hint:
    hint: Hint = {"data_type": "decimal"}
    if t.precision:
        hint["precision"] = t.precision
        hint["scale"] = t.scale or 0
    return hint


def _timestamp(t: Any) -> Hint:
    hint: Hint = {"data_type": "timestamp", "timezone": bool(getattr(t, "timezone", False))}
    precision = getattr(t, "precision", None) or getattr(t, "fsp", None)
    if precision is not None and 0 <= precision <= 6:
        hint["precision"] = precision
    return hint


def _utc_timestamp(t: Any) -> Hint:
    """MySQL's TIMESTAMP stores an instant (read in the session's UTC); DATETIME is wall-clock time."""
    return {**_timestamp(t), "timezone": True}


def _simple(data_type: str) -> Callable[[Any], Hint]:
    return lambda t: {"data_type": data_type}


# most specific first: Boolean before Integer, Float before Numeric, Text/String last of the texts
SQL_TYPES: tuple[tuple[type, Callable[[Any], Hint]], ...] = (
    (sa.Boolean, _simple("bool")),
    (mysql.TINYINT, _tinyint),
    (sa.SmallInteger, _integer(16)),
    (sa.BigInteger, _integer(None)),
    (sa.Integer, _integer(32)),
    (sa.Float, _simple("double")),
    (sa.Numeric, _decimal),
    (mysql.TIMESTAMP, _utc_timestamp),
    (sa.DateTime, _timestamp),
    (sa.Date, _simple("date")),
    (sa.Time, _simple("time")),
    (sa.Uuid, _simple("text")),
    (postgresql.UUID, _simple("text")),
    (sa.JSON, _simple("json")),
    (postgresql.JSONB, _simple("json")),
    (postgresql.JSON, _simple("json")),
    (sa.ARRAY, _simple("json")),
    (sa.LargeBinary, _simple("binary")),
    (sa._Binary, _simple("binary")),
    (sa.Enum, _simple("text")),
    (sa.String, _text),
)


# dialects whose every integer is 64 bits, whatever the declared name
WIDE_INTEGERS = frozenset({"sqlite"})


def column_hint(sql_type: Any, dialect: str | None = None) -> Hint | None:
    """The hint for a reflected column type, or None when pg_assets has no mapping for it.

    Examples:
        >>> column_hint(sa.Numeric(12, 2)), column_hint(sa.String(80))
        ({'data_type': 'decimal', 'precision': 12, 'scale': 2}, {'data_type': 'text', 'precision': 80})
        >>> column_hint(sa.DateTime(timezone=True)), column_hint(sa.NullType()) is None
        ({'data_type': 'timestamp', 'timezone': True}, True)
    """
    for sql_class, make in SQL_TYPES:
        if isinstance(sql_type, sql_class):
            hint = make(sql_type)
            if dialect in WIDE_INTEGERS and hint["data_type"] == "bigint":
                hint.pop("precision", None)
            return hint
    return None


def type_name(sql_type: Any, dialect: Any = None) -> str:
    """How the source spells a type, for messages and `discover` (`NUMERIC(12, 2)`)."""
    try:
        return str(sql_type.compile(dialect=dialect))
    except Exception:  # a type the generic compiler cannot render (NullType, dialect-only types)
        return type(sql_type).__name__


def keeps_reflected_types(sql_columns: Any, hints: Mapping[str, Any], dialect: str) -> bool:
    """Whether every column is loaded as its reflected type: each has a hint (`hints`, by
    normalised name, as `prepare` completed them) whose `data_type` is the reflected one.

    A user's hint that changes a type sends the values through the dict path, where a
    value the hinted type cannot hold gets a variant column. A `name` hint (a rename) is
    applied by the normalizer, so a renamed column keeps the fast paths out too.
    """
    for column in sql_columns:
        reflected, used = column_hint(column.type, dialect), hints.get(normalize_identifier(column.name))
        if reflected is None or used is None or used.data_type != reflected["data_type"]:
            return False
        if getattr(used, "name", None):
            return False
    return True


def hints_by_name(resource: Any) -> dict[str, Any]:
    """A resource's column hints keyed by normalised column name."""
    return {normalize_identifier(k): h for k, h in (resource.columns or {}).items()}
