"""Moving rows: INSERT, UPDATE, DELETE, COPY in and out, and the staging ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pg_assets.sql.names import LEDGER_BATCH, PARENT_ID, ROOT_ID, ROW_ID
from pg_assets.sql.quoting import ident, ident_list, literal, qualified


def delete_all(schema: str, table: str) -> str:
    return f"DELETE FROM {qualified(schema, table)}"


def insert_select(schema: str, table: str, source: str, columns: Sequence[str], where: str = "",
                  *, alias: str = "") -> str:
    """Copy rows from `source` (already qualified, named `alias` in `where`) into `schema.table`."""
    cols = ident_list(columns)
    named = f" AS {alias}" if alias else ""
    tail = f" WHERE {where}" if where else ""
    return f"INSERT INTO {qualified(schema, table)} ({cols}) SELECT {cols} FROM {source}{named}{tail}"


def copy_from_stdin(schema: str, table: str, columns: Sequence[str], *, binary: bool = False) -> str:
    options = " WITH (FORMAT binary)" if binary else ""
    return f"COPY {qualified(schema, table)} ({ident_list(columns)}) FROM STDIN{options}"


def insert_values_head(schema: str, table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {qualified(schema, table)} ({ident_list(columns)}) VALUES\n"


def insert_row(schema: str, table: str, values: dict[str, Any]) -> str:
    cols = ident_list(values)
    vals = ", ".join(literal(v) for v in values.values())
    return f"INSERT INTO {qualified(schema, table)} ({cols}) VALUES ({vals})"


def local_row_id(seed: str) -> str:
    """Row keys of `row_keys.local_random_bytes`' shape, made by the server in a `SELECT`.

    8 bytes from `md5(seed, run)` for each run of 65,536 rows, then the row's place in its
    run: a load's keys fill neighbouring pages of the `_dlt_id` index. `seed` is random
    per statement (`os.urandom`), so runs of different loads and tables share no prefix.
    """
    rn = "(row_number() OVER () - 1)"
    prefix = f"decode(substr(md5({literal(seed)} || ({rn} / 65536)::text), 1, 16), 'hex')"
    counter = f"int2send((({rn} % 65536) - 32768)::int2)"
    return f"substr(encode({prefix} || {counter}, 'base64'), 1, 14)"


def copy_select_out(schema: str | None, table: str, expressions: Sequence[str]) -> str:
    """`COPY (SELECT <expressions> FROM table) TO STDOUT`: a table's rows in COPY text."""
    source = qualified(schema, table) if schema else ident(table)
    return f"COPY (SELECT {', '.join(expressions)} FROM {source}) TO STDOUT"


def as_jsonb(column: str) -> str:
    """A column read as jsonb: how COPY out spells an array so that it loads as JSON."""
    return f"to_jsonb({ident(column)})"


def ledger_has(ledger: str) -> str:
    """Whether batch `%s` is in the ledger (already qualified): a row, or none."""
    return f"SELECT 1 FROM {ledger} WHERE {ident(LEDGER_BATCH)} = %s"


def ledger_add(ledger: str) -> str:
    """Record batch `%s` in the ledger (already qualified)."""
    return f"INSERT INTO {ledger} ({ident(LEDGER_BATCH)}) VALUES (%s)"


def backfill_root_ids(schema: str, table: str, parent: str, *, parent_is_root: bool) -> str:
    """Fill `_dlt_root_id` of a child table's old rows: a child of the root copies its
    `_dlt_parent_id`, a deeper one its parent row's root id."""
    child = qualified(schema, table)
    rid, pid, root = ident(ROW_ID), ident(PARENT_ID), ident(ROOT_ID)
    if parent_is_root:
        return f"UPDATE {child} SET {root} = {pid} WHERE {root} IS NULL"
    return (f"UPDATE {child} AS c SET {root} = p.{root} FROM {qualified(schema, parent)} AS p "
            f"WHERE c.{pid} = p.{rid} AND c.{root} IS NULL")
