"""DDL: schemas, tables, columns, indexes, constraints. Changes are additive; drops are explicit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

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


def drop_view(schema: str, view: str, *, if_exists: bool = True, materialized: bool = False) -> str:
    """DROP a view, never CASCADE: an object nobody knew of that depends on it stops the drop."""
    return f"DROP {_view_kind(materialized)} {'IF EXISTS ' if if_exists else ''}{qualified(schema, view)}"


RelationKind = Literal["TABLE", "VIEW", "MATERIALIZED VIEW"]


def _view_kind(materialized: bool) -> RelationKind:
    return "MATERIALIZED VIEW" if materialized else "VIEW"


def create_view(schema: str, view: str, query: str, *, materialized: bool = False,
                options: Sequence[tuple[str, str]] = (), with_data: bool = True) -> str:
    """A view (or materialized view) of `query`, with the storage or view `options` given as
    (name, value) pairs.

    `query` is a SELECT as the server itself printed it (`pg_get_viewdef` of the view being
    recreated), never text a user or a source wrote: it is the one piece of SQL taken as it is.
    A materialized view is filled from `query` at once unless `with_data` is False.
    """
    body = query.strip().rstrip(";")
    opts = f" WITH ({', '.join(f'{ident(k)} = {text_literal(v)}' for k, v in options)})" if options else ""
    data = ("" if not materialized else " WITH DATA" if with_data else " WITH NO DATA")
    return f"CREATE {_view_kind(materialized)} {qualified(schema, view)}{opts} AS\n{body}{data}"


def alter_owner(schema: str, relation: str, owner: str, *, kind: RelationKind = "VIEW") -> str:
    return f"ALTER {kind} {qualified(schema, relation)} OWNER TO {ident(owner)}"


# the privileges a table, view or materialized view can have (what `aclexplode` names), then a
# database's and a schema's: the only words that enter GRANT and REVOKE text
TABLE_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER",
                              "MAINTAIN"})
PRIVILEGES = TABLE_PRIVILEGES | {"CREATE", "USAGE", "TEMPORARY", "TEMP", "CONNECT"}
GrantTarget = Literal["DATABASE", "SCHEMA", "TABLE"]


def _privileges(privileges: Sequence[str]) -> str:
    unknown = [p for p in privileges if p not in PRIVILEGES]
    if unknown or not privileges:
        raise ValueError(f"not privileges: {list(privileges)!r}")
    return ", ".join(privileges)


def grant(privileges: Sequence[str], on: GrantTarget, target: str, grantee: str | None, *,
          grant_option: bool = False) -> str:
    """GRANT `privileges` on a database, schema or table (or view) `target`, already quoted or
    qualified; `grantee` None is PUBLIC."""
    to = "PUBLIC" if grantee is None else ident(grantee)
    return f"GRANT {_privileges(privileges)} ON {on} {target} TO {to}" + (" WITH GRANT OPTION" if grant_option else "")


def revoke(privileges: Sequence[str], on: GrantTarget, target: str, grantee: str | None) -> str:
    """REVOKE `privileges` on `target` (as for `grant`); `grantee` None is PUBLIC."""
    frm = "PUBLIC" if grantee is None else ident(grantee)
    return f"REVOKE {_privileges(privileges)} ON {on} {target} FROM {frm}"


def comment_on_view(schema: str, view: str, comment: str, *, materialized: bool = False) -> str:
    return f"COMMENT ON {_view_kind(materialized)} {qualified(schema, view)} IS {text_literal(comment)}"


def comment_on_column(schema: str, relation: str, column: str, comment: str) -> str:
    return f"COMMENT ON COLUMN {qualified(schema, relation)}.{ident(column)} IS {text_literal(comment)}"


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
