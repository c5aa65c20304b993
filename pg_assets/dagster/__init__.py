"""The Dagster layer: the only part of pg_assets that imports Dagster.

- `PgAssetsResource` (run time): runs loads, streams progress, yields materializations and checks;
- `build_definitions` / `build_assets` / `definitions_from_spec` (definition time): a spec becomes
  one multi-asset per source, asset checks, schedules and an automation sensor;
  `project_definitions`: a spec and the `dbt_project/` beside it;
- `PgAssetsTranslator`: the naming policy (keys, groups, metadata), to subclass;
- `PipelinesComponent`: the same for `dg` projects (`type: pg_assets.PipelinesComponent`).

Examples:
    >>> from pg_assets.dagster import definitions_from_spec
    >>> defs = definitions_from_spec("pipelines.yaml")   # doctest: +SKIP
"""

from __future__ import annotations

# First: specs read by the Dagster layer take their cron rules from Dagster.
from pg_assets.dagster import cron as _cron  # noqa: F401  # isort: skip
from pg_assets.dagster.component import PipelinesComponent
from pg_assets.dagster.factory import RESOURCE_KEY, build_assets, build_definitions, definitions_from_spec
from pg_assets.dagster.project import project_definitions
from pg_assets.dagster.load_resource import PgAssetsResource
from pg_assets.dagster.translator import PgAssetsTranslator, PgAssetsTranslatorData

__all__ = [
    "RESOURCE_KEY",
    "PgAssetsResource",
    "PgAssetsTranslator",
    "PgAssetsTranslatorData",
    "PipelinesComponent",
    "build_assets",
    "build_definitions",
    "definitions_from_spec",
    "project_definitions",
]
