"""Tables and columns of a dataset, and the additive DDL between what is stored and what was seen.

The destination is the source of truth: at the start of a load the stored schema is read
back from `information_schema` (types) and `_dlt_version` (hints, parent tables). Changes
are additive only: new tables and new columns, never a drop, a retype or a new NOT NULL
on an existing column.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pg_assets import sql
from pg_assets.normalize.naming import shorten
from pg_assets.normalize.types import FROM_POSTGRES, postgres_type

HINT_KEYS = ("data_type", "nullable", "unique", "primary_key", "merge_key", "precision", "scale", "timezone",
             "dedup_sort", "hard_delete")


@dataclass(frozen=True)
class Column:
    """One column and its hints."""

    name: str
    data_type: str
    nullable: bool = True
    unique: bool = False
    primary_key: bool = False
    merge_key: bool = False
    precision: int | None = None
    scale: int | None = None
    timezone: bool | None = None
    dedup_sort: str | None = None
    hard_delete: bool = False

    def ddl(self, *, added_later: bool = False) -> str:
        """The column definition; keys are NOT NULL, as dlt makes them.

        A column added to an existing table is always nullable: its old rows have no
        value, and NOT NULL would make the ALTER fail on any table with rows.
        """
        pg_type = postgres_type(self.data_type, self.precision, self.scale, self.timezone)
        not_null = (not self.nullable or self.primary_key or self.merge_key) and not added_later
        return sql.column_def(self.name, pg_type, nullable=not not_null)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False) or k == "nullable"}


@dataclass
class Table:
    """A table as this load knows it; columns only ever grow."""

    name: str
    parent: str | None = None
    write_disposition: str = "append"
    columns: dict[str, Column] = field(default_factory=dict)
    resource: str | None = None
    strategy: str | None = None  # merge strategy of a root table (scd2 keeps several versions of a key)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "write_disposition": self.write_disposition,
                               "columns": {n: c.to_dict() for n, c in self.columns.items()}}
        for key in ("parent", "resource", "strategy"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def copy(self) -> "Table":
        """A copy whose columns can grow without touching this one."""
        return replace(self, columns=dict(self.columns))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Table":
        columns = {n: Column(**{k: v for k, v in c.items() if k in Column.__dataclass_fields__})
                   for n, c in data.get("columns", {}).items()}
        return cls(name=data["name"], parent=data.get("parent"), columns=columns,
                   write_disposition=data.get("write_disposition", "append"), resource=data.get("resource"),
                   strategy=data.get("strategy"))


def root_of(tables: Mapping[str, Table], name: str) -> str:
    """The root table of `name` (itself for a root table)."""
    while tables[name].parent:
        name = tables[name].parent  # type: ignore[assignment]
    return name


def chain(tables: Mapping[str, Table], root: str) -> list[str]:
    """`root` and every table below it, parents before children."""
    out = [root]
    for name in out:
        out.extend(t.name for t in tables.values() if t.parent == name)
    return out


def version_hash(tables: Mapping[str, Table]) -> str:
    """A stable hash of the schema content (dlt stores one per `_dlt_version` row)."""
    canonical = json.dumps({n: t.to_dict() for n, t in sorted(tables.items())}, sort_keys=True)
    return base64.b64encode(hashlib.sha256(canonical.encode()).digest()).decode()


def index_name(table: str, columns: Iterable[str], kind: str = "key") -> str:
    return shorten("_".join([table, *columns, kind]))


@dataclass(frozen=True)
class StoredColumn:
    name: str
    data_type: str
    nullable: bool
    timezone: bool | None = None


def read_columns(cursor: Any, schema: str) -> dict[str, dict[str, StoredColumn]]:
    """Every table's columns in `schema`, in ordinal order, mapped back to column types."""
    cursor.execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
        (schema,),
    )
    out: dict[str, dict[str, StoredColumn]] = {}
    for table, column, pg_type, nullable in cursor.fetchall():
        data_type = FROM_POSTGRES.get(pg_type, "text")
        timezone = False if pg_type == "timestamp without time zone" else None
        out.setdefault(table, {})[column] = StoredColumn(column, data_type, nullable == "YES", timezone)
    return out


def merge_stored(stored_json: Mapping[str, Any] | None, columns: Mapping[str, Mapping[str, StoredColumn]],
                 ) -> dict[str, Table]:
    """Tables as stored: hints and parents from `_dlt_version`, types from the catalog (which wins)."""
    hinted = {n: Table.from_dict(t) for n, t in (stored_json or {}).get("tables", {}).items()}
    tables: dict[str, Table] = {}
    for name, cols in columns.items():
        base = hinted.get(name, Table(name=name))
        merged = {}
        for cname, sc in cols.items():
            hint = base.columns.get(cname)
            col = Column(cname, sc.data_type, nullable=sc.nullable, timezone=sc.timezone)
            merged[cname] = replace(hint, data_type=sc.data_type) if hint else col
        tables[name] = replace(base, name=name, columns=merged)
    return tables


def new_columns(stored: Mapping[str, Table], seen: Table) -> list[Column]:
    """Columns of `seen` that the stored table lacks."""
    have = stored[seen.name].columns if seen.name in stored else {}
    return [c for n, c in seen.columns.items() if n not in have]


def ddl_for(schema: str, table: Table, added: list[Column], *, exists: bool, unlogged: bool = False) -> list[str]:
    """CREATE TABLE for a new table, one ALTER TABLE for new columns of an existing one."""
    if not added:
        return []
    defs = [c.ddl(added_later=exists) for c in added]
    if exists:
        return [sql.add_columns(schema, table.name, defs)]
    return [sql.create_table(schema, table.name, defs, unlogged=unlogged)]


def backfill_root_ids(schema: str, tables: Mapping[str, Table], stored: Mapping[str, Table]) -> list[str]:
    """Fill `_dlt_root_id` of child rows loaded before their root table became a merge table.

    Parents come before children, so each level copies the value its parent just got.
    """
    out = []
    for name in sorted(tables, key=lambda n: len(chain_up(tables, n))):
        t = tables[name]
        if not t.parent or name not in stored or "_dlt_root_id" not in t.columns:
            continue
        if "_dlt_root_id" in stored[name].columns:
            continue
        child = sql.qualified(schema, name)
        if tables[t.parent].parent is None:
            out.append(f'UPDATE {child} SET "_dlt_root_id" = "_dlt_parent_id" WHERE "_dlt_root_id" IS NULL')
        else:
            out.append(f'UPDATE {child} AS c SET "_dlt_root_id" = p."_dlt_root_id" FROM '
                       f'{sql.qualified(schema, t.parent)} AS p WHERE c."_dlt_parent_id" = p."_dlt_id" '
                       f'AND c."_dlt_root_id" IS NULL')
    return out


def chain_up(tables: Mapping[str, Table], name: str) -> list[str]:
    """`name` and its parents up to the root."""
    out = [name]
    while tables[out[-1]].parent:
        out.append(tables[out[-1]].parent)  # type: ignore[arg-type]
    return out


def indexes(table: Table, create_indexes: bool) -> list[tuple[str, tuple[str, ...], bool]]:
    """(name, columns, unique) of every index the table should have.

    `unique` hints get UNIQUE indexes. Merge tables also get a UNIQUE index on the
    primary key (plain for scd2, which keeps several versions of a key), plain indexes
    on merge keys and on `_dlt_root_id` / `_dlt_parent_id`, so merges into large tables
    find their rows without scanning.
    """
    out = [(index_name(table.name, [c.name]), (c.name,), True) for c in table.columns.values() if c.unique]
    if not create_indexes or table.write_disposition != "merge":
        return out
    cols = table.columns.values()
    pk = tuple(c.name for c in cols if c.primary_key)
    if pk:
        out.append((index_name(table.name, pk, "pk"), pk, table.strategy != "scd2"))
    mk = tuple(c.name for c in cols if c.merge_key)
    if mk:
        out.append((index_name(table.name, mk, "mk"), mk, False))
    out.extend((index_name(table.name, [n], "idx"), (n,), False)
               for n in ("_dlt_root_id", "_dlt_parent_id") if n in table.columns)
    return out


def index_ddl(schema: str, table: Table, *, create_indexes: bool = True,
              only: Iterable[Column] | None = None) -> list[str]:
    """CREATE INDEX statements, limited to indexes over `only` columns when given."""
    wanted = None if only is None else {c.name for c in only}
    return [sql.create_index(schema, table.name, name, cols, unique=unique)
            for name, cols, unique in indexes(table, create_indexes)
            if wanted is None or wanted.intersection(cols)]
