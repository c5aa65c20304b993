"""The dbt project on top of the loads: dagster-dbt assets in the same asset graph.

- Every dbt model is an asset and every dbt test an asset check; one op runs
  `dbt build`, streams its events and adds each model's row count and column
  schema, read from the Postgres catalog.
- dbt sources are named after datasets (see `pg_assets.dbt.sources`), so their
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

# No `from __future__ import annotations`: Dagster reads the op's `context` annotation
# at definition time and rejects it as a string.

import hashlib
import importlib.metadata
import json
import shutil
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.dbt_project import using_dagster_dev
from filelock import FileLock
from packaging import version

from pg_assets.connection import open_connection
from pg_assets.dagster import introspect
from pg_assets.dagster.factory import RESOURCE_KEY
from pg_assets.dbt.env import PASSWORD_VAR, PREFIX, dbt_environment, dbt_executable, profile_env, scoped_environ

DBT_RESOURCE_KEY = "dbt"
OP_NAME = "dbt_build"
_PREPARE_TIMEOUT_SECONDS = 300.0
# `dagster api execute_run|execute_step`: run workers and their step processes (which inherit the argv).
_RUN_COMMANDS = frozenset({"execute_run", "execute_step"})
_PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md", ".py"}

# Child-table sources carry their root table's key (`config.meta.dagster.asset_key`).
_SETTINGS = DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)


class SourceKeysTranslator(DagsterDbtTranslator):
    """dagster-dbt's translator, with each dbt source keyed as the pg_assets translator keyed its table.

    dbt sources are named after datasets, so their default keys are `[dataset, table]`; a
    `PgAssetsTranslator` may key the loads otherwise. Renaming the sources here moves
    every edge that starts at them (deps, column lineage, source checks) to the new keys.
    """

    def __init__(self, renamed: Mapping[dg.AssetKey, dg.AssetKey] | None = None) -> None:
        super().__init__(settings=_SETTINGS)
        self._renamed = dict(renamed or {})

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("source.") and spec.key in self._renamed:
            return spec.replace_attributes(key=self._renamed[spec.key])
        return spec


TRANSLATOR = SourceKeysTranslator()


class _DbtCliResource(DbtCliResource):
    """A `DbtCliResource` that knows the version of the dbt installed beside this Python.

    dagster-dbt asks `dbt --version` before every command, which costs a dbt start-up
    and two PyPI requests; the dbt next to `sys.executable` is this environment's
    dbt-core, whose version the package metadata says.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).parent != Path(sys.executable).parent:
            return super()._cli_version
        return version.parse(importlib.metadata.version("dbt-core"))


def dbt_resource(project: DbtProject | Path) -> DbtCliResource:
    """A `DbtCliResource` that runs the dbt installed next to this Python."""
    return _DbtCliResource(project_dir=project, dbt_executable=dbt_executable())


def prepare(project: DbtProject, database: str, config: Any = None) -> None:
    """`dbt deps` (when the project has packages) and `dbt parse` for `database`, one process at a time.

    `dagster dev` loads definitions in several processes at once; the first to get
    the lock parses and the others, finding a manifest newer than when they started
    waiting, skip the work. With `config` (the destination, when known without starting
    a server) dbt parses with the very profile the runs use, so their partial parse holds.
    """
    manifest = project.manifest_path
    seen = manifest.stat().st_mtime if manifest.exists() else 0.0
    manifest.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(manifest.with_name(".pg_assets-prepare.lock"))
    profile = dbt_environment(config) if config is not None else scoped_environ({f"{PREFIX}DBNAME": database})
    with lock.acquire(timeout=_PREPARE_TIMEOUT_SECONDS), profile:
        if manifest.exists() and manifest.stat().st_mtime > seen:
            return
        dbt = dbt_resource(project)
        if any((project.project_dir / name).exists() for name in ("packages.yml", "dependencies.yml")):
            dbt.cli(["deps", "--quiet"], target_path=project.target_path).wait()
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()
        _profile_mark(project).write_text(profile_fingerprint(config), encoding="utf-8")


def profile_fingerprint(config: Any) -> str:
    """What dbt's partial parse depends on in the profile: the connection, never the password."""
    if config is None:
        return ""
    env = {k: v for k, v in profile_env(config).items() if k != PASSWORD_VAR}
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()


def _profile_mark(project: DbtProject) -> Path:
    return project.manifest_path.with_name(".pg_assets-profile")


def _is_stale(project: DbtProject, config: Any = None) -> bool:
    """Whether the manifest is missing, older than a file of the project, or parsed for another profile.

    A stale manifest would make Dagster's view of the project disagree with what
    `dbt build` runs (a test added since is unknown to Dagster and fails the step); one
    parsed with another profile would cost every run a full parse.
    """
    if not project.manifest_path.exists():
        return True
    mark = _profile_mark(project)
    if config is not None and (not mark.is_file() or mark.read_text(encoding="utf-8") != profile_fingerprint(config)):
        return True
    built = project.manifest_path.stat().st_mtime
    skip = {"target", "logs", "dbt_packages"}
    return any(
        path.stat().st_mtime > built
        for path in project.project_dir.rglob("*")
        if path.suffix in _PROJECT_SUFFIXES and not skip.intersection(path.relative_to(project.project_dir).parts)
    )


def _loading_definitions() -> bool:
    """Whether this process loads definitions for `dagster dev` (not a step process running one asset).

    Step processes re-import the code location; they find the manifest the code server
    parsed and must not parse again (a `dbt parse` in each step cost seconds per step).
    """
    return using_dagster_dev() and not _RUN_COMMANDS.intersection(sys.argv)


def prepared_project(project_dir: Path, database: str | None = None, config: Any = None) -> DbtProject:
    """The `DbtProject` at `project_dir` for `database`, its manifest parsed in development or when stale.

    The manifest names every relation `database.schema.table` and Dagster reads table
    names from it, so each database the loads write to gets its own manifest, under
    `target/<database>/`. Under `dagster dev` the code server parses once per load of the
    definitions; step processes only parse a manifest that is missing or stale.

    Args:
        project_dir: the dbt project.
        database: the database the loads write to; default as the definitions of the
            loads tell it, without connecting.
        config: the destination's `ConnectionConfig` when known without connecting.
    """
    database = database or _known_destination(None).database
    config = config if config is not None else _known_config(None, Path(project_dir).absolute())
    project = DbtProject(project_dir=Path(project_dir).absolute(), target_path=Path("target") / database)
    if _loading_definitions() or _is_stale(project, config):
        prepare(project, database, config)
    return project


def _spec(spec_path: Path | None) -> Any:
    if spec_path is None or not spec_path.is_file():
        return None
    from pg_assets.spec import load_spec

    return load_spec(spec_path)


def _known_destination(spec: Any) -> Any:
    """The destination's database and pool as the loads' definitions see them, without connecting."""
    from pg_assets.dagster.translator import destination

    return destination(spec.destination.credentials if spec is not None else None)


def _known_config(spec: Any, project_dir: Path) -> Any:
    """The destination's connection if it is known without starting anything: parsed credentials,
    or the embedded server when it already runs; else None."""
    from pg_assets import embedded
    from pg_assets.credentials import configured_credentials
    from pg_assets.errors import CredentialsError

    base_dir = spec.project_dir if spec is not None else project_dir.parent
    try:
        configured = configured_credentials(spec.destination.credentials if spec is not None else None, base_dir)
    except CredentialsError:
        return None
    return configured if configured is not None else embedded.running_config(embedded.project_home(base_dir))


def _destination(context: dg.AssetExecutionContext, spec: Any, resource_key: str, project_dir: Path) -> Any:
    """Where the loads write: the pg_assets resource's credentials against the spec, like a load."""
    if spec is None:
        from pg_assets.destination import resolve_credentials

        return resolve_credentials(project_dir=project_dir.parent)
    from pg_assets import runner

    return runner.credentials_for(spec, getattr(context.resources, resource_key).credentials)


def build_dbt_assets(project: DbtProject, *, spec: Any = None, resource_key: str = RESOURCE_KEY,
                     pool: str | None = None, translator: Any = None) -> dg.AssetsDefinition:
    """The `@dbt_assets` of `project`: every model an asset, every test a check, run as one `dbt build`.

    Args:
        project: a prepared `DbtProject`.
        spec: the loaded `PipelinesSpec` whose loads dbt builds on; its destination and the
            `PgAssetsResource` bound at `resource_key` say which database. Without a spec,
            the destination is resolved from the environment (else the embedded server).
        resource_key: where the `PgAssetsResource` is bound.
        pool: the concurrency pool; default the destination's pool, shared with its loads.
        translator: the `PgAssetsTranslator` that keyed the loads; dbt sources take its keys.
    """
    # Resources through the context only: Dagster refuses a mix of decorator keys and resource parameters.
    needs = {DBT_RESOURCE_KEY, resource_key} if spec is not None else {DBT_RESOURCE_KEY}

    dbt_translator = SourceKeysTranslator(renamed_sources(spec, translator)) if translator is not None else TRANSLATOR

    @dbt_assets(manifest=project.manifest_path, project=project, dagster_dbt_translator=dbt_translator,
                name=OP_NAME, pool=pool or _known_destination(spec).pool, required_resource_keys=needs)
    def _dbt_build(context: AssetExecutionContext) -> Iterator[Any]:
        dbt: DbtCliResource = getattr(context.resources, DBT_RESOURCE_KEY)
        config = _destination(context, spec, resource_key, project.project_dir)
        context.log.info(f"dbt builds on `{config.safe_uri()}` with `{dbt.dbt_executable}`")
        with dbt_environment(config):
            invocation = dbt.cli(["build"], context=context, target_path=seeded_target(project, context.run_id))
            events = invocation.stream().fetch_column_metadata()
            yield from with_row_counts(events, invocation.manifest, config, context.log)

    return _dbt_build


def seeded_target(project: DbtProject, run_id: str) -> Path:
    """A fresh target folder for one `dbt build`, holding the prepared project's partial parse.

    dagster-dbt gives every invocation a new target folder, where dbt finds no saved
    manifest and parses the whole project again; a copy of `partial_parse.msgpack`
    (written by `prepare` with the profile the runs use) lets it parse only what changed.
    """
    relative = Path("target") / f"{OP_NAME}-{run_id[:8]}-{uuid.uuid4().hex[:7]}"
    folder = project.project_dir / relative
    folder.mkdir(parents=True, exist_ok=True)
    saved = project.project_dir / project.target_path / "partial_parse.msgpack"
    if saved.is_file():
        shutil.copy2(saved, folder / saved.name)
    return relative


def renamed_sources(spec: Any, translator: Any) -> dict[dg.AssetKey, dg.AssetKey]:
    """`[dataset, table]` (the dbt source's default key) -> the key `translator` gives that table."""
    if spec is None:
        return {}
    from pg_assets.dagster.translator import asset_key, asset_spec, destination, translator_data

    dest = destination(spec.destination.credentials, spec.project_dir)
    renamed = {}
    for source_name, source in spec.sources.items():
        for name in source.resources:
            props = translator_data(spec, source_name, name, dest)
            renamed[asset_key(props.dataset, props.table)] = asset_spec(props, translator)[0].key
    return renamed


def with_row_counts(events: Iterable[Any], manifest: Mapping[str, Any], config: Any, log: Any) -> Iterator[Any]:
    """dbt's events, each built model's with its row count (`introspect.row_count`: never a scan of a big table).

    Column schema and lineage come from dagster-dbt's `fetch_column_metadata` upstream of
    this. One connection for the whole build; a failed query is logged and the event kept.
    """
    conn = open_connection(config, "pg_assets:dbt:row-counts")
    try:
        with conn.cursor() as cursor:
            for event in events:
                node = _built_relation(event, manifest)
                if node is None:
                    yield event
                    continue
                try:
                    found = introspect.row_count_metadata(cursor, node["schema"], node["alias"])
                except psycopg2.Error as exc:
                    log.warning(f"no row count for `{node['schema']}.{node['alias']}`: {exc}")
                    found = {}
                yield event.with_metadata({**event.metadata, **found})
    finally:
        conn.close()


def _built_relation(event: Any, manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The manifest node of a model, seed or snapshot that `event` materialized, else None."""
    if not isinstance(event, (dg.Output, dg.AssetMaterialization)):
        return None
    unique_id = event.metadata.get("unique_id")
    node = manifest.get("nodes", {}).get(getattr(unique_id, "value", unique_id))
    relational = node is not None and node.get("resource_type") in {"model", "seed", "snapshot"}
    return node if relational and node["config"].get("materialized") != "ephemeral" else None


def build_dbt_definitions(project_dir: Path, *, spec_path: Path | None = None,
                          resource_key: str = RESOURCE_KEY, translator: Any = None) -> dg.Definitions:
    """The dbt models of `project_dir` as assets, to merge with the definitions of the loads.

    Args:
        project_dir: the directory with `dbt_project.yml` and `profiles.yml`.
        spec_path: the `pipelines.yaml` whose loads dbt builds on; default the spec that
            `pg_assets.dagster.project.spec_path` reads for the directory above the dbt project.
        resource_key: where the loads' `PgAssetsResource` is bound.
        translator: the `PgAssetsTranslator` the loads were built with; dbt lineage follows its keys.

    Examples:
        >>> import dagster as dg                                                         # doctest: +SKIP
        >>> from pg_assets.dagster import definitions_from_spec                          # doctest: +SKIP
        >>> defs = dg.Definitions.merge(definitions_from_spec("pipelines.yaml"),
        ...                             build_dbt_definitions(Path("dbt_project")))      # doctest: +SKIP
    """
    from pg_assets.dagster.project import spec_path as default_spec_path

    project_dir = Path(project_dir).absolute()
    spec = _spec(spec_path if spec_path is not None else default_spec_path(project_dir.parent))
    project = prepared_project(project_dir, _known_destination(spec).database, _known_config(spec, project_dir))
    assets = build_dbt_assets(project, spec=spec, resource_key=resource_key, translator=translator)
    return dg.Definitions(assets=[assets], resources={DBT_RESOURCE_KEY: dbt_resource(project)})
