"""DDL: schemas, tables, columns, indexes, constraints. Changes are additive; drops are explicit."""

from __future__ import annotations

from collections.abc import Sequence

from pg_assets.sql.names import LEDGER_BATCH
from pg_assets.sql.quoting import ident, ident_list, qualified, text_literal


def create_schema(schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}"


def drop_schema_if_empty(schema: str) -> str:
    """DROP SCHEMA that fails (RESTRICT) rather than drop anything still in it."""
    return f"DROP SCHEMA IF EXISTS {ident(schema)} RESTRICT"


def create_schema_for(schema: str, role: str) -> str:
    """A schema owned by `role`: what a DBA runs so a role without the database's CREATE can load."""
    return f"CREATE SCHEMA IF NOT EXISTS {ident(schema)} AUTHORIZATION {ident(role)}"


def grant(privileges: Sequence[str], kind: str, obj: str, role: str) -> str:
    """`GRANT` of `privileges` on a `database`, `schema` or `table` (`obj` already quoted) to `role`."""
    on = {"database": "DATABASE ", "schema": "SCHEMA ", "table": "TABLE "}[kind]
    return f"GRANT {', '.join(privileges)} ON {on}{obj} TO {ident(role)}"


def alter_owner(table_ref: str, role: str) -> str:
    """Make `role` the owner of a table given already qualified."""
    return f"ALTER TABLE {table_ref} OWNER TO {ident(role)}"


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


def drop_columns(schema: str, table: str, columns: Sequence[str]) -> str:
    """One `ALTER TABLE` dropping `columns` (a catalog change: the rows are not rewritten)."""
    drops = ", ".join(f"DROP COLUMN {ident(c)}" for c in columns)
    return f"ALTER TABLE {qualified(schema, table)} {drops}"


def renew_not_null(schema: str, table: str, columns: Sequence[str]) -> str:
    """Drop and set again the NOT NULL of `columns`, in one statement.

    Postgres 18 names a NOT NULL constraint after its table when it is made
    (`<table>_<column>_not_null`); a table renamed into place gets its new name's.
    """
    alters = ", ".join(f"ALTER COLUMN {ident(c)} DROP NOT NULL, ALTER COLUMN {ident(c)} SET NOT NULL" for c in columns)
    return f"ALTER TABLE {qualified(schema, table)} {alters}"


def add_unique(schema: str, table: str, columns: Sequence[str]) -> str:
    """A UNIQUE constraint that Postgres names, as it names one written inline (`<table>_<column>_key`)."""
    return f"ALTER TABLE {qualified(schema, table)} ADD UNIQUE ({ident_list(columns)})"


def drop_table(schema: str, table: str, *, if_exists: bool = True) -> str:
    return f"DROP TABLE {'IF EXISTS ' if if_exists else ''}{qualified(schema, table)}"


def drop_view(schema: str, view: str, *, if_exists: bool = True) -> str:
    return f"DROP VIEW {'IF EXISTS ' if if_exists else ''}{qualified(schema, view)}"


def truncate(schema: str, tables: Sequence[str]) -> str:
    return "TRUNCATE TABLE " + ", ".join(qualified(schema, t) for t in tables)


def set_schema(schema: str, table: str, new_schema: str) -> str:
    return f"ALTER TABLE {qualified(schema, table)} SET SCHEMA {ident(new_schema)}"


def rename_table(schema: str, table: str, new_name: str) -> str:
    return f"ALTER TABLE {qualified(schema, table)} RENAME TO {ident(new_name)}"


def comment_on_table(schema: str, table: str, comment: str) -> str:
    return f"COMMENT ON TABLE {qualified(schema, table)} IS {text_literal(comment)}"


def create_ledger(schema: str, table: str) -> str:
    """The unlogged table of batches already staged: one `bigint` primary key."""
    return create_table(schema, table, [column_def(LEDGER_BATCH, "bigint PRIMARY KEY")], unlogged=True)


def create_database(name: str) -> str:
    return f"CREATE DATABASE {ident(name)}"


def analyze(table_ref: str) -> str:
    """ANALYZE a table given already qualified (`qualified` or a `names` constant)."""
    return f"ANALYZE {table_ref}"
