"""What the commit does per write disposition: staged rows -> final tables, as SQL.

Every statement here runs inside the load's single commit transaction, so each
strategy is all-or-nothing and readers never see a half-replaced table:

- `append`: insert the staged rows.
- `replace` / `truncate-and-insert`: TRUNCATE the table and its child tables, insert.
  Readers wait on the lock for the (short) commit instead of seeing an empty table.
- `replace` / `insert-from-staging`: DELETE instead of TRUNCATE: readers are never
  blocked and keep seeing the old rows until the commit.
- `replace` / `staging-optimized`: the staged tables become the final tables (drop,
  move, rename). Fastest for big tables; grants and views on the old table do not
  survive, and a dependent view stops it with a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pg_assets import sql
from pg_assets.normalize.rows import SEQ
from pg_assets.schema import Table, ddl_for, index_ddl
from pg_assets.stored_schema import SYSTEM_TABLES


@dataclass(frozen=True)
class Staged:
    """A staging table holding this load's rows for one final table."""

    schema: str
    name: str
    columns: tuple[str, ...]

    @property
    def ref(self) -> str:
        return sql.qualified(self.schema, self.name)

    @property
    def final_columns(self) -> tuple[str, ...]:
        """The columns that exist in the final table (not the staging-only sequence)."""
        return tuple(c for c in self.columns if c != SEQ.name)


def append_sql(dataset: str, table: str, staged: Staged) -> list[str]:
    return [sql.insert_select(dataset, table, staged.ref, staged.final_columns)]


def replace_sql(strategy: str, dataset: str, chain: Sequence[Table], staged: Mapping[str, Staged],
                existing: set[str], create_indexes: bool = True) -> list[str]:
    """Replace the root table and every child table below it, atomically."""
    if strategy == "staging-optimized":
        return _swap_sql(dataset, chain, staged, existing, create_indexes)
    present = [t.name for t in chain if t.name in existing or t.name in staged]
    if strategy == "insert-from-staging":
        out = [sql.delete_all(dataset, name) for name in reversed(present)]
    else:
        out = [sql.truncate(dataset, present)] if present else []
    for t in chain:
        if t.name in staged:
            out.extend(append_sql(dataset, t.name, staged[t.name]))
    return out


def _swap_sql(dataset: str, chain: Sequence[Table], staged: Mapping[str, Staged], existing: set[str],
              create_indexes: bool) -> list[str]:
    """The staged tables become the final ones; they were made without constraints, which are added
    here (named by Postgres, as inline UNIQUE constraints are), with the key indexes."""
    out: list[str] = []
    for t in chain:
        s = staged.get(t.name)
        if s is None:
            if t.name in existing:
                out.append(sql.truncate(dataset, [t.name]))
            continue
        out.append(sql.drop_table(dataset, t.name))
        out.append(sql.comment_on_table(s.schema, s.name, ""))
        out.append(sql.set_schema(s.schema, s.name, dataset))
        out.append(sql.rename_table(dataset, s.name, t.name))
        if create_indexes:
            out.extend(sql.add_unique(dataset, t.name, [c.name]) for c in t.columns.values()
                       if c.unique and c.name in s.final_columns)
        out.extend(index_ddl(dataset, t, create_indexes=create_indexes))
    return out


def system_tables_sql(dataset: str, create_indexes: bool) -> list[str]:
    """`_dlt_version`, `_dlt_loads` and `_dlt_pipeline_state`, with dlt's columns and constraints."""
    return [stmt for table in SYSTEM_TABLES.values()
            for stmt in ddl_for(dataset, table, list(table.columns.values()), exists=False,
                                constraints=create_indexes)]
