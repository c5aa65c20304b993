"""What a committed table looks like, read from the Postgres catalog.

Materialization metadata is read back from the database after the load commits,
never taken from what the load believed it wrote: the column schema comes from
`pg_attribute`, child tables included, and the row count is `count(*)` on the
qualified table while the planner believes it small. A table the planner puts at a
million rows or more is never scanned: its count is the planner's estimate plus the
rows this load wrote, and says it is an estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from pg_assets import sql
from pg_assets.dbt.sources import owning_root


def child_tables(cursor: Any, dataset: str, root: str, roots: Sequence[str] = ()) -> list[str]:
    """Child tables of `root` that exist in `dataset` (they carry `_dlt_parent_id`)."""
    cursor.execute(sql.CHILD_TABLES, (dataset, f"{root}__"))
    names = [row[0] for row in cursor.fetchall()]
    return [n for n in names if owning_root(n, {root, *roots}) == root]


EXACT_COUNT_BELOW = 1_000_000
"""Tables the planner estimates below this many rows (or has never analysed) are counted exactly."""


def row_count(cursor: Any, dataset: str, table: str) -> int:
    cursor.execute(sql.count_rows(dataset, table))
    return int(cursor.fetchone()[0])


def planner_estimate(cursor: Any, dataset: str, table: str) -> int | None:
    """The planner's row estimate, None for a table never analysed (or missing)."""
    cursor.execute(sql.ROW_ESTIMATE, (dataset, table))
    row = cursor.fetchone()
    return int(row[0]) if row is not None and row[0] >= 0 else None


def row_count_metadata(cursor: Any, dataset: str, table: str, loaded: int = 0) -> dict[str, Any]:
    """`dagster/row_count`, exact for small tables, else the estimate plus `loaded`, labelled.

    `loaded` is what this load inserted: the statistics predate it, as autovacuum has
    not analysed the table since the commit.
    """
    estimate = planner_estimate(cursor, dataset, table)
    if estimate is None or estimate < EXACT_COUNT_BELOW:
        return {"dagster/row_count": row_count(cursor, dataset, table), "row_count_estimated": False}
    return {"dagster/row_count": estimate + loaded, "row_count_estimated": True,
            "row_count_basis": "planner estimate (pg_class.reltuples) plus the rows of this load"}


def column_schemas(cursor: Any, dataset: str, tables: Sequence[str]) -> dict[str, dg.TableSchema]:
    """The column schema of each table that exists, in column order."""
    cursor.execute(sql.TABLE_COLUMNS, (dataset, list(tables)))
    columns: dict[str, list[dg.TableColumn]] = {}
    for table, name, type_, not_null, unique in cursor.fetchall():
        constraints = dg.TableColumnConstraints(nullable=not not_null, unique=bool(unique))
        columns.setdefault(table, []).append(dg.TableColumn(name, type_, constraints=constraints))
    return {t: dg.TableSchema(columns=cols) for t, cols in columns.items()}
