"""`pg-assets materialize`: the project's whole asset graph, loads then dbt, in one command.

It runs the definitions `dagster dev` shows (the spec's loads and `dbt_project/`
beside it), in this process: every load of `pipelines.yaml`, then `dbt build` on
the loaded tables, with their asset checks. Then it says where the data is and how
to query it.

The run is recorded in the project's Dagster instance, the one `dagster dev` in the
project opens: `DAGSTER_HOME` when set, else the project's `dagster.yaml` (written
with `ProjectStorage` when missing; see `pg_assets.dagster.storage`).

Examples:
    $ pg-assets materialize --exclude chess
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from pg_assets import embedded
from pg_assets.errors import ConfigError

# INFO shows the loads' progress and dbt's own lines; Dagster's per-event lines are DEBUG.
_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
_SAMPLE_ROWS = 5


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a `materialize_project` run did, for the summary and the exit status."""

    success: bool
    seconds: float
    tables: dict[str, int | None]  # `schema.table` -> rows this run wrote (loaded, or built by dbt), in order
    checks_passed: int
    checks_failed: tuple[str, ...]  # `asset key: check` of failed ERROR-severity checks
    warned: tuple[str, ...]  # the same for WARN-severity checks
    failed_steps: tuple[str, ...]
    destination: Any  # ConnectionConfig of the database the loads and dbt wrote to
    result: Any = dataclasses.field(default=None, repr=False)  # the ExecuteInProcessResult, every event
    totals: dict[str, int | None] = dataclasses.field(default_factory=dict)  # rows in each table after the run
    project_dir: Path | None = None  # the spec's folder: whose embedded server `pg-assets embedded psql` opens


def _keys_of_sources(spec: Any, sources: Iterable[str]) -> list[dg.AssetKey]:
    """The asset keys of every table the named sources load, as the definitions name them."""
    from pg_assets import normalize_dataset_name
    from pg_assets.dagster.translator import asset_key, table_of

    keys: list[dg.AssetKey] = []
    for name in sources:
        if name not in spec.sources:
            known = ", ".join(f"`{s}`" for s in spec.sources)
            raise ConfigError(f"`--exclude {name}`: no source `{name}` in `{spec.path}`; the sources are {known}")
        source = spec.sources[name]
        dataset = normalize_dataset_name(source.dataset)
        keys += [asset_key(dataset, table_of(r, source.resolved(r))) for r in source.resources]
    return keys


def _instance(project_dir: Path) -> dg.DagsterInstance:
    from pg_assets.dagster.storage import ensure_project_config, project_instance

    if not os.environ.get("DAGSTER_HOME") and ensure_project_config(project_dir):
        print(f"wrote {project_dir / 'dagster.yaml'}: `dagster dev` here shows this run and the next ones",
              file=sys.stderr)
    return project_instance(project_dir)


def _assets(defs: dg.Definitions) -> list[Any]:
    return list(defs.assets or [])


def _table_name(event: dg.AssetMaterialization) -> str:
    name = event.metadata.get("dagster/table_name")
    if name is None:
        return ".".join(event.asset_key.path)  # keys are `[schema, table]`
    return ".".join(str(getattr(name, "value", name)).split(".")[-2:])  # `database.schema.table` -> `schema.table`


def _row_count(event: dg.AssetMaterialization, key: str = "dagster/row_count") -> int | None:
    value = event.metadata.get(key)
    return int(getattr(value, "value", value)) if value is not None else None


def _rows_written(event: dg.AssetMaterialization) -> int | None:
    """The rows this run wrote: a load's `rows_loaded`; a dbt model's row count, as a build rewrites it all."""
    loaded = _row_count(event, "rows_loaded")
    return loaded if loaded is not None else _row_count(event)


def materialize_project(spec_file: Path, *, exclude: Sequence[str] = ()) -> Outcome:
    """Materialize every asset of the project around `spec_file`, but the sources in `exclude`.

    The dbt project is `dbt_project/` next to the spec, as `dagster dev` finds it.
    """
    from pg_assets import runner
    from pg_assets.dagster.project import project_definitions
    from pg_assets.spec import load_spec

    spec_file = Path(spec_file).absolute()
    spec = load_spec(spec_file)
    skipped = _keys_of_sources(spec, exclude)
    defs = project_definitions(spec_file)
    selection = dg.AssetSelection.all() - dg.AssetSelection.assets(*skipped)
    started, cwd = time.monotonic(), Path.cwd()
    try:
        result = _execute(defs, selection, run_name(exclude), _instance(spec_file.parent))
    finally:
        os.chdir(cwd)  # the dbt step leaves the process in dbt_project/; the advice is relative to the caller's folder
    return _outcome(result, time.monotonic() - started, runner.credentials_for(spec, None), spec_file.parent)


def run_name(exclude: Sequence[str] = ()) -> str:
    """The job name the run shows under in the UI: `materialize_all`, `materialize_all_except_chess`.

    A name after what was run, where `dg.materialize` would show `__ephemeral_asset_job__`.
    Job names allow only ASCII letters, digits and underscores, so any other character of a source name
    becomes `_`.
    """
    name = "materialize_all" + ("_except_" + "_".join(exclude) if exclude else "")
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _execute(defs: dg.Definitions, selection: dg.AssetSelection, name: str,
             instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Run `selection` of `defs` in this process as a job called `name`, recorded in `instance`."""
    job = dg.define_asset_job(name, selection=selection, tags={"pg_assets/command": "materialize"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dagster's beta/preview notices say nothing to this user
        resolved = dg.Definitions(assets=_assets(defs), resources=defs.resources, jobs=[job]).get_job_def(name)
        return resolved.execute_in_process(instance=instance, run_config=_RUN_CONFIG, raise_on_error=False)


def _outcome(result: dg.ExecuteInProcessResult, seconds: float, destination: Any, project_dir: Path) -> Outcome:
    materialized = [e.materialization for e in result.get_asset_materialization_events()]
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]

    def named(evaluations: Iterable[Any]) -> tuple[str, ...]:
        return tuple(f"{e.asset_key.to_user_string()}: {e.check_name}" for e in evaluations)

    return Outcome(
        success=result.success,
        seconds=seconds,
        tables={_table_name(m): _rows_written(m) for m in materialized},
        checks_passed=len(evaluations) - len(failed),
        checks_failed=named(e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR),
        warned=named(e for e in failed if e.severity != dg.AssetCheckSeverity.ERROR),
        failed_steps=tuple(_step_failure(e) for e in result.all_events if e.is_step_failure),
        destination=destination,
        result=result,
        totals={_table_name(m): _row_count(m) for m in materialized},
        project_dir=project_dir,
    )


def _step_failure(event: Any) -> str:
    error = getattr(event.event_specific_data, "error", None)
    message = (error.message.strip().splitlines() or [""])[0] if error is not None else ""
    return f"{event.step_key}: {message}" if message else str(event.step_key)


def _psql_uri(config: Any) -> str:
    """A URI psql accepts; a password is left out (psql asks for it), never printed."""
    return dataclasses.replace(config, password=None).safe_uri()


def _sample_table(tables: Iterable[str]) -> str | None:
    """The last table built (a dbt mart, when there is dbt), to show a query on."""
    names = list(tables)
    return names[-1] if names else None


def _rows_line(name: str, width: int, outcome: Outcome) -> str:
    """`schema.table  N rows`, and the table's total when the run wrote fewer rows than it holds."""
    written, total = outcome.tables[name], outcome.totals.get(name)
    line = f"  {name:<{width}}  {'?' if written is None else f'{written:,}'} rows"
    return line + (f" ({total:,} in the table)" if total is not None and total != written else "")


def _on_project_server(outcome: Outcome) -> bool:
    """Whether the data went to the embedded server that `pg-assets embedded psql` opens in the project."""
    if outcome.project_dir is None:
        return False
    return outcome.destination == embedded.running_config(embedded.project_home(outcome.project_dir))


def _query_advice(outcome: Outcome) -> list[str]:
    """How to query the data, with the psql that comes with pg_assets (no psql of the user's own needed)."""
    sample = _sample_table(outcome.tables)
    query = f" -c 'select * from {sample} limit {_SAMPLE_ROWS}'" if sample else ""
    if _on_project_server(outcome):
        here = Path.cwd().absolute()
        folder = outcome.project_dir.absolute()
        cd = "" if folder == here else f"cd {shlex.quote(os.path.relpath(folder, here))} && "
        return [f"The data is in the project's embedded Postgres (`{outcome.destination.safe_uri()}`). Query it with "
                "the psql that comes with pg_assets:", f"  {cd}pg-assets embedded psql{query}"]
    psql, uri = shlex.quote(str(embedded.psql_path())), _psql_uri(outcome.destination)
    lines = [f"The data is in `{outcome.destination.safe_uri()}`. Query it with psql (this one comes with pg_assets):",
             f"  {psql} '{uri}'{query}"]
    if outcome.destination.password:
        lines.append("  (the password is not shown: psql asks for it, or set PGPASSWORD)")
    return lines


def report(outcome: Outcome) -> str:
    """The summary printed after a run: the rows it wrote per table, checks, and how to query the data."""
    width = max((len(name) for name in outcome.tables), default=0)
    lines = [f"materialized {len(outcome.tables)} tables in {outcome.seconds:.1f}s, rows written by this run:"]
    lines += [_rows_line(name, width, outcome) for name in outcome.tables]
    lines.append(f"checks: {outcome.checks_passed} passed, {len(outcome.checks_failed)} failed, "
                 f"{len(outcome.warned)} warned")
    lines += [f"  failed: {name}" for name in outcome.checks_failed]
    lines += [f"  warned: {name}" for name in outcome.warned]
    lines += [f"failed step {step}" for step in outcome.failed_steps]
    lines += ["", *_query_advice(outcome)]
    lines += ["", "See the same assets, their lineage and checks in the UI: `dagster dev`, then http://localhost:3000"]
    return "\n".join(lines)
