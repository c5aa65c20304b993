"""`PgAssetsResource`: the engine as a Dagster resource (run time only).

The resource runs the selected resources of one source as one load, streams its
progress to the run log, and yields one `MaterializeResult` per selected table,
with metadata read back from the committed tables, then the selected checks.
A load that fails raises `dagster.Failure` and yields nothing: the engine commits
a load whole or not at all, so there is nothing to report.

Nothing is kept on local disk: state and schema are read from the destination and
concurrent runs of one source are serialised by the engine's lock, so runs are safe
on the multiprocess, Docker and Kubernetes executors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from pg_assets.dagster import checks, introspect
from pg_assets.dagster.automation import partition_params, partition_write
from pg_assets.dagster.plan import AssetPlan, LoadPlan
from pg_assets.errors import PgAssetsError, TransientLoadError
from pg_assets.info import LoadInfo, ProgressEvent

Event = dg.MaterializeResult | dg.AssetCheckResult
SCHEMA_PREFIX = "column_schema/"


class ProgressBoard:
    """The latest progress per table, written by loader threads, read by the op's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, ProgressEvent] = {}
        self._reported: dict[str, int] = {}

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            self._latest[event.table] = event

    def news(self) -> list[ProgressEvent]:
        """Tables whose row count moved since the last call."""
        with self._lock:
            fresh = [e for t, e in self._latest.items() if self._reported.get(t) != e.rows]
            self._reported.update({e.table: e.rows for e in fresh})
        return fresh


def _log_progress(log: Any, events: list[ProgressEvent]) -> None:
    for e in events:
        log.info(f"`{e.table}`: {e.rows:,} rows staged in {e.seconds:.1f}s ({e.rows_per_second:,.0f} rows/s)")


def _run_in_thread(work: Callable[[ProgressBoard], LoadInfo], log: Any, interval: float) -> LoadInfo:
    """Run `work` on a daemon thread and log its progress from this (the op's) thread.

    Daemon: if the run is terminated, the process exits without waiting for the load,
    and an uncommitted load leaves nothing visible.
    """
    board, outcome, done = ProgressBoard(), {}, threading.Event()

    def target() -> None:
        try:
            outcome["info"] = work(board)
        except BaseException as exc:  # handed to the op's thread, re-raised there
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="pg_assets-load", daemon=True).start()
    while not done.wait(interval):
        _log_progress(log, board.news())
    _log_progress(log, board.news())
    if "error" in outcome:
        raise outcome["error"]
    return outcome["info"]



def previous_schemas(instance: dg.DagsterInstance, asset: AssetPlan) -> dict[str, dg.TableSchema] | None:
    """Column schemas (root and child tables) of the asset's latest materialization, if it had one."""
    event = instance.get_latest_materialization_event(asset.key)
    materialization = event.asset_materialization if event is not None else None
    metadata = materialization.metadata if materialization is not None else {}
    root = metadata.get("dagster/column_schema")
    if root is None:
        return None
    children = {k.removeprefix(SCHEMA_PREFIX): v.schema for k, v in metadata.items() if k.startswith(SCHEMA_PREFIX)}
    return {asset.table: root.schema, **children}


def _rows_metadata(asset: AssetPlan, info: LoadInfo | None) -> dict[str, Any]:
    if info is None:
        return {}
    loads = info.tables_of(asset.table)
    return {
        "rows_loaded": loads[asset.table].rows if asset.table in loads else 0,
        "rows_loaded_by_table": dg.MetadataValue.json({t: tl.rows for t, tl in sorted(loads.items())}),
        "load_id": info.load_id,
        "started_at": info.started_at,
        "finished_at": info.finished_at,
        "duration_seconds": float(info.timings.get("total", 0.0)),
        "timings": dg.MetadataValue.json({k: round(v, 3) for k, v in info.timings.items()}),
        "destination": info.destination,
        "pipeline_name": info.pipeline_name,
    }


def materialization(cursor: Any, database: str, asset: AssetPlan, schemas: Mapping[str, dg.TableSchema],
                    info: LoadInfo, partitioned: bool) -> dg.MaterializeResult:
    """One table's materialization: totals read from the database, this load's numbers from `info`."""
    metadata: dict[str, Any] = {
        "dagster/table_name": f"{database}.{asset.dataset}.{asset.table}",
        "dagster/row_count": introspect.row_count(cursor, asset.dataset, asset.table),
        "write_disposition": asset.write_disposition,
        **_rows_metadata(asset, info),
    }
    if partitioned:
        metadata["dagster/partition_row_count"] = metadata["rows_loaded"]
    if asset.table in schemas:
        metadata["dagster/column_schema"] = schemas[asset.table]
    metadata.update({f"{SCHEMA_PREFIX}{t}": s for t, s in schemas.items() if t != asset.table})
    return dg.MaterializeResult(asset_key=asset.key, metadata=metadata, data_version=dg.DataVersion(info.load_id))


class PgAssetsResource(dg.ConfigurableResource):
    """Runs pg_assets loads for the assets built from a `pipelines.yaml`.

    Every field left unset falls back to the spec's `destination:` and then to the
    engine's defaults. Pass secrets as `dagster.EnvVar` so they are read in the run's
    process and never stored in the definitions.

    Examples:
        >>> import dagster as dg
        >>> resource = PgAssetsResource(credentials=dg.EnvVar("PG_ASSETS_CREDENTIALS"), workers=4)  # doctest: +SKIP
    """

    credentials: str | None = Field(
        default=None, description="A postgresql:// URI; unset: the spec's destination, `PG_ASSETS_CREDENTIALS`, "
        "`.pg_assets/secrets.toml`, else the embedded Postgres.")
    workers: int | None = Field(default=None, description="Loader threads, one connection each.")
    file_format: str | None = Field(default=None, description="`insert_values` or `copy`.")
    create_indexes: bool | None = Field(default=None, description="Create primary key and unique indexes.")
    replace_strategy: str | None = Field(default=None, description="How `replace` tables are swapped in.")
    progress_interval_seconds: float = Field(default=5.0, description="Seconds between progress lines in the log.")

    def overrides(self) -> dict[str, Any]:
        """Engine options set on this resource (unset ones are left to the spec)."""
        fields = ("workers", "file_format", "create_indexes", "replace_strategy")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}

    def load(self, context: dg.AssetExecutionContext, plan: LoadPlan) -> Iterator[Event]:
        """Load the selected tables of `plan` and yield their materializations, then their checks."""
        assets = plan.selected(context.selected_asset_keys)
        wanted = set(context.selected_asset_check_keys)
        to_check = {a.key: [c for c in a.checks if a.check_key(c) in wanted] for a in plan.assets}
        previous = {a.key: previous_schemas(context.instance, a) for a in plan.assets
                    if any(c.kind == "schema_change" for c in to_check[a.key])}
        info = self._load(context, plan, assets) if assets else None
        yield from self._report(plan, assets, info, to_check, previous)

    def _load(self, context: dg.AssetExecutionContext, plan: LoadPlan, assets: list[AssetPlan]) -> LoadInfo:
        from pg_assets import runner

        partition = partition_params(context) if plan.partitioned else None
        names = [a.resource for a in assets]
        where = f" partition {partition['partition_key']}" if partition else ""
        context.log.info(f"loading {', '.join(f'`{n}`' for n in names)} of source `{plan.source}`{where}")

        def work(progress: ProgressBoard) -> LoadInfo:
            # `runner.run_source`, with each partitioned resource written as its `partitions.mode` says.
            resources = runner.build_resources(plan.spec, plan.source, names, partition=partition)
            if partition is not None:
                source = plan.spec.sources[plan.source]
                resources = [partition_write(r, source.resolved(n).partitions) for r, n in zip(resources, names, strict=True)]
            pipeline = runner.pipeline_for(plan.spec, plan.source, credentials=self.credentials, **self.overrides())
            return pipeline.run(resources, progress=progress)

        try:
            info = _run_in_thread(work, context.log, self.progress_interval_seconds)
        except Exception as exc:  # the engine's errors and the source's own: the load committed nothing
            said = str(exc) if isinstance(exc, PgAssetsError) else f"{type(exc).__name__}: {exc}"
            raise dg.Failure(
                description=f"load of source `{plan.source}` failed, nothing was committed: {said}",
                metadata={"error": type(exc).__name__, "table": str(getattr(exc, "table", None) or "")},
                allow_retries=isinstance(exc, TransientLoadError),
            ) from exc
        context.log.info(str(info))
        return info

    def _report(self, plan: LoadPlan, assets: list[AssetPlan], info: LoadInfo | None,
                to_check: Mapping[dg.AssetKey, list[checks.CheckPlan]],
                previous: Mapping[dg.AssetKey, Any]) -> Iterator[Event]:
        from pg_assets import runner

        config = runner.credentials_for(plan.spec, self.credentials)
        conn = config.connect()
        try:
            with conn, conn.cursor() as cursor:
                involved = [a for a in plan.assets if a in assets or to_check[a.key]]
                schemas = {a.key: self._schemas(cursor, plan, a) for a in involved}
                for asset in assets:
                    yield materialization(cursor, info.database, asset, schemas[asset.key], info, plan.partitioned)
                for asset in involved:
                    yield from checks.evaluate(cursor, asset.key, asset.dataset, asset.table, to_check[asset.key],
                                               previous_schema=previous.get(asset.key),
                                               current_schema=schemas[asset.key])
        finally:
            conn.close()

    @staticmethod
    def _schemas(cursor: Any, plan: LoadPlan, asset: AssetPlan) -> dict[str, dg.TableSchema]:
        children = introspect.child_tables(cursor, asset.dataset, asset.table, plan.roots)
        return introspect.column_schemas(cursor, asset.dataset, [asset.table, *children])
