"""Incremental cursors: which items a resource has already loaded.

An `Incremental` is handed to a resource (and, by the YAML sources, to the function
or API call that produces the data) before the data is read. The pipeline binds it
to the state stored in the destination, so `start_value` is the cursor where the
last committed load stopped: a source can ask its API only for newer items. The
pipeline then filters the items itself: older items are dropped, and items exactly
at the boundary are dropped when their key was already loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pg_assets.errors import TerminalLoadError

LastValueFunc = Literal["max", "min"]
BOUNDARY_WARN_AT = 500


@dataclass
class Incremental:
    """A cursor over one field of the raw items.

    Args:
        cursor_path: dotted path into the raw item (`updated_at`, `meta.updated_at`).
        initial_value: where the first run starts.
        end_value: optional upper bound (exclusive) of the window.
        last_value_func: `max` for growing cursors, `min` for shrinking ones.
        primary_key: columns that identify an item at the boundary; defaults to the
            resource's primary key, else the whole item.

    Examples:
        >>> inc = Incremental("updated_at", initial_value="2024-01-01")
        >>> inc.start_value
        '2024-01-01'
    """

    cursor_path: str
    initial_value: Any = None
    end_value: Any = None
    last_value_func: LastValueFunc = "max"
    primary_key: str | Sequence[str] | None = None
    # bound by the pipeline from the destination's state before data is read
    stored: Mapping[str, Any] = field(default_factory=dict, repr=False)
    resource_state: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.last_value_func not in ("max", "min"):
            raise ValueError(f"`last_value_func` must be `max` or `min`, not `{self.last_value_func}`")

    @classmethod
    def coerce(cls, value: "Incremental | Mapping[str, Any] | None") -> "Incremental | None":
        """Accept an `Incremental`, a mapping of its arguments, or None."""
        if value is None or isinstance(value, Incremental):
            return value
        return cls(**dict(value))

    @property
    def last_value(self) -> Any:
        """The cursor stored by the last committed load (None before the first)."""
        return self.stored.get("last_value")

    @property
    def start_value(self) -> Any:
        """Where this run starts: the stored cursor, else `initial_value`."""
        last = self.last_value
        return self.initial_value if last is None else last


def cursor_value(item: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path (`a.b.0.c`) into a raw item; None when any step is missing."""
    value: Any = item
    for step in path.removeprefix("$.").split("."):
        if isinstance(value, Mapping):
            value = value.get(step)
        elif isinstance(value, (list, tuple)) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def _comparable(value: Any, like: Any) -> Any:
    """Make a stored cursor (JSON: strings) comparable with live values (maybe datetimes)."""
    if isinstance(like, dt.datetime) and isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        if like.tzinfo is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return parsed
    if isinstance(like, dt.date) and not isinstance(like, dt.datetime) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


class CursorFilter:
    """Filters one resource's items by its cursor and computes the cursor to store."""

    def __init__(self, inc: Incremental, resource: str, primary_key: Sequence[str]) -> None:
        self.inc = inc
        self.resource = resource
        self.key = tuple(inc.primary_key if isinstance(inc.primary_key, (list, tuple))
                         else [inc.primary_key] if inc.primary_key else primary_key)
        self.start = inc.start_value
        self.seen = set(inc.stored.get("unique_hashes", ())) if inc.last_value is not None else set()
        self.last = inc.last_value
        self.boundary: set[str] = set(self.seen) if self.last is not None else set()
        self._better = (lambda a, b: a > b) if inc.last_value_func == "max" else (lambda a, b: a < b)

    def _hash(self, item: Mapping[str, Any]) -> str:
        body = {k: item.get(k) for k in self.key} if self.key else item
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def keep(self, item: Mapping[str, Any]) -> bool:
        """Whether `item` is new; updates the cursor as a side effect."""
        value = cursor_value(item, self.inc.cursor_path)
        if value is None:
            raise TerminalLoadError(
                f"Resource `{self.resource}`: an item has no value at the cursor path `{self.inc.cursor_path}` "
                f"(item keys: {sorted(item)[:10]}). Fix the `cursor_path` or the data.", table=self.resource)
        start = _comparable(self.start, value)
        if start is not None and (self._better(start, value)):
            return False
        end = _comparable(self.inc.end_value, value)
        if end is not None and not self._better(end, value):
            return False
        digest = self._hash(item)
        if start is not None and value == start and digest in self.seen:
            return False
        self._advance(value, digest)
        return True

    def _advance(self, value: Any, digest: str) -> None:
        last = _comparable(self.last, value)
        if last is None or self._better(value, last):
            self.last, self.boundary = value, {digest}
        elif value == last:
            self.last = value
            self.boundary.add(digest)

    def state(self) -> dict[str, Any]:
        """The incremental state to store: dlt's keys, boundary hashes kept small."""
        last = self.last
        return {
            "initial_value": _jsonable(self.inc.initial_value),
            "last_value": _jsonable(last),
            "unique_hashes": sorted(self.boundary),
            "start_value": _jsonable(self.start),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return value
