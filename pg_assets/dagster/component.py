"""`PipelinesComponent`: a `pipelines.yaml` as a Dagster component, for projects organised with `dg`.

```yaml
# defs/ingest/defs.yaml
type: pg_assets.PipelinesComponent
attributes:
  spec: pipelines.yaml          # relative to this defs.yaml
  credentials_env: PG_URL       # optional: read in the run's process, never stored in definitions
```

The type is registered under the `dagster_dg_cli.registry_modules` entry point, so
`dg list components` lists it and `dg check yaml` validates the attributes.
"""

# No `from __future__ import annotations`: Dagster derives the YAML schema from the real field types.

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from pg_assets.dagster.factory import RESOURCE_KEY, definitions_from_spec
from pg_assets.dagster.resource import PgAssetsResource


@dataclass
class PipelinesComponent(dg.Component, dg.Resolvable):
    """Assets, checks, schedules and sensors for every source of a `pipelines.yaml`.

    Args:
        spec: path of the `pipelines.yaml`, relative to the `defs.yaml` that declares the component.
        pool: Dagster concurrency pool of the loads; default one per destination.
        resource_key: key of the bound `PgAssetsResource`.
        credentials_env: name of an env var holding a postgresql:// URI for the resource; unset: the
            spec's `destination.credentials`, `PG_ASSETS_CREDENTIALS`, secrets.toml, or the embedded Postgres.
        workers: loader threads per load; unset: the spec's `destination.workers`.
    """

    spec: str = "pipelines.yaml"
    pool: str | None = None
    resource_key: str = RESOURCE_KEY
    credentials_env: str | None = None
    workers: int | None = None

    def resource(self) -> PgAssetsResource:
        credentials = dg.EnvVar(self.credentials_env) if self.credentials_env else None
        return PgAssetsResource(credentials=credentials, workers=self.workers)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = Path(self.spec)
        if not path.is_absolute():
            path = context.path / path
        return definitions_from_spec(path, resource=self.resource(), pool=self.pool, resource_key=self.resource_key)
