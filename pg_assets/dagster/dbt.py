"""The dbt project on top of the loads: dagster-dbt assets in the same asset graph.

- Every dbt model is an asset and every dbt test an asset check; one op runs
  `dbt build`, streams its events and adds row counts and column metadata.
- dbt sources are named after datasets (see `pg_assets.dbt_sources`), so their
  default keys `[dataset, table]` are the keys of the pg_assets assets that load them:
  lineage with no stub assets. A child table's source names its root's key, so
  several sources share one key (`enable_duplicate_source_asset_keys`).
- dbt builds on the database the loads write to: the `PgAssetsResource`'s
  credentials resolved against the spec, exactly as a load resolves them, handed
  to the profile through `PG_ASSETS_DBT_*` variables for the run.
- The manifest is parsed when definitions load under `dagster dev` (so edits show on
  "Reload definitions") and whenever it is missing or older than a project file;
  otherwise (a deployment that ships one) the existing manifest is used.
- The dbt executable is the one installed next to the running Python: nothing
  depends on `PATH` or an activated virtualenv.

Examples:
    >>> from pathlib import Path
    >>> defs = build_dbt_definitions(Path("dbt_project"))   # doctest: +SKIP
"""


from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.dbt_project import using_dagster_dev
from filelock import FileLock

from pg_assets.dagster.factory import RESOURCE_KEY
from pg_assets.dbt_env import dbt_environment, dbt_executable

DBT_RESOURCE_KEY = "dbt"
OP_NAME = "dbt_build"
_PREPARE_TIMEOUT_SECONDS = 300.0
_PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md", ".py"}

TRANSLATOR = DagsterDbtTranslator(
    # Child-table sources carry their root table's key (`config.meta.dagster.asset_key`).
    settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True),
)


def dbt_resource(project: DbtProject | Path) -> DbtCliResource:
    """A `DbtCliResource` that runs the dbt installed next to this Python."""
    return DbtCliResource(project_dir=project, dbt_executable=dbt_executable())


def prepare(project: DbtProject) -> None:
    """`dbt deps` (when the project has packages) and `dbt parse`, one process at a time.

    `dagster dev` loads definitions in several processes at once; the first to get
    the lock parses and the others, finding a manifest newer than when they started
    waiting, skip the work.
    """
    manifest = project.manifest_path
    seen = manifest.stat().st_mtime if manifest.exists() else 0.0
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(manifest.with_name(".pg_assets-prepare.lock")).acquire(timeout=_PREPARE_TIMEOUT_SECONDS):
        if manifest.exists() and manifest.stat().st_mtime > seen:
            return
        dbt = dbt_resource(project)
        if any((project.project_dir / name).exists() for name in ("packages.yml", "dependencies.yml")):
            dbt.cli(["deps", "--quiet"], target_path=project.target_path).wait()
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()


def _is_stale(project: DbtProject) -> bool:
    """Whether the manifest is missing or older than a file of the project.

    A stale manifest would make Dagster's view of the project disagree with what
    `dbt build` runs (a test added since is unknown to Dagster and fails the step).
    """
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    skip = {project.target_path.parts[0], "logs", "dbt_packages"}
    return any(
        path.stat().st_mtime > built
        for path in project.project_dir.rglob("*")
        if path.suffix in _PROJECT_SUFFIXES and not skip.intersection(path.relative_to(project.project_dir).parts)
    )


def prepared_project(project_dir: Path) -> DbtProject:
    """The `DbtProject` at `project_dir`, its manifest parsed in development or when stale."""
    project = DbtProject(project_dir=Path(project_dir).absolute())
    if using_dagster_dev() or _is_stale(project):
        prepare(project)
    return project


def _spec(spec_path: Path | None) -> Any:
    if spec_path is None or not spec_path.is_file():
        return None
    from pg_assets.spec import load_spec

    return load_spec(spec_path)


def _pool(spec: Any) -> str:
    from pg_assets.dagster.translator import destination

    return destination(spec.destination.credentials if spec is not None else None).pool


def _destination(context: dg.AssetExecutionContext, spec: Any, resource_key: str, project_dir: Path) -> Any:
    """Where the loads write: the pg_assets resource's credentials against the spec, like a load."""
    if spec is None:
        from pg_assets.credentials import resolve_credentials

        return resolve_credentials(project_dir=project_dir.parent)
    from pg_assets import runner

    return runner.credentials_for(spec, getattr(context.resources, resource_key).credentials)


def build_dbt_assets(project: DbtProject, *, spec: Any = None, resource_key: str = RESOURCE_KEY,
                     pool: str | None = None) -> dg.AssetsDefinition:
    """The `@dbt_assets` of `project`: every model an asset, every test a check, run as one `dbt build`.

    Args:
        project: a prepared `DbtProject`.
        spec: the loaded `PipelinesSpec` whose loads dbt builds on; its destination and the
            `PgAssetsResource` bound at `resource_key` say which database. Without a spec,
            the destination is resolved from the environment (else the embedded server).
        resource_key: where the `PgAssetsResource` is bound.
        pool: the concurrency pool; default the destination's pool, shared with its loads.
    """
    # Resources through the context only: Dagster refuses a mix of decorator keys and resource parameters.
    needs = {DBT_RESOURCE_KEY, resource_key} if spec is not None else {DBT_RESOURCE_KEY}

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=TRANSLATOR,
                name=OP_NAME, pool=pool or _pool(spec), required_resource_keys=needs)
    def _dbt_build(context: AssetExecutionContext) -> Iterator[Any]:
        dbt: DbtCliResource = getattr(context.resources, DBT_RESOURCE_KEY)
        config = _destination(context, spec, resource_key, project.project_dir)
        context.log.info(f"dbt builds on `{config.safe_uri()}` with `{dbt.dbt_executable}`")
        with dbt_environment(config):
            invocation = dbt.cli(["build"], context=context)
            yield from invocation.stream().fetch_row_counts().fetch_column_metadata()

    return _dbt_build


def build_dbt_definitions(project_dir: Path, *, spec_path: Path | None = None,
                          resource_key: str = RESOURCE_KEY) -> dg.Definitions:
    """The dbt models of `project_dir` as assets, to merge with the definitions of the loads.

    Args:
        project_dir: the directory with `dbt_project.yml` and `profiles.yml`.
        spec_path: the `pipelines.yaml` whose loads dbt builds on; default the spec that
            `pg_assets.definitions` would read for the directory above the dbt project.
        resource_key: where the loads' `PgAssetsResource` is bound.

    Examples:
        >>> import dagster as dg                                                         # doctest: +SKIP
        >>> from pg_assets.dagster import definitions_from_spec                          # doctest: +SKIP
        >>> defs = dg.Definitions.merge(definitions_from_spec("pipelines.yaml"),
        ...                             build_dbt_definitions(Path("dbt_project")))      # doctest: +SKIP
    """
    from pg_assets.definitions import spec_path as default_spec_path

    project_dir = Path(project_dir).absolute()
    project = prepared_project(project_dir)
    spec = _spec(spec_path if spec_path is not None else default_spec_path(project_dir.parent))
    assets = build_dbt_assets(project, spec=spec, resource_key=resource_key)
    return dg.Definitions(assets=[assets], resources={DBT_RESOURCE_KEY: dbt_resource(project)})
