"""What the commit does per write disposition: staged rows -> final tables, as SQL.

Every statement here runs inside the load's single commit transaction, so each
strategy is all-or-nothing and readers never see a half-replaced table:

- `append`: insert the staged rows. A table that did not exist when the load began, and
  still does not at the commit, takes the staged table itself instead (see `adopt_sql`):
  the rows are written once, and the key indexes are built after them, in one sort.
- `replace` / `truncate-and-insert`: TRUNCATE the table and its child tables, insert.
  Readers wait on the lock for the (short) commit instead of seeing an empty table.
- `replace` / `insert-from-staging`: DELETE instead of TRUNCATE: readers are never
  blocked and keep seeing the old rows until the commit.
- `replace` / `staging-optimized`: the staged tables become the final tables (drop,
  move, rename). Fastest for big tables. The new tables get the old ones' owner,
  privileges and comment, and the views over them are dropped and created again around
  the swap (`dependents`), in the same transaction; what cannot be created again refuses
  the load before staging.
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
    # WAL-logged, so it can become a final table in the commit instead of being copied into one
    logged: bool = False

    @property
    def ref(self) -> str:
        return sql.qualified(self.schema, self.name)

    @property
    def final_columns(self) -> tuple[str, ...]:
        """The columns that exist in the final table (not the staging-only sequence)."""
        return tuple(c for c in self.columns if c != SEQ.name)


def append_sql(dataset: str, table: str, staged: Staged) -> list[str]:
    return [sql.insert_select(dataset, table, staged.ref, staged.final_columns)]


def append_or_adopt_sql(dataset: str, table: Table, staged: Staged, existing: set[str],
                        create_indexes: bool) -> list[str]:
    """Append the staged rows; into a table new in this commit, by adopting the staged table."""
    if staged.logged and table.name not in existing:
        return adopt_sql(dataset, table, staged, create_indexes)
    return append_sql(dataset, table.name, staged)


def adopt_sql(dataset: str, table: Table, staged: Staged, create_indexes: bool) -> list[str]:
    """The staged table becomes `table`: it replaces the (empty or old) final table of that name.

    Moving a table is a catalog change, so the rows are written once instead of twice, and
    its UNIQUE constraints (named by Postgres as inline ones are, `<table>_<column>_key`)
    and key indexes are built over the finished rows rather than row by row. Columns the
    final table has and no staged row brought are added, nullable, as to any table with rows.
    """
    ds, name = dataset, table.name
    out = [sql.drop_table(ds, name), sql.comment_on_table(staged.schema, staged.name, ""),
           sql.set_schema(staged.schema, staged.name, ds), sql.rename_table(ds, staged.name, name)]
    if SEQ.name in staged.columns:
        out.append(sql.drop_columns(ds, name, [SEQ.name]))
    not_null = [c.name for c in table.columns.values() if c.not_null and c.name in staged.columns]
    if not_null:
        out.append(sql.renew_not_null(ds, name, not_null))
    out.extend(ddl_for(ds, table, [c for c in table.columns.values() if c.name not in staged.columns],
                       exists=True, constraints=False))
    if create_indexes:
        out.extend(sql.add_unique(ds, name, [c.name]) for c in table.columns.values() if c.unique)
    out.extend(index_ddl(ds, table, create_indexes=create_indexes))
    return out


def replace_sql(strategy: str, dataset: str, chain: Sequence[Table], staged: Mapping[str, Staged],
                existing: set[str], create_indexes: bool = True) -> list[str]:
    """Replace the root table and every child table below it, atomically."""
    if strategy == "staging-optimized":
        return _swap_sql(dataset, chain, staged, existing, create_indexes)
    present = [t.name for t in chain if t.name in existing]
    if strategy == "insert-from-staging":
        out = [sql.delete_all(dataset, name) for name in reversed(present)]
    else:
        out = [sql.truncate(dataset, present)] if present else []
    for t in chain:
        if t.name in staged:
            out.extend(append_or_adopt_sql(dataset, t, staged[t.name], existing, create_indexes))
    return out


def _swap_sql(dataset: str, chain: Sequence[Table], staged: Mapping[str, Staged], existing: set[str],
              create_indexes: bool) -> list[str]:
    """Every staged table of the chain becomes its final table; final tables with no staged rows are emptied."""
    out: list[str] = []
    for t in chain:
        s = staged.get(t.name)
        if s is not None:
            out.extend(adopt_sql(dataset, t, s, create_indexes))
        elif t.name in existing:
            out.append(sql.truncate(dataset, [t.name]))
    return out


def system_tables_sql(dataset: str, create_indexes: bool,
                      names: Sequence[str] = tuple(SYSTEM_TABLES)) -> list[str]:
    """`_dlt_version`, `_dlt_loads` and `_dlt_pipeline_state` (or those of `names`), with dlt's
    columns and constraints."""
    return [stmt for table in map(SYSTEM_TABLES.__getitem__, names)
            for stmt in ddl_for(dataset, table, list(table.columns.values()), exists=False,
                                constraints=create_indexes)]
