"""Tables and columns, their dlt stored-schema form, and the additive DDL between what is stored and what was seen.

What a dataset holds is read by `catalog.py`; this module says what a table is and what
DDL makes it. Changes are additive only: new tables and new columns, never a drop, a
retype or a new NOT NULL on an existing column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pg_assets import sql
from pg_assets.sql.names import PARENT_ID, ROOT_ID, ROW_ID
from pg_assets.normalize.naming import shorten
from pg_assets.vocabulary import (DECIMAL_PRECISION, DECIMAL_SCALE, DEFAULT_MERGE_STRATEGY, ROOT_KEY_STRATEGIES,
                                  WEI_PRECISION, WEI_SCALE)

HINT_KEYS = ("data_type", "nullable", "unique", "primary_key", "merge_key", "precision", "scale", "timezone",
             "dedup_sort", "hard_delete")


# system columns (named once, in `sql.names`) and the dlt hints their names carry
_KEY_HINTS = {PARENT_ID: "parent_key", ROOT_ID: "root_key"}


@dataclass(frozen=True)
class Column:
    """One column and its hints (dlt's hint names)."""

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

    @property
    def not_null(self) -> bool:
        """Keys are NOT NULL, as dlt makes them."""
        return not self.nullable or self.primary_key or self.merge_key

    def ddl(self, *, added_later: bool = False, constraints: bool = True) -> str:
        """The column definition, with dlt's inline `UNIQUE` for `unique` hints when `constraints`.

        A column added to an existing table is always nullable: its old rows have no
        value, and NOT NULL would make the ALTER fail on any table with rows.
        """
        pg_type = postgres_type(self.data_type, self.precision, self.scale, self.timezone)
        if constraints and self.unique:
            pg_type += " UNIQUE"
        return sql.column_def(self.name, pg_type, nullable=added_later or not self.not_null)

    def to_dict(self) -> dict[str, Any]:
        """The column as dlt stores it: name, type, explicit nullability and the hints that are set."""
        out: dict[str, Any] = {"name": self.name, "data_type": self.data_type, "nullable": not self.not_null}
        for key in HINT_KEYS:
            value = getattr(self, key)
            if key not in out and value not in (None, False):
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Column":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "data_type": known.get("data_type") or "text",
                      "nullable": bool(known.get("nullable", True))})


@dataclass
class Table:
    """A table as this load knows it; columns only ever grow."""

    name: str
    parent: str | None = None
    write_disposition: str = "append"
    columns: dict[str, Column] = field(default_factory=dict)
    resource: str | None = None
    strategy: str | None = None  # merge strategy of a root table (scd2 keeps several versions of a key)
    strategy_given: bool = False  # the strategy was named, not taken as merge's default

    def to_dict(self) -> dict[str, Any]:
        """The table in dlt's stored-schema format.

        Root tables carry the write disposition and resource, child tables their parent.
        The merge strategy goes in `x-merge-strategy`, left out for delete-insert (dlt's
        default) unless it was named, as dlt writes the strategy it was given. The key columns carry dlt's `row_key` / `parent_key` / `root_key`
        hints; an scd2 root's `_dlt_id` is a row version, neither unique nor a row key.
        """
        out: dict[str, Any] = {"name": self.name,
                               "columns": {n: self._column_dict(c) for n, c in self.columns.items()}}
        if self.parent:
            out["parent"] = self.parent
        else:
            out["write_disposition"] = self.write_disposition
            out["resource"] = self.resource or self.name
            if self.write_disposition == "merge" and self.strategy is not None and (
                    self.strategy_given or self.strategy != DEFAULT_MERGE_STRATEGY):
                out["x-merge-strategy"] = self.strategy
        return out

    def _column_dict(self, column: Column) -> dict[str, Any]:
        out = column.to_dict()
        if column.name == ROW_ID and self.parent is None and self.strategy == "scd2":
            out.update({"unique": False, "row_key": False, "x-row-version": True})
        elif column.name == ROW_ID:
            out.update({"unique": True, "row_key": True})
        elif column.name in _KEY_HINTS:
            out[_KEY_HINTS[column.name]] = True
        return out

    def copy(self) -> "Table":
        """A copy whose columns can grow without touching this one."""
        return replace(self, columns=dict(self.columns))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> "Table":
        """A table from dlt's stored-schema format (or the older pg_assets one with `strategy`)."""
        columns = {n: Column.from_dict({**c, "name": n}) for n, c in (data.get("columns") or {}).items()}
        disposition = data.get("write_disposition") or "append"
        strategy = data.get("x-merge-strategy") or data.get("strategy")
        given = disposition == "merge" and strategy is not None
        if disposition == "merge" and strategy is None:
            strategy = DEFAULT_MERGE_STRATEGY
        return cls(name=name or data["name"], parent=data.get("parent"), columns=columns,
                   write_disposition=disposition, resource=data.get("resource"), strategy=strategy,
                   strategy_given=given)


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


def index_name(table: str, columns: Iterable[str], kind: str = "key") -> str:
    return shorten("_".join([table, *columns, kind]))


def ddl_for(schema: str, table: Table, added: list[Column], *, exists: bool, unlogged: bool = False,
            constraints: bool = True) -> list[str]:
    """CREATE TABLE for a new table, one ALTER TABLE for new columns of an existing one.

    With `constraints`, `unique` hints become inline UNIQUE constraints, as dlt makes them
    (Postgres names them `<table>_<column>_key`); staging tables are made without them.
    """
    if not added:
        return []
    defs = [c.ddl(added_later=exists, constraints=constraints) for c in added]
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
        if not t.parent or name not in stored or ROOT_ID not in t.columns:
            continue
        if ROOT_ID in stored[name].columns:
            continue
        out.append(sql.backfill_root_ids(schema, name, t.parent, parent_is_root=tables[t.parent].parent is None))
    return out


def needs_root_ids(tables: Mapping[str, Table], root: str, strategy: str | None, everywhere: bool = False) -> bool:
    """Whether the child rows under `root` carry `_dlt_root_id`, by dlt 1.31's rule.

    dlt adds it for the merge strategies that delete child rows by their root
    (`ROOT_KEY_STRATEGIES`; `strategy` is None for a table that does not merge), for any
    table whose child tables have it already, and for all with the stored setting
    `root_key_propagation: true` (`everywhere`). A table dlt made is so never given a
    column dlt would not add: an scd2 child table has none.
    """
    return everywhere or strategy in ROOT_KEY_STRATEGIES or any(
        ROOT_ID in tables[n].columns for n in chain(tables, root)[1:])


def merge_strategy(table: Table) -> str | None:
    """The merge strategy of a root table, None when it does not merge."""
    if table.write_disposition != "merge":
        return None
    return table.strategy or DEFAULT_MERGE_STRATEGY


def chain_up(tables: Mapping[str, Table], name: str) -> list[str]:
    """`name` and its parents up to the root."""
    out = [name]
    while tables[out[-1]].parent:
        out.append(tables[out[-1]].parent)  # type: ignore[arg-type]
    return out


def indexes(table: Table, create_indexes: bool) -> list[tuple[str, tuple[str, ...], bool]]:
    """(name, columns, unique) of the key indexes pg_assets adds beyond dlt's DDL.

    dlt's only index is the UNIQUE constraint of a `unique` hint (made inline with the
    column, see `Column.ddl`). Merge tables also get a UNIQUE index on the primary key
    (plain for scd2, which keeps several versions of a key), plain indexes on merge keys
    and on `_dlt_root_id` / `_dlt_parent_id`, so merges into large tables find their
    rows without scanning. None of them with `create_indexes: false`.
    """
    if not create_indexes or table.write_disposition != "merge":
        return []
    out = []
    cols = table.columns.values()
    pk = tuple(c.name for c in cols if c.primary_key)
    if pk:
        out.append((index_name(table.name, pk, "pk"), pk, table.strategy != "scd2"))
    mk = tuple(c.name for c in cols if c.merge_key)
    if mk:
        out.append((index_name(table.name, mk, "mk"), mk, False))
    out.extend((index_name(table.name, [n], "idx"), (n,), False)
               for n in (ROOT_ID, PARENT_ID) if n in table.columns)
    return out


def index_ddl(schema: str, table: Table, *, create_indexes: bool = True,
              only: Iterable[Column] | None = None) -> list[str]:
    """CREATE INDEX statements, limited to indexes over `only` columns when given."""
    wanted = None if only is None else {c.name for c in only}
    return [sql.create_index(schema, table.name, name, cols, unique=unique)
            for name, cols, unique in indexes(table, create_indexes)
            if wanted is None or wanted.intersection(cols)]


# ---- a column type's DDL, and a catalog type read back --------------------------------------------------------------------------------


def _int_ddl(precision: int | None) -> str:
    if precision is None or precision > 32:
        return "bigint"
    return "smallint" if precision <= 16 else "integer"


def _timestamp_ddl(precision: int | None, timezone: bool | None) -> str:
    p = "" if precision is None else f" ({precision})"
    return f"timestamp{p} {'without' if timezone is False else 'with'} time zone"


def postgres_type(data_type: str, precision: int | None = None, scale: int | None = None,
                  timezone: bool | None = None) -> str:
    """Postgres DDL for a column type and its modifiers.

    Examples:
        >>> postgres_type("decimal"), postgres_type("text", 50), postgres_type("timestamp", 3, timezone=False)
        ('numeric(38,9)', 'varchar(50)', 'timestamp (3) without time zone')
    """
    if data_type == "text":
        return "varchar" if precision is None else f"varchar({precision})"
    if data_type == "bigint":
        return _int_ddl(precision)
    if data_type == "timestamp":
        return _timestamp_ddl(precision, timezone)
    if data_type == "time":
        return "time without time zone" if precision is None else f"time ({precision}) without time zone"
    if data_type == "decimal":
        return f"numeric({precision or DECIMAL_PRECISION},{DECIMAL_SCALE if scale is None else scale})"
    if data_type == "wei":
        return f"numeric({WEI_PRECISION},{WEI_SCALE})"
    return _SIMPLE_DDL[data_type]


def numeric_size(column: Column) -> tuple[int, int]:
    """The (precision, scale) `postgres_type` gives a `decimal` or `wei` column."""
    if column.data_type == "wei":
        return WEI_PRECISION, WEI_SCALE
    return column.precision or DECIMAL_PRECISION, DECIMAL_SCALE if column.scale is None else column.scale


def stored_type(data_type: str, precision: int | None = None, scale: int | None = None,
                timezone: bool | None = None) -> str:
    """The type as Postgres names it once the column exists (`format_type`, `\\d`): `postgres_type`'s DDL
    with `varchar` spelled out, so a user reads what the catalog will say.

    Examples:
        >>> stored_type("text"), stored_type("text", 80), stored_type("timestamp", 3, timezone=True)
        ('character varying', 'character varying(80)', 'timestamp(3) with time zone')
    """
    ddl = postgres_type(data_type, precision, scale, timezone)
    return re.sub(r"^varchar\b", "character varying", ddl).replace(" (", "(")


_SIMPLE_DDL = {"double": "double precision", "bool": "boolean", "date": "date", "binary": "bytea", "json": "jsonb"}

# information_schema.columns.data_type -> column type, for tables already in the destination
FROM_POSTGRES: dict[str, str] = {
    "character varying": "text",
    "text": "text",
    "character": "text",
    "uuid": "text",
    "bigint": "bigint",
    "integer": "bigint",
    "smallint": "bigint",
    "double precision": "double",
    "real": "double",
    "boolean": "bool",
    "timestamp with time zone": "timestamp",
    "timestamp without time zone": "timestamp",
    "date": "date",
    "time without time zone": "time",
    "time with time zone": "time",
    "numeric": "decimal",
    "bytea": "binary",
    "jsonb": "json",
    "json": "json",
}


def from_postgres(pg_type: str, precision: int | None = None, scale: int | None = None) -> str:
    """The column type of a catalog column; `numeric(156,78)` reads back as `wei`, as dlt reads it.

    Examples:
        >>> from_postgres("numeric", 156, 78), from_postgres("numeric", 38, 9), from_postgres("inet")
        ('wei', 'decimal', 'text')
    """
    if pg_type == "numeric" and (precision, scale) == (WEI_PRECISION, WEI_SCALE):
        return "wei"
    return FROM_POSTGRES.get(pg_type, "text")
