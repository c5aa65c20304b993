"""What a load reports: `LoadInfo` when it commits, `ProgressEvent`s while it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TableLoad:
    """Rows one load wrote to one table.

    Attributes:
        table: the normalised table name in the dataset.
        root: the root table this table belongs to (itself for a root table).
        parent: the parent table of a child table, None for a root table.
        rows: rows written by this load.
        write_disposition: the disposition of the root resource.
    """

    table: str
    root: str
    parent: str | None
    rows: int
    write_disposition: str


@dataclass(frozen=True)
class LoadInfo:
    """The outcome of a committed load.

    Attributes:
        pipeline_name: the pipeline that ran.
        dataset: the Postgres schema the tables live in.
        database: the database name (for fully qualified table names).
        load_id: the id written to `_dlt_load_id` and `_dlt_loads`.
        tables: rows per table, root and child tables, keyed by table name.
        timings: seconds per phase: `extract_normalize_load` (reading, normalising and staging
            overlap, streaming), `commit` (the one transaction) and `total`.
        started_at, finished_at: ISO-8601 UTC timestamps.
        destination: the destination URI with the password hidden.
        warnings: what the load noticed and logged (wide key sets, boundary state growing).
        retries: transient faults (lost or refused connections, deadlocks) retried to success,
            in every phase; the budget is in `pg_assets.load.retry`.
        source_metadata: what the source kind reports about the run (a change stream's
            position and lag), shown as Dagster metadata on every table of it.
    """

    pipeline_name: str
    dataset: str
    database: str
    load_id: str
    tables: Mapping[str, TableLoad]
    timings: Mapping[str, float]
    started_at: str
    finished_at: str
    destination: str
    warnings: tuple[str, ...] = field(default=())
    retries: int = 0
    source_metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def row_counts(self) -> dict[str, int]:
        """Rows written per table by this load."""
        return {name: t.rows for name, t in self.tables.items()}

    def tables_of(self, root: str) -> dict[str, TableLoad]:
        """The root table `root` and its child tables."""
        return {name: t for name, t in self.tables.items() if t.root == root}

    def __str__(self) -> str:
        rows = sum(t.rows for t in self.tables.values())
        total = self.timings.get("total", 0.0)
        return (
            f"load {self.load_id} of pipeline `{self.pipeline_name}` into `{self.dataset}`: "
            f"{rows} rows in {len(self.tables)} tables, {total:.2f}s"
        )


# below these a rate measures start-up, not throughput (see `ProgressEvent.rate_is_telling`)
RATE_MIN_SECONDS = 1.0
RATE_MIN_ROWS = 10_000


@dataclass(frozen=True)
class ProgressEvent:
    """Rows staged so far for one table, sent while a load runs."""

    table: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def rate_is_telling(self) -> bool:
        """Whether rows/s says something about throughput: over a second and many rows.

        A few rows in a few seconds measure start-up (connecting, creating tables), so
        `16 rows staged in 4.0s (4 rows/s)` would mislead; such progress shows no rate.
        """
        return self.seconds >= RATE_MIN_SECONDS and self.rows >= RATE_MIN_ROWS
