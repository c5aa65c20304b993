"""`defs` for `dagster dev`: the `pipelines.yaml` and `dbt_project/` of the working directory.

`[tool.dagster]` in the repository's pyproject points here, so `dagster dev` in the
repository root needs no set-up, and `dagster dev -m pg_assets.definitions` works in
any directory that holds a `pipelines.yaml`:

- the spec is `./pipelines.yaml`, or the file named by `PG_ASSETS_SPEC`;
- `dbt_project/dbt_project.yml` beside the spec, when present, adds the dbt models on top;
- with no credentials configured, loads go to the embedded Postgres.

The YAML is read when Dagster loads the definitions, so "Reload definitions" picks up
edits, and an invalid file fails the code location with the located validation text.
How a folder becomes definitions is `pg_assets.dagster.project`'s; this module only
builds `defs`.
"""

from __future__ import annotations

import dagster as dg

from pg_assets.dagster.project import for_dagster, load_definitions
from pg_assets.dagster.project import project_definitions  # noqa: F401 - public here since it was first offered
from pg_assets.errors import ConfigError

# Steps run in the run's own process: the loads use their own worker threads and dbt its own
# processes, so a process per step bought no parallelism, only seconds of start-up each.
EXECUTOR = dg.in_process_executor


@dg.definitions
def defs() -> dg.Definitions:
    try:
        return dg.Definitions.merge(load_definitions(), dg.Definitions(executor=EXECUTOR))
    except ConfigError as exc:
        # Re-raised bare and as Dagster's own kind of error: the UI's dialog and `dg check defs`
        # lead with the located validation text (see `DefinitionsSpecError`).
        raise for_dagster(exc) from None
