"""Naming policy: how a spec resource becomes an asset, decided from the YAML alone.

- key `[dataset, table]`, the names the engine writes (and dbt's default source key);
- group: the YAML `group`, else the source name;
- kinds `postgres` and the source kind; description, owners, tags from the YAML;
- `dagster/table_name` `<database>.<dataset>.<table>`, so dbt sources on the same table
  find their upstream even when their keys differ;
- `code_version`: the fingerprint of the resource's YAML, so editing it marks the asset changed.

Nothing here connects to the database. The database part of the table name comes
from configuration, as a load resolves it: the spec's `credentials`, else
`PG_ASSETS_CREDENTIALS`, else `.pg_assets/secrets.toml` beside the spec, else the
embedded server's database, `postgres`. When a
resource's `credentials` override points elsewhere, materializations carry the
database the load really used.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from pg_assets.credentials import ENV_VAR, SECRETS_KEY, resolve_credentials, secrets_path
from pg_assets.dagster.automation import automation_condition, freshness_policy
from pg_assets.dagster.checks import plan_checks
from pg_assets.dagster.plan import AssetPlan
from pg_assets.errors import CredentialsError
from pg_assets import normalize_dataset_name, normalize_identifier

EMBEDDED_DATABASE = "postgres"
DEFAULT_POOL = "pg_assets"


@dataclass(frozen=True)
class Destination:
    """What definitions know of the destination without connecting: its database and pool."""

    database: str
    pool: str


def _configured(credentials: Any, project_dir: Path | None) -> Any:
    """The first credentials configured anywhere, or None for the embedded server."""
    if credentials is not None:
        return credentials
    if os.environ.get(ENV_VAR, "").strip():
        return os.environ[ENV_VAR]
    path = secrets_path(project_dir)
    try:
        found: Any = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # the load reports the unreadable file; definitions stay loadable
    for key in SECRETS_KEY:
        found = found.get(key) if isinstance(found, Mapping) else None
    return found


def destination(credentials: Any = None, project_dir: Path | None = None) -> Destination:
    """The database name and default pool for the spec's credentials, parsed, never connected.

    One pool per destination: `pg_assets` for the embedded server, else
    `pg_assets:<host>:<port>/<database>` (no user, no password).

    Examples:
        >>> destination("postgresql://loader:secret@db.internal/analytics")
        Destination(database='analytics', pool='pg_assets:db.internal:5432/analytics')
    """
    configured = _configured(credentials, project_dir)
    if configured is None:
        return Destination(EMBEDDED_DATABASE, DEFAULT_POOL)
    try:
        config = resolve_credentials(configured)  # parses only: a non-None argument never starts a server
    except CredentialsError:
        return Destination(EMBEDDED_DATABASE, DEFAULT_POOL)  # the run reports bad credentials, located
    return Destination(config.database, f"{DEFAULT_POOL}:{config.host}:{config.port}/{config.database}")


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
        dg.TableColumn(normalize_identifier(name), hints.data_type or "unknown",
                       constraints=dg.TableColumnConstraints(nullable=hints.nullable is not False,
                                                             unique=bool(hints.unique or hints.primary_key)))
        for name, hints in columns.items()
    ])


def disposition(resource: Any) -> str:
    """`append`, `replace`, `merge`, or `<disposition>:<strategy>` when a strategy is set."""
    return f"{resource.disposition}:{resource.strategy}" if resource.strategy else resource.disposition


def _metadata(dest: Destination, dataset: str, table: str, resource: Any, uri: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"dagster/table_name": f"{dest.database}.{dataset}.{table}",
                                "write_disposition": disposition(resource)}
    if uri:
        metadata["dagster/uri"] = uri
    schema = hinted_schema(resource.columns)
    if schema is not None:
        metadata["dagster/column_schema"] = schema
    return metadata


def asset_spec(source_name: str, source: Any, name: str, dest: Destination) -> tuple[dg.AssetSpec, AssetPlan]:
    """The `AssetSpec` of one spec resource and the plan the resource executes for it."""
    resource = source.resolved(name)
    dataset, table = normalize_dataset_name(source.dataset), table_of(name, resource)
    key = asset_key(dataset, table)
    checks = plan_checks(resource) if resource.checks else ()
    spec = dg.AssetSpec(
        key=key,
        deps=_deps(resource),
        description=resource.description or source.description,
        metadata=_metadata(dest, dataset, table, resource, source.asset_uri(name)),
        group_name=resource.group or dagster_name(source_name),
        code_version=source.resource_fingerprint(name),
        automation_condition=automation_condition(resource.automation),
        freshness_policy=freshness_policy(resource.freshness),
        owners=list(resource.owners or []),
        tags=dict(resource.tags or {}),
        kinds={"postgres", source.kind},
    )
    plan = AssetPlan(key, name, dataset, table, disposition(resource), checks)
    return spec, plan

