"""Incremental cursors: which items a resource has already loaded.

An `Incremental` is handed to a resource (and, by the YAML sources, to the function
or API call that produces the data) before the data is read. The pipeline binds it
to the state stored in the destination, so `start_value` is the cursor where the
last committed load stopped: a source can ask its API only for newer items. The
pipeline then filters the items itself: older items are dropped, and items exactly
at the boundary are dropped when their key was already loaded.

The keys of the items at the boundary are stored with the cursor (`unique_hashes`,
12 characters each), so the state stays small unless many items share one cursor
value; past `BOUNDARY_WARN_AT` of them the load warns.

With an `end_value` the cursor is a fixed window (a backfill, a partition): it starts
at `initial_value`, ignores the stored cursor and never moves it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from pg_assets.errors import ConfigError, TerminalLoadError
from pg_assets.normalize.naming import normalize_identifier

LastValueFunc = Literal["max", "min"]
BOUNDARY_WARN_AT = 300


@dataclass
class Incremental:
    """A cursor over one field of the raw items.

    Args:
        cursor_path: dotted path into the raw item (`updated_at`, `meta.updated_at`).
        initial_value: where the first run starts.
        end_value: optional upper bound (exclusive) of the window; with it, the stored
            cursor is neither used nor moved.
        last_value_func: `max` for growing cursors, `min` for shrinking ones.
        primary_key: fields that identify an item at the boundary; defaults to the
            resource's primary key, else the whole item. `()` turns boundary
            de-duplication off.

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
            raise ConfigError(f"`last_value_func` must be `max` or `min`, not `{self.last_value_func}`")
        if not isinstance(self.cursor_path, str) or not self.cursor_path:
            raise ConfigError(f"`cursor_path` must be a non-empty string, not {self.cursor_path!r}")

    @classmethod
    def coerce(cls, value: "Incremental | Mapping[str, Any] | None") -> "Incremental | None":
        """Accept an `Incremental`, a mapping of its arguments, or None."""
        if value is None or isinstance(value, Incremental):
            return value
        allowed = [f.name for f in fields(cls) if f.name not in ("stored", "resource_state")]
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ConfigError(f"unknown `incremental` option `{unknown[0]}`; expected "
                              f"{', '.join(f'`{a}`' for a in allowed)}")
        return cls(**dict(value))

    @property
    def stateless(self) -> bool:
        """A fixed window (`end_value` set): the stored cursor is neither read nor moved."""
        return self.end_value is not None

    @property
    def last_value(self) -> Any:
        """The cursor stored by the last committed load (None before the first).

        State is JSON, so a stored datetime or date comes back as an ISO string; it is
        handed out in the type of `initial_value` when that is a datetime or date.
        """
        last = self.stored.get("last_value")
        return last if last is None or self.initial_value is None else _comparable(last, self.initial_value)

    @property
    def start_value(self) -> Any:
        """Where this run starts: the stored cursor, else (and always for a window) `initial_value`."""
        last = None if self.stateless else self.last_value
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
    if isinstance(like, dt.datetime) and isinstance(value, (str, dt.date)):
        parsed = value if isinstance(value, dt.datetime) else (
            dt.datetime.fromisoformat(value) if isinstance(value, str) else dt.datetime.combine(value, dt.time()))
        if like.tzinfo is not None and parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.timezone.utc)  # naive means UTC, as everywhere in pg_assets
        if like.tzinfo is None and parsed.tzinfo is not None:
            return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return parsed
    if isinstance(like, dt.date) and not isinstance(like, dt.datetime) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def boundary_hash(body: Any) -> str:
    """12 characters (72 bits) identifying an item at the boundary."""
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return base64.b64encode(hashlib.blake2b(text.encode(), digest_size=9).digest()).decode("ascii")


class CursorFilter:
    """Filters one resource's items by its cursor and computes the cursor to store."""

    def __init__(self, inc: Incremental, resource: str, primary_key: Sequence[str]) -> None:
        self.inc = inc
        self.resource = resource
        own = inc.primary_key
        self.key: tuple[str, ...] | None = (
            (own,) if isinstance(own, str) else tuple(own) if own is not None else tuple(primary_key) or None)
        self.dedup = self.key != ()
        self.start = inc.start_value
        carried = inc.last_value is not None and not inc.stateless
        self.seen = frozenset(inc.stored.get("unique_hashes", ())) if carried else frozenset()
        self.last = inc.last_value if carried else None
        self.boundary: set[str] = set(self.seen)
        self._better = (lambda a, b: a > b) if inc.last_value_func == "max" else (lambda a, b: a < b)
        self._converted: dict[tuple[str, type], Any] = {}

    def _hash(self, item: Mapping[str, Any]) -> str:
        if not self.key:
            return boundary_hash(item)
        if all(k in item for k in self.key):
            return boundary_hash([item[k] for k in self.key])
        # the resource's primary key is in normalised names; the item may not be
        named = {normalize_identifier(str(k)): v for k, v in item.items()}
        return boundary_hash([item.get(k, named.get(normalize_identifier(k))) for k in self.key])

    def _bound(self, which: str, value: Any) -> Any:
        """The start or end value in the type of `value`, converted once per type."""
        key = (which, type(value))
        if key not in self._converted:
            self._converted[key] = _comparable(self.start if which == "start" else self.inc.end_value, value)
        return self._converted[key]

    def keep(self, item: Mapping[str, Any]) -> bool:
        """Whether `item` is new; updates the cursor as a side effect."""
        value = cursor_value(item, self.inc.cursor_path)
        if value is None:
            raise TerminalLoadError(
                f"Resource `{self.resource}`: an item has no value at the cursor path `{self.inc.cursor_path}` "
                f"(item keys: {sorted(map(str, item))[:10]}). Fix the `cursor_path` or the data.",
                table=self.resource, column=self.inc.cursor_path)
        try:
            return self._keep(item, value)
        except TypeError:
            raise TerminalLoadError(
                f"Resource `{self.resource}`: the cursor value {value!r} ({type(value).__name__}) at "
                f"`{self.inc.cursor_path}` cannot be compared with the start value {self.start!r} "
                f"({type(self.start).__name__}). Give `initial_value` in the type of the data.",
                table=self.resource, column=self.inc.cursor_path, value=value) from None

    def _keep(self, item: Mapping[str, Any], value: Any) -> bool:
        start = self._bound("start", value)
        if start is not None and self._better(start, value):
            return False
        end = self._bound("end", value)
        if end is not None and not self._better(end, value):
            return False
        digest = None
        if self.seen and value == start:
            digest = self._hash(item)
            if digest in self.seen:
                return False
        self._advance(item, value, digest)
        return True

    def _advance(self, item: Mapping[str, Any], value: Any, digest: str | None) -> None:
        last = _comparable(self.last, value)
        if last is None or self._better(value, last):
            self.last = value
            self.boundary = {digest or self._hash(item)} if self.dedup else set()
        elif value == last:
            self.last = value
            if self.dedup:
                self.boundary.add(digest or self._hash(item))

    def state(self) -> dict[str, Any] | None:
        """The incremental state to store (dlt's keys), or None for a window that keeps none."""
        if self.inc.stateless:
            return None
        return {
            "initial_value": _jsonable(self.inc.initial_value),
            "last_value": _jsonable(self.last),
            "unique_hashes": sorted(self.boundary),
            "start_value": _jsonable(self.start),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return value
