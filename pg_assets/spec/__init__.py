"""pipelines.yaml: the declarative spec of what to load and how.

`load_spec(path)` returns a frozen `PipelinesSpec` or raises `SpecError` with every
problem in the file, each with file, line, column, key path and a suggested fix.
`validate_file(path)` returns those problems instead. `json_schema()` is the spec as
JSON Schema, for editor completion.

Examples:
    >>> from pg_assets.spec import load_spec                    # doctest: +SKIP
    >>> spec = load_spec("pipelines.yaml")                      # doctest: +SKIP
    >>> sorted(spec.sources)                                    # doctest: +SKIP
    ['chess', 'events', 'shop']
"""

from __future__ import annotations

from typing import Any

from pg_assets.spec.issues import SpecIssue
from pg_assets.spec.models import DestinationSpec, ResourceSpec, SourceSpec

__all__ = [
    "DestinationSpec",
    "PipelinesSpec",
    "ResourceSpec",
    "SourceSpec",
    "SpecIssue",
    "json_schema",
    "json_schema_text",
    "load_spec",
    "read_spec",
    "validate_file",
]


def __getattr__(name: str) -> Any:
    # The document model is built from the registered source kinds, whose modules
    # import `pg_assets.spec.models`; importing it lazily keeps that cycle open.
    if name in {"PipelinesSpec", "json_schema", "json_schema_text", "load_spec", "read_spec", "validate_file"}:
        from pg_assets.spec import document

        return getattr(document, name)
    raise AttributeError(f"module 'pg_assets.spec' has no attribute {name!r}")
