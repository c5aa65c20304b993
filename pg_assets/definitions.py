"""`defs` for `dagster dev`: the `pipelines.yaml` and `dbt_project/` of the working directory.

`[tool.dagster]` in the repository's pyproject points here, so `dagster dev` in the
repository root needs no set-up, and `dagster dev -m pg_assets.definitions` works in
any directory that holds a `pipelines.yaml`:

- the spec is `./pipelines.yaml`, or the file named by `PG_ASSETS_SPEC`;
- `./dbt_project/dbt_project.yml`, when present, adds the dbt models on top;
- with no credentials configured, loads go to the embedded Postgres.

The YAML is read when Dagster loads the definitions, so "Reload definitions" picks up
edits, and an invalid file fails the code location with the located validation text.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from pg_assets.errors import ConfigError

SPEC_ENV = "PG_ASSETS_SPEC"
DBT_PROJECT_DIR = "dbt_project"


def spec_path(directory: Path) -> Path:
    """`$PG_ASSETS_SPEC`, else `pipelines.yaml` in `directory`."""
    named = os.environ.get(SPEC_ENV)
    return Path(named).expanduser().absolute() if named else directory / "pipelines.yaml"


def _dbt_definitions(project_dir: Path, spec: Path) -> dg.Definitions | None:
    if not (project_dir / "dbt_project.yml").is_file():
        return None
    try:
        from pg_assets.dagster.dbt import build_dbt_definitions
    except ImportError:  # the dbt layer is optional: without it the loads still show
        return None
    return build_dbt_definitions(project_dir, spec_path=spec)


def _spec_definitions(path: Path) -> dg.Definitions:
    from pg_assets.dagster.factory import definitions_from_spec
    from pg_assets.errors import SpecError

    try:
        return definitions_from_spec(path)
    except SpecError as exc:
        # Re-raised bare so the UI shows the located validation text, not our call chain.
        raise SpecError(str(exc), exc.issues) from None


def load_definitions(directory: Path | None = None) -> dg.Definitions:
    """The definitions of `directory` (default: the working directory)."""
    directory = Path(directory).absolute() if directory is not None else Path.cwd()
    spec = spec_path(directory)
    # A spec named in the environment must exist; the default one is optional next to a dbt project.
    parts = [_spec_definitions(spec)] if spec.is_file() or os.environ.get(SPEC_ENV) else []
    dbt = _dbt_definitions(directory / DBT_PROJECT_DIR, spec)
    parts += [dbt] if dbt is not None else []
    if not parts:
        raise ConfigError(
            f"no `pipelines.yaml` in `{directory}`: run `dagster dev` where it is, "
            f"or point `{SPEC_ENV}` at it"
        )
    return dg.Definitions.merge(*parts)


@dg.definitions
def defs() -> dg.Definitions:
    return load_definitions()
