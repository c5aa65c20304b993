"""The one small interface every source kind implements.

A kind is a module exposing `KIND = SourceKind(...)`:

- `source_model`: its pydantic `SourceSpec` subclass (its `resource_model` is the
  matching `ResourceSpec` subclass); the spec validates YAML with it.
- `read(source, resource, context)`: the items of one resource, dicts or pages (lists)
  of dicts, produced lazily while the pipeline runs.
- `check(source, name, resource, context)`: problems only visible with everything
  merged (a function that cannot be imported, a missing file), as
  `(option key path, message)` pairs; the spec locates them where they were written.
- `prepare(source, resource, context)`: optional; the resource's options completed from
  the source itself just before a run (a database's column types and keys), so that
  whatever is wrong fails before anything is written. Definitions never call it.
- `run(spec, source_name, pipeline, progress=...)`: optional; a kind whose resources cannot
  be read one after the other drives its own loads (pg_replication: one slot streams every
  table's changes, and the stream's position commits with them). It returns the `LoadInfo`.

Sources never filter rows by the incremental cursor (the engine does); they may use
`context.incremental.start_value` to ask only for newer data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pg_assets.incremental import Incremental
from pg_assets.spec.models import ResourceSpec, SourceSpec

Problem = tuple[tuple[str | int, ...], str]


@dataclass(frozen=True)
class SourceContext:
    """What a kind needs at run time besides its options.

    Attributes:
        source_name, resource_name: where the resource is declared.
        base_dir: the spec file's folder; relative paths resolve against it.
        incremental: the resource's cursor, bound to stored state before `read` runs.
        read_other: items of another resource of the same source (the REST API's
            `resolve` parameters use it), read without incremental.
    """

    source_name: str
    resource_name: str
    base_dir: Path
    incremental: Incremental | None = None
    read_other: Callable[[str], Iterable[Any]] | None = None
    _scratch: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def state(self) -> dict[str, Any]:
        """Resource state saved with the load (in the same commit); scratch space without incremental."""
        state = getattr(self.incremental, "resource_state", None)
        return state if isinstance(state, dict) else self._scratch

    def resolve(self, path: str | Path) -> Path:
        return (self.base_dir / Path(path).expanduser()).resolve()


@dataclass(frozen=True)
class CheckContext:
    """What a kind's `check` may consult: the spec file's folder and the sibling resources."""

    source_name: str
    base_dir: Path
    resource_names: tuple[str, ...]


def _no_problems(source: Any, name: str, resource: Any, context: CheckContext) -> Iterable[Problem]:
    return ()


def _as_declared(source: Any, resource: Any, context: SourceContext) -> Any:
    return resource


@dataclass(frozen=True)
class SourceKind:
    name: str
    source_model: type[SourceSpec]
    read: Callable[[SourceSpec, ResourceSpec, SourceContext], Iterable[Any]]
    check: Callable[[SourceSpec, str, ResourceSpec, CheckContext], Iterable[Problem]] = _no_problems
    prepare: Callable[[SourceSpec, ResourceSpec, SourceContext], ResourceSpec] = _as_declared
    run: Callable[..., Any] | None = None


# ---------------------------------------------------------------- shared helpers

MISSING: Any = object()

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def select(document: Any, path: str | None) -> Any:
    """Follow a data selector (`data.items`, `$.results[0].rows`) into a parsed document.

    Returns `MISSING` when the path does not exist.

    Examples:
        >>> select({"data": {"items": [1, 2]}}, "$.data.items")
        [1, 2]
    """
    if not path or path in ("$", "."):
        return document
    for name, index in _STEP.findall(path.removeprefix("$").lstrip(".")):
        if index:
            ok = isinstance(document, list) and int(index) < len(document)
            document = document[int(index)] if ok else MISSING
        else:
            document = document.get(name, MISSING) if isinstance(document, Mapping) else MISSING
        if document is MISSING:
            return MISSING
    return document


def as_items(value: Any) -> Iterator[dict[str, Any]]:
    """Items from a selected value: a dict is one item, a list is many, a scalar becomes `{"value": x}`."""
    values = value if isinstance(value, list) else [value]
    for item in values:
        yield item if isinstance(item, dict) else {"value": item}


def snippet(text: str | bytes, limit: int = 200) -> str:
    """The start of a body or line for an error message."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
