"""Source kinds: where a resource's items come from.

Each kind is one module exposing `KIND` (see `pg_assets.sources.base`); adding a kind
is adding its module and one line here.
"""

from __future__ import annotations

import importlib

from pg_assets.sources.base import CheckContext, SourceContext, SourceKind

KINDS: dict[str, str] = {
    "python": "pg_assets.sources.python",
    "files": "pg_assets.sources.files",
    "rest_api": "pg_assets.sources.rest_api",
    "sql_database": "pg_assets.sources.sql_database",
    "pg_replication": "pg_assets.sources.pg_replication",
}

__all__ = ["KINDS", "CheckContext", "SourceContext", "SourceKind", "all_kinds", "get_kind"]


def get_kind(name: str) -> SourceKind:
    """The kind registered as `name` (KeyError when there is none)."""
    return importlib.import_module(KINDS[name]).KIND


def all_kinds() -> list[SourceKind]:
    return [get_kind(name) for name in KINDS]
