"""Naming policy: how a spec resource becomes an asset, decided from the YAML alone.

- key `[dataset, table]`, the names the engine writes (and dbt's default source key);
- group: the YAML `group`, else the source name;
- kinds `postgres` and the source kind; description, owners, tags from the YAML;
- `dagster/table_name` `<database>.<dataset>.<table>`, so dbt sources on the same table
  find their upstream even when their keys differ;
- `code_version`: the fingerprint of the resource's YAML, so editing it marks the asset changed;
- `dagster/storage_kind`, `dagster/uri` (the source, never a secret) and a code reference
  to the resource's line in `pipelines.yaml`.

`PgAssetsTranslator` is that policy as a class: subclass it to change any of it, and
every consumer of the keys (checks, schedules, dbt sources) follows.

Nothing here connects to the database. The database part of the table name comes
from configuration, as a load resolves it: the spec's `credentials`, else
`PG_ASSETS_CREDENTIALS`, else `.pg_assets/secrets.toml` beside the spec, else the
embedded server's database, `postgres`. When a
resource's `credentials` override points elsewhere, materializations carry the
database the load really used.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dagster as dg

from pg_assets.credentials import configured_credentials
from pg_assets.dagster.automation import automation_condition, freshness_policy
from pg_assets.dagster.checks import plan_checks
from pg_assets.dagster.asset_plan import AssetPlan
from pg_assets.errors import CredentialsError
from pg_assets.vocabulary import disposition_label
from pg_assets import normalize_dataset_name, normalize_identifier

EMBEDDED_DATABASE = "postgres"
DEFAULT_POOL = "pg_assets"


@dataclass(frozen=True)
class DestinationRef:
    """What definitions know of the destination without connecting: its database and pool."""

    database: str
    pool: str


def destination(credentials: Any = None, project_dir: Path | None = None) -> DestinationRef:
    """The database name and default pool for the spec's credentials, parsed, never connected.

    One pool per destination: `pg_assets` for the embedded server, else
    `pg_assets:<host>:<port>/<database>` (no user, no password).

    Examples:
        >>> destination("postgresql://loader:secret@db.internal/analytics")
        DestinationRef(database='analytics', pool='pg_assets:db.internal:5432/analytics')
    """
    try:
        config = configured_credentials(credentials, project_dir)
    except CredentialsError:
        config = None  # the run reports bad credentials, located
    if config is None:
        return DestinationRef(EMBEDDED_DATABASE, DEFAULT_POOL)
    return DestinationRef(config.database, f"{DEFAULT_POOL}:{config.host}:{config.port}/{config.database}")


def dagster_name(text: str) -> str:
    """A valid Dagster name (op, group, check): `[A-Za-z0-9_]` only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def table_of(name: str, resource: Any) -> str:
    """The table a resource loads into, as the engine names it."""
    return normalize_identifier(resource.table_name or name)


def asset_key(dataset: str, table: str) -> dg.AssetKey:
    return dg.AssetKey([dataset, table])


def _deps(resource: Any) -> list[dg.AssetKey]:
    return [dg.AssetKey.from_user_string(d) for d in resource.deps or []]


def hinted_schema(columns: Mapping[str, Any] | None) -> dg.TableSchema | None:
    """The columns the YAML declares, with their hinted types: what is known before any load."""
    if not columns:
        return None
    return dg.TableSchema(columns=[
        dg.TableColumn(hints.column(name), hints.data_type or "unknown",
                       constraints=dg.TableColumnConstraints(nullable=hints.nullable is not False,
                                                             unique=bool(hints.unique or hints.primary_key)))
        for name, hints in columns.items()
    ])


def _safe_url(url: str) -> str:
    """`url` without user, password and query string: where a secret could sit."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def source_uri(source: Any, settings: Any, name: str, base_dir: Path) -> str | None:
    """Where the rows come from, as a URI with no secret in it: the file (or glob) or the endpoint.

    Examples:
        >>> from pg_assets.sources.files import FilesResource
        >>> source_uri(None, FilesResource(path="data/*.csv"), "orders", Path("/srv/shop"))
        'file:///srv/shop/data/*.csv'
    """
    path = getattr(settings, "path", None)
    if isinstance(path, str) and path:
        if "://" in path:
            return _safe_url(path)
        local = Path(path).expanduser()
        return (local if local.is_absolute() else base_dir / local).as_uri()
    base_url = getattr(source, "base_url", None)
    if isinstance(base_url, str):
        from pg_assets.sources.rest_api import endpoint_of, join_url

        return _safe_url(join_url(_safe_url(base_url), endpoint_of(name, settings)))
    return None


def _code_references(spec: Any, source_name: str, name: str) -> dg.CodeReferencesMetadataValue | None:
    """A link to the resource's line in `pipelines.yaml` (the UI opens it in an editor)."""
    line = spec.line_of("sources", source_name, "resources", name) if spec is not None else None
    if line is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # beta since 1.7, the form dagster-dbt emits too
        return dg.CodeReferencesMetadataValue(code_references=[
            dg.LocalFileCodeReference(file_path=str(spec.path), line_number=line, label=f"pipelines.yaml: {name}")])


@dataclass(frozen=True)
class PgAssetsTranslatorData:
    """What a translator is told about one table a spec loads.

    Attributes:
        source: the source's name in `pipelines.yaml`.
        resource: the resource's name under the source.
        settings: the resource's resolved options (source options and `defaults` merged in).
        source_spec: the source as written (kind, dataset, kind options such as `base_url`).
        dataset: the Postgres schema the table lands in, as the engine names it.
        table: the table, as the engine names it.
        destination: the destination's database and pool (never its credentials).
        spec: the whole `PipelinesSpec`.
    """

    source: str
    resource: str
    settings: Any
    source_spec: Any
    dataset: str
    table: str
    destination: DestinationRef
    spec: Any = None


class PgAssetsTranslator:
    """How a table of `pipelines.yaml` becomes an asset; subclass it to change keys, groups, metadata.

    `get_asset_spec` is called once per table at definition time. Build on the default
    with `AssetSpec.replace_attributes` / `merge_attributes`; checks, dbt lineage and
    `pg-assets materialize` follow the key it returns.

    Examples:
        >>> class Prefixed(PgAssetsTranslator):
        ...     def get_asset_spec(self, props):
        ...         return super().get_asset_spec(props).replace_attributes(
        ...             key=dg.AssetKey(["warehouse", props.dataset, props.table]), group_name="raw")
    """

    def get_asset_spec(self, props: PgAssetsTranslatorData) -> dg.AssetSpec:
        """The default: key `[dataset, table]`, the YAML's group (else the source name) and options."""
        resource, source = props.settings, props.source_spec
        return dg.AssetSpec(
            key=asset_key(props.dataset, props.table),
            deps=_deps(resource),
            description=resource.description or source.description,
            metadata=default_metadata(props),
            group_name=resource.group or dagster_name(props.source),
            code_version=source.resource_fingerprint(props.resource),
            automation_condition=automation_condition(resource.automation),
            freshness_policy=freshness_policy(resource.freshness),
            owners=list(resource.owners or []),
            tags=dict(resource.tags or {}),
            kinds={"postgres", source.kind},
        )


def default_metadata(props: PgAssetsTranslatorData) -> dict[str, Any]:
    """Table name, storage kind, source URI, code reference, disposition and hinted columns."""
    resource = props.settings
    metadata: dict[str, Any] = {"dagster/table_name": f"{props.destination.database}.{props.dataset}.{props.table}",
                                "dagster/storage_kind": "postgres",
                                "write_disposition": disposition_label(resource.disposition, resource.strategy)}
    base_dir = props.spec.base_dir if props.spec is not None else Path.cwd()
    # a kind that knows its own source's address says it (sql_database); files and URLs are read off the settings
    uri = props.source_spec.asset_uri(props.resource) or source_uri(props.source_spec, resource, props.resource,
                                                                      base_dir)
    if uri is not None:
        metadata["dagster/uri"] = uri
    references = _code_references(props.spec, props.source, props.resource)
    if references is not None:
        metadata["dagster/code_references"] = references
    schema = hinted_schema(resource.columns)
    if schema is not None:
        metadata["dagster/column_schema"] = schema
    return metadata


def translator_data(spec: Any, source_name: str, name: str, dest: DestinationRef) -> PgAssetsTranslatorData:
    source = spec.sources[source_name]
    resource = source.resolved(name)
    return PgAssetsTranslatorData(
        source=source_name, resource=name, settings=resource, source_spec=source,
        dataset=normalize_dataset_name(source.dataset), table=table_of(name, resource), destination=dest, spec=spec)


def asset_spec(props: PgAssetsTranslatorData,
               translator: PgAssetsTranslator | None = None) -> tuple[dg.AssetSpec, AssetPlan]:
    """The translated `AssetSpec` of one spec resource and the plan the resource executes for it."""
    spec = (translator or PgAssetsTranslator()).get_asset_spec(props)
    if not isinstance(spec, dg.AssetSpec):
        raise TypeError(f"{type(translator).__name__}.get_asset_spec returned {type(spec).__name__}, "
                        f"not a dagster.AssetSpec, for `{props.source}.{props.resource}`")
    resource = props.settings
    checks = plan_checks(resource) if resource.checks else ()
    plan = AssetPlan(spec.key, props.resource, props.dataset, props.table, resource.disposition, resource.strategy,
                     checks)
    return spec, plan
