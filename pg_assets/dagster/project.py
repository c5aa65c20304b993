"""A project's definitions: the `pipelines.yaml` of a folder and the `dbt_project/` beside it.

This is what `pg_assets.definitions` builds `defs` from, and what `pg-assets materialize`
runs and the project's storage reads: the spec is `./pipelines.yaml`, or the file named
by `PG_ASSETS_SPEC`; `dbt_project/dbt_project.yml` beside the spec, when present, adds
the dbt models on top. Nothing here connects to a database.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

from pg_assets.errors import ConfigError, SpecError

SPEC_ENV = "PG_ASSETS_SPEC"
DBT_PROJECT_DIR = "dbt_project"


def spec_path(directory: Path) -> Path:
    """`$PG_ASSETS_SPEC`, else `pipelines.yaml` in `directory`."""
    named = os.environ.get(SPEC_ENV)
    return Path(named).expanduser().absolute() if named else directory / "pipelines.yaml"


def _dbt_definitions(project_dir: Path, spec: Path, translator: Any) -> dg.Definitions | None:
    if not (project_dir / "dbt_project.yml").is_file():
        return None
    from pg_assets.dagster.dbt import build_dbt_definitions

    return build_dbt_definitions(project_dir, spec_path=spec, translator=translator)


def _spec_definitions(path: Path, translator: Any) -> dg.Definitions:
    from pg_assets.dagster.factory import definitions_from_spec

    return definitions_from_spec(path, translator=translator)


def project_definitions(spec: Path, *, spec_required: bool = True, translator: Any = None) -> dg.Definitions:
    """The loads of `spec` and the dbt project beside it (`dbt_project/` in the spec's folder).

    `translator` (a `PgAssetsTranslator`) keys the loads; the dbt sources follow its keys.
    """
    parts = [_spec_definitions(spec, translator)] if spec_required or spec.is_file() else []
    dbt = _dbt_definitions(spec.parent / DBT_PROJECT_DIR, spec, translator)
    parts += [dbt] if dbt is not None else []
    if not parts:
        raise ConfigError(
            f"no `{spec.name}` in `{spec.parent}`: run `dagster dev` where it is, or point `{SPEC_ENV}` at it. "
            "To start a project here, run `pg-assets init`"
        )
    return dg.Definitions.merge(*parts)


def load_definitions(directory: Path | None = None) -> dg.Definitions:
    """The definitions of `directory` (default: the working directory), or of `$PG_ASSETS_SPEC`'s folder."""
    directory = Path(directory).absolute() if directory is not None else Path.cwd()
    # A spec named in the environment must exist; the default one is optional next to a dbt project.
    return project_definitions(spec_path(directory), spec_required=bool(os.environ.get(SPEC_ENV)))


class DefinitionsSpecError(SpecError, dg.DagsterError):
    """A `SpecError` (or a project without a spec) met while Dagster loads the definitions.

    Dagster wraps any other exception raised while loading a code location in its
    `DagsterUserCodeLoadError`, whose "Error occurred during the loading of Dagster
    definitions in ..." then leads the UI's dialog and `dg check defs`, our located message
    only second, as its cause. A `DagsterError` passes its boundary unwrapped (as
    dagster-dbt's errors, `Failure`s, do), so the located message is the one shown first.
    It is still a `SpecError`, so callers catching that keep working.
    """


def for_dagster(exc: ConfigError) -> DefinitionsSpecError:
    """`exc` as the error to raise to Dagster, bare: `raise for_dagster(exc) from None`."""
    return DefinitionsSpecError(str(exc), getattr(exc, "issues", None))
