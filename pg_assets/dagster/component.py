"""`PipelinesComponent`: a `pipelines.yaml` as a Dagster component, for projects organised with `dg`.

```yaml
# defs/ingest/defs.yaml
type: pg_assets.PipelinesComponent
attributes:
  spec: pipelines.yaml          # relative to this defs.yaml
  credentials_env: PG_URL       # optional: read in the run's process, never stored in definitions
  translation:                  # optional: per-table key, group, tags... (like the dlt and Sling components)
    key: "warehouse/{{ props.dataset }}/{{ props.table }}"
    group_name: "{{ props.source }}"
```

`translation` is dg's templated asset-attributes mapping; its template variables are
`props` (a `PgAssetsTranslatorData`: `source`, `resource`, `settings`, `dataset`,
`table`, `destination`) and `spec` (the default `AssetSpec`).

The type is registered under the `dagster_dg_cli.registry_modules` entry point, so
`dg list components` lists it and `dg check yaml` validates the attributes.
`dg scaffold defs pg_assets.PipelinesComponent ingest` writes the `defs.yaml`, a
starter `pipelines.yaml` and the small Python source it loads.
"""

# No `from __future__ import annotations`: Dagster derives the YAML schema from the real field types.

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import dagster as dg
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver

from pg_assets.dagster.factory import RESOURCE_KEY, build_definitions
from pg_assets.dagster.load_resource import PgAssetsResource
from pg_assets.dagster.project import for_dagster
from pg_assets.dagster.storage import ensure_project_config
from pg_assets.dagster.translator import PgAssetsTranslator, PgAssetsTranslatorData
from pg_assets.errors import SpecError


_STARTER_SPEC = """\
# What to load into Postgres: one source, one table to start with. Materialize it in the
# UI, then add sources (kinds: python, files, rest_api) and resources here.
sources:
  {name}:
    kind: python
    dataset: {name}
    resources:
      numbers:
        function: {module}:numbers
        primary_key: id
        write_disposition: merge
"""

_STARTER_SOURCE = '''"""Starter rows for the scaffolded pipelines.yaml: replace them with your own source."""


def numbers():
    return [{"id": n, "square": n * n} for n in range(10)]
'''


class PipelinesScaffolder(dg.Scaffolder):
    """`dg scaffold defs pg_assets.PipelinesComponent <name>`: defs.yaml plus a working starter spec."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        dg.scaffold_component(request, {"spec": "pipelines.yaml"})
        if request.project_root is not None:
            _ignore_local_data(Path(request.project_root))
            # `dg dev` in the project root then keeps its runs (see `pg_assets.dagster.storage`).
            ensure_project_config(Path(request.project_root))
        spec = request.target_path / "pipelines.yaml"
        if spec.exists():
            return
        name = re.sub(r"[^a-z0-9_]", "_", request.target_path.name.lower()).strip("_") or "example"
        module = f"{name}_source"  # named after the folder: two scaffolds never share a module name
        (request.target_path / f"{module}.py").write_text(_STARTER_SOURCE)
        spec.write_text(_STARTER_SPEC.format(name=name, module=module))


def _ignore_local_data(project_root: Path) -> None:
    """Add `.pg_assets/` (the embedded server's data, secrets.toml) to the project's `.gitignore`."""
    path = project_root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(line.strip() in {".pg_assets", ".pg_assets/", "/.pg_assets/"} for line in text.splitlines()):
        return
    path.write_text(text + ("" if not text or text.endswith("\n") else "\n") + ".pg_assets/\n", encoding="utf-8")


@functools.cache
def _shared_resource(credentials_env: str | None, workers: int | None) -> PgAssetsResource:
    # One object per setting: Dagster merges the definitions of several components only
    # when a resource key maps to the very same object.
    credentials = dg.EnvVar(credentials_env) if credentials_env else None
    return PgAssetsResource(credentials=credentials, workers=workers)


class _TemplatedTranslator(PgAssetsTranslator):
    """The default translator, then the component's `translation` templates on top."""

    def __init__(self, translation: TranslationFn[PgAssetsTranslatorData]) -> None:
        self._translation = translation

    def get_asset_spec(self, props: PgAssetsTranslatorData) -> dg.AssetSpec:
        return self._translation(super().get_asset_spec(props), props)


@dg.scaffold_with(PipelinesScaffolder)
@dataclass
class PipelinesComponent(dg.Component, dg.Resolvable):
    """Assets, checks, schedules and sensors for every source of a `pipelines.yaml`.

    Args:
        spec: path of the `pipelines.yaml`, relative to the `defs.yaml` that declares the component.
        pool: Dagster concurrency pool of the loads; default one per destination.
        resource_key: key of the bound `PgAssetsResource`; components with different `credentials_env`
            or `workers` in one project need different keys.
        credentials_env: name of an env var holding a postgresql:// URI for the resource; unset: the
            spec's `destination.credentials`, `PG_ASSETS_CREDENTIALS`, secrets.toml, or the embedded Postgres.
        workers: loader threads per load; unset: the spec's `destination.workers`.
        translation: asset attributes templated per table (`{{ props.table }}`...), applied over the
            default spec, as in the dlt and Sling components.
    """

    spec: str = "pipelines.yaml"
    pool: str | None = None
    resource_key: str = RESOURCE_KEY
    credentials_env: str | None = None
    workers: int | None = None
    translation: Annotated[
        TranslationFn[PgAssetsTranslatorData] | None,
        TranslationFnResolver(template_vars_for_translation_fn=lambda props: {"props": props}),
    ] = None

    @property
    def translator(self) -> PgAssetsTranslator:
        return _TemplatedTranslator(self.translation) if self.translation is not None else PgAssetsTranslator()

    def resource(self) -> PgAssetsResource:
        return _shared_resource(self.credentials_env, self.workers)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from pg_assets.spec import load_spec

        path = Path(self.spec)
        if not path.is_absolute():
            path = context.path / path
        try:
            spec = load_spec(path)
        except SpecError as exc:
            # Re-raised bare and as Dagster's own kind: `dg check defs` and the UI lead with the located text.
            raise for_dagster(exc) from None
        # The embedded server and secrets.toml belong to the dg project, not to a package folder.
        spec.at_project(context.project_root)
        return build_definitions(spec, resource=self.resource(), pool=self.pool, resource_key=self.resource_key,
                                 translator=self.translator)
