"""SQL text, one small pure function per statement.

Identifiers only ever enter SQL through `ident`/`qualified`, and values only through
`literal` (or COPY), so quoting lives in one tested place. Builders return a single
statement and never execute anything.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
from collections.abc import Iterable, Sequence
from typing import Any


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
# and, in SQL only, a quoted -0.0: bare, Postgres reads it as a numeric, which has no negative zero
_NUMBER_LITERALS = {**{k: "NULL" if v is None else f"'{v}'" for k, v in NON_FINITE.items()}, "-0.0": "'-0'"}


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
        return text_literal(json.dumps(value, default=str, ensure_ascii=False))
    return text_literal(str(value))


# ---- statements -------------------------------------------------------------------------


def create_schema(schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}"


def column_def(name: str, ddl_type: str, *, nullable: bool = True) -> str:
    return f"{ident(name)} {ddl_type}" + ("" if nullable else " NOT NULL")


def create_table(schema: str, table: str, column_defs: Sequence[str], *, unlogged: bool = False) -> str:
    kind = "UNLOGGED TABLE" if unlogged else "TABLE"
    body = ",\n  ".join(column_defs)
    return f"CREATE {kind} IF NOT EXISTS {qualified(schema, table)} (\n  {body}\n)"


def add_columns(schema: str, table: str, column_defs: Sequence[str]) -> str:
    """One `ALTER TABLE` adding every new column: schema changes are additive only."""
    adds = ",\n  ".join(f"ADD COLUMN IF NOT EXISTS {d}" for d in column_defs)
    return f"ALTER TABLE {qualified(schema, table)}\n  {adds}"


def create_index(schema: str, table: str, index: str, columns: Sequence[str], *, unique: bool) -> str:
    kind = "UNIQUE INDEX" if unique else "INDEX"
    return f"CREATE {kind} IF NOT EXISTS {ident(index)} ON {qualified(schema, table)} ({ident_list(columns)})"


def add_unique(schema: str, table: str, columns: Sequence[str]) -> str:
    """A UNIQUE constraint that Postgres names, as it names one written inline (`<table>_<column>_key`)."""
    return f"ALTER TABLE {qualified(schema, table)} ADD UNIQUE ({ident_list(columns)})"


def drop_table(schema: str, table: str) -> str:
    return f"DROP TABLE IF EXISTS {qualified(schema, table)}"


def truncate(schema: str, tables: Sequence[str]) -> str:
    return "TRUNCATE TABLE " + ", ".join(qualified(schema, t) for t in tables)


def delete_all(schema: str, table: str) -> str:
    return f"DELETE FROM {qualified(schema, table)}"


def insert_select(schema: str, table: str, source: str, columns: Sequence[str], where: str = "") -> str:
    """Copy rows from `source` (already qualified) into `schema.table`."""
    cols = ident_list(columns)
    tail = f" WHERE {where}" if where else ""
    return f"INSERT INTO {qualified(schema, table)} ({cols}) SELECT {cols} FROM {source}{tail}"


def copy_from_stdin(schema: str, table: str, columns: Sequence[str], *, binary: bool = False) -> str:
    options = " (FORMAT binary)" if binary else ""
    return f"COPY {qualified(schema, table)} ({ident_list(columns)}) FROM STDIN{options}"


def insert_values_head(schema: str, table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {qualified(schema, table)} ({ident_list(columns)}) VALUES\n"


def set_schema(schema: str, table: str, new_schema: str) -> str:
    return f"ALTER TABLE {qualified(schema, table)} SET SCHEMA {ident(new_schema)}"


def rename_table(schema: str, table: str, new_name: str) -> str:
    return f"ALTER TABLE {qualified(schema, table)} RENAME TO {ident(new_name)}"


def comment_on_table(schema: str, table: str, comment: str) -> str:
    return f"COMMENT ON TABLE {qualified(schema, table)} IS {text_literal(comment)}"


def insert_row(schema: str, table: str, values: dict[str, Any]) -> str:
    cols = ident_list(values)
    vals = ", ".join(literal(v) for v in values.values())
    return f"INSERT INTO {qualified(schema, table)} ({cols}) VALUES ({vals})"


def newest_per_group(schema: str, table: str, columns: Sequence[str], *, group: str,
                     newest_first: Sequence[str]) -> str:
    """The newest row of each `group` value, newest by `newest_first` (descending, in order)."""
    order = ", ".join(f"{ident(c)} DESC" for c in newest_first)
    return (f"SELECT DISTINCT ON ({ident(group)}) {ident_list(columns)} FROM {qualified(schema, table)} "
            f"ORDER BY {ident(group)}, {order}")


def advisory_xact_lock(key: int, *, shared: bool = False) -> str:
    """Wait for a transaction-scoped advisory lock on a 64-bit key (released at COMMIT or ROLLBACK)."""
    kind = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    return f"SELECT {kind}({int(key)})"


class Expression(str):
    """SQL text that `literal` passes through unquoted: only for fixed expressions written in this package."""


NOW = Expression("clock_timestamp()")


# a row key like `row_keys.random_ids`: the base64 of 10 random bytes, 14 characters
RANDOM_ROW_ID = "substr(encode(decode(substr(md5(random()::text || random()::text), 1, 20), 'hex'), 'base64'), 1, 14)"


def copy_select_out(schema: str | None, table: str, expressions: Sequence[str]) -> str:
    """`COPY (SELECT <expressions> FROM table) TO STDOUT`: a table's rows in COPY text."""
    source = qualified(schema, table) if schema else ident(table)
    return f"COPY (SELECT {', '.join(expressions)} FROM {source}) TO STDOUT"
