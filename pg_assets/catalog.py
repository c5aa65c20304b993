"""What a dataset really holds: tables and columns from Postgres, hints from every stored schema.

A dataset may be written by dlt, by other pipelines and by people, so a load never
trusts only its own stored schema. It reads the catalog (`information_schema`), which
is the truth for which tables and columns exist and what their types and nullability
are, and the newest `_dlt_version` document of every schema name, which adds what the
catalog cannot say: parent tables and key hints. A table no document describes but
that has `_dlt_parent_id` is a child table; its parent is the longest table name its
own name extends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pg_assets import sql
from pg_assets import stored_schema as documents
from pg_assets.dependents import DependentView, TableAccess, read_access, read_views
from pg_assets.normalize.naming import PATH_SEPARATOR
from pg_assets.schema import from_postgres
from pg_assets.schema import PARENT_ID, Column, Table


@dataclass(frozen=True)
class CatalogColumn:
    """A column as Postgres has it, its type mapped back to a column type."""

    name: str
    data_type: str
    nullable: bool
    timezone: bool | None = None
    # a numeric column's declared precision and scale (None for an unconstrained `numeric`)
    precision: int | None = None
    scale: int | None = None


@dataclass(frozen=True)
class Catalog:
    """One reading of a dataset: its columns per table, and its newest stored schema documents."""

    dataset: str
    columns: Mapping[str, Mapping[str, CatalogColumn]]
    documents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    schema_exists: bool = False  # the schema may exist without tables (made by a DBA for the role)
    # views over the tables a swap replaces, read by `refreshed` when asked (see `dependents`)
    views: tuple[DependentView, ...] = ()
    access: tuple[TableAccess, ...] = ()  # owner, privileges and comment of those tables

    def has_system_tables(self) -> bool:
        return all(name in self.columns for name in documents.SYSTEM_TABLES)

    def document(self, schema_name: str) -> Mapping[str, Any] | None:
        """The newest stored document of `schema_name`, or None."""
        return self.documents.get(schema_name)

    def tables(self, own_schema: str) -> dict[str, Table]:
        """Every table that exists, with hints from `own_schema`'s document first, then the others'."""
        hinted: dict[str, Table] = {}
        for name in [own_schema, *sorted(n for n in self.documents if n != own_schema)]:
            if name in self.documents:
                for table_name, table in documents.tables_of(self.documents[name]).items():
                    hinted.setdefault(table_name, table)
        tables = {name: _with_catalog_columns(hinted.get(name) or Table(name), cols)
                  for name, cols in self.columns.items()}
        for table in tables.values():
            if table.parent is None and PARENT_ID in table.columns:
                table.parent = _parent_by_name(table.name, tables)
            elif table.parent is not None and table.parent not in tables:
                table.parent = _parent_by_name(table.name, tables)
        return tables

    def numeric_limits(self) -> dict[tuple[str, str], tuple[int | None, int | None]]:
        """(precision, scale) of every numeric column that exists, by (table, column)."""
        return {(t, c.name): (c.precision, c.scale) for t, cols in self.columns.items() for c in cols.values()
                if c.data_type in ("decimal", "wei")}

    def refreshed(self, cursor: Any, views_on: Sequence[str] = ()) -> "Catalog":
        """The same documents with the columns read again (inside the commit, after its locks), and
        the views over the tables `views_on` (those a swap replaces) and their owners and privileges."""
        return replace(self, columns=read_columns(cursor, self.dataset),
                       schema_exists=_schema_exists(cursor, self.dataset),
                       views=read_views(cursor, self.dataset, views_on),
                       access=read_access(cursor, self.dataset, views_on))


def _with_catalog_columns(table: Table, columns: Mapping[str, CatalogColumn]) -> Table:
    """Hints from the document, types and nullability from the catalog, which wins."""
    merged = {}
    for name, col in columns.items():
        hint = table.columns.get(name)
        merged[name] = (replace(hint, data_type=col.data_type, nullable=col.nullable) if hint else
                        Column(name, col.data_type, nullable=col.nullable, timezone=col.timezone))
    return replace(table, columns=merged)


def _parent_by_name(name: str, tables: Mapping[str, Table]) -> str | None:
    """The longest existing table name that `name` extends by `__<field>`."""
    head = name
    while PATH_SEPARATOR in head:
        head = head.rsplit(PATH_SEPARATOR, 1)[0]
        if head in tables:
            return head
    return None


def read_catalog(cursor: Any, dataset: str) -> Catalog:
    """Read the dataset's columns and the newest document of every stored schema.

    Raises:
        StoredSchemaError: a document cannot be read; nothing has been written yet.
    """
    columns = read_columns(cursor, dataset)
    docs = _read_documents(cursor, dataset) if documents.VERSION_TABLE in columns else {}
    return Catalog(dataset, columns, docs, _schema_exists(cursor, dataset))


def _schema_exists(cursor: Any, schema: str) -> bool:
    cursor.execute(sql.SCHEMA_EXISTS, (schema,))
    return bool(cursor.fetchone()[0])


def read_columns(cursor: Any, dataset: str) -> dict[str, dict[str, CatalogColumn]]:
    """Every table's columns in `dataset`, in ordinal order, mapped back to column types."""
    cursor.execute(sql.INFORMATION_SCHEMA_COLUMNS, (dataset,))
    out: dict[str, dict[str, CatalogColumn]] = {}
    for table, column, pg_type, nullable, precision, scale in cursor.fetchall():
        data_type = from_postgres(pg_type, precision, scale)
        timezone = False if pg_type == "timestamp without time zone" else None
        numeric = (precision, scale) if pg_type == "numeric" else (None, None)
        out.setdefault(table, {})[column] = CatalogColumn(column, data_type, nullable == "YES", timezone, *numeric)
    return out


def _read_documents(cursor: Any, dataset: str) -> dict[str, dict[str, Any]]:
    cursor.execute(sql.newest_per_group(
        dataset, documents.VERSION_TABLE, ["schema_name", "schema"], group="schema_name",
        newest_first=["inserted_at", "version"]))
    out = {}
    for schema_name, text in cursor.fetchall():
        doc = documents.decode(text, schema_name, dataset)
        documents.check_readable(doc, schema_name, dataset)
        out[schema_name] = doc
    return out
