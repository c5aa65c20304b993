"""pg_assets: load data into PostgreSQL the way dlt's Postgres destination does, atomically.

The engine is plain Python and never imports Dagster; the Dagster layer lives in
`pg_assets.dagster` and is reached lazily (`pg_assets.PipelinesComponent`).

Examples:
    >>> import pg_assets
    >>> p = pg_assets.pipeline("chess", dataset="chess_data")        # doctest: +SKIP
    >>> info = p.run([{"id": 1, "name": "magnus"}], table_name="players")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from pg_assets.errors import (
    ConfigError,
    CredentialsError,
    DependentObjectsError,
    EmbeddedServerError,
    LoadError,
    LockTimeoutError,
    PgAssetsError,
    PrivilegeError,
    SchemaContractError,
    SpecError,
    StoredSchemaError,
    TerminalLoadError,
    TransientLoadError,
    UnsuitableDestinationError,
)
from pg_assets.connection import ConnectionConfig
from pg_assets.destination import resolve_credentials
from pg_assets.incremental import Incremental
from pg_assets.normalize.naming import normalize_dataset_name, normalize_identifier
from pg_assets.info import LoadInfo, ProgressEvent, TableLoad
from pg_assets.resource import Resource, resource
from pg_assets.pipeline import Pipeline, pipeline

__all__ = [
    "ConfigError",
    "ConnectionConfig",
    "CredentialsError",
    "DependentObjectsError",
    "EmbeddedServerError",
    "Incremental",
    "LoadError",
    "LoadInfo",
    "LockTimeoutError",
    "PgAssetsError",
    "Pipeline",
    "PrivilegeError",
    "ProgressEvent",
    "Resource",
    "SchemaContractError",
    "SpecError",
    "StoredSchemaError",
    "TableLoad",
    "TerminalLoadError",
    "TransientLoadError",
    "UnsuitableDestinationError",
    "normalize_dataset_name",
    "normalize_identifier",
    "pipeline",
    "resolve_credentials",
    "resource",
]


def __getattr__(name: str) -> Any:
    # The Dagster component is importable as `pg_assets.PipelinesComponent` (what a
    # `defs.yaml` names) without making the engine import Dagster.
    if name == "PipelinesComponent":
        from pg_assets.dagster.component import PipelinesComponent

        return PipelinesComponent
    raise AttributeError(f"module 'pg_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    # `dg` finds component types by listing a module's names: show the lazy one too.
    return sorted([*globals(), "PipelinesComponent"])
