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

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from pg_assets.dagster.automation import partition_params
from pg_assets.connection import close_quietly
from pg_assets.dagster.checks import CheckPlan
from pg_assets.dagster.events import Event, previous_schemas, report
from pg_assets.dagster.asset_plan import AssetPlan, LoadPlan
from pg_assets.dagster.progress import ProgressBoard, run_logging_progress
from pg_assets.errors import PgAssetsError, TransientLoadError
from pg_assets.info import LoadInfo


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
            return runner.run_source(plan.spec, plan.source, names, partition=partition, progress=progress,
                                     credentials=self.credentials, **self.overrides())

        try:
            info = run_logging_progress(work, context.log, self.progress_interval_seconds)
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
                to_check: Mapping[dg.AssetKey, list[CheckPlan]], previous: Mapping[dg.AssetKey, Any]) -> Iterator[Event]:
        from pg_assets import runner

        # autocommit: read-only, and no snapshot held while Dagster stores the events
        conn = runner.connect(plan.spec, f"{plan.source}:report", credentials=self.credentials)
        try:
            with conn.cursor() as cursor:
                yield from report(cursor, plan, info, assets, to_check, previous)
        finally:
            close_quietly(conn)
