"""Incremental cursors: which items a resource has already loaded.

An `Incremental` is handed to a resource (and, by the YAML sources, to the function
or API call that produces the data) before the data is read. The pipeline binds it
to the state stored in the destination, so `start_value` is the cursor where the
last committed load stopped: a source can ask its API only for newer items. The
binding is a copy (`bound`): the caller's object reads as bound only while the load
reads its items, and is never changed. The pipeline then filters the items itself:
older items are dropped, and items exactly at the boundary are dropped when their key
was already loaded.

The keys of the items at the boundary are stored with the cursor (`unique_hashes`,
12 characters each), so the state stays small unless many items share one cursor
value; past `BOUNDARY_WARN_AT` of them the load warns.

The stored cursor is dlt's: the same keys (`initial_value`, `last_value`,
`unique_hashes`, `start_value`), values in their own types through the typed JSON of
the state, and the same boundary hashes, so a dlt pipeline and a pg_assets pipeline
can take over each other's cursor on the same dataset.

With an `end_value` the cursor is a fixed window (a backfill, a partition): it starts
at `initial_value`, ignores the stored cursor and never moves it.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Literal

from pg_assets.errors import ConfigError, TerminalLoadError
from pg_assets.json_codec import dedup_dumpb, dedup_dumpb_utc_z
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.normalize.row_keys import digest

LastValueFunc = Literal["max", "min"]
BOUNDARY_WARN_AT = 300
HASH_BYTES = 9  # 12 base64 characters
DLT_LEGACY_HASH_BYTES = 15  # 20 characters: hashes dlt wrote before 1.29
DLT_LEGACY_HASH_CHARS = 20

DedupKey = str | tuple[str, ...] | None
"""What identifies an item at the boundary, in dlt's shape: one name (its value is hashed
alone), several (their values as a list), `()` (no de-duplication), None (the whole item)."""


# The cursors of the load reading items in this thread: id of the caller's `Incremental` -> its bound copy.
_BOUND: ContextVar[Mapping[int, "Incremental"] | None] = ContextVar("pg_assets_bound_cursors", default=None)


class _RunValue:
    """A field that, while a load reads the cursor's items, is read from the bound copy (see `bound`).

    The generated `__init__` sets it through `__set__`; its default, which dataclasses pass
    as this descriptor itself, is a new empty dict.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        current = (_BOUND.get() or {}).get(id(obj), obj)
        return getattr(current, self._slot)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self._slot, {} if value is None or value is self else value)


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
    # the destination's state for this cursor, bound by the pipeline before data is read (`bound`)
    stored: Mapping[str, Any] = field(default=_RunValue(), repr=False)  # type: ignore[assignment]
    resource_state: dict[str, Any] = field(default=_RunValue(), repr=False)  # type: ignore[assignment]

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

        State keeps datetimes, dates and Decimals in their types. A cursor that an older
        pg_assets stored as text (an ISO string, Decimal digits) is handed out in the type
        of `initial_value`, as is a datetime whose tz-awareness differs from it (naive
        means UTC).
        """
        last = self.stored.get("last_value")
        return last if last is None or self.initial_value is None else _comparable(last, self.initial_value)

    @property
    def start_value(self) -> Any:
        """Where this run starts: the stored cursor, else (and always for a window) `initial_value`."""
        last = None if self.stateless else self.last_value
        return self.initial_value if last is None else last


@contextmanager
def bound(inc: Incremental, stored: Mapping[str, Any], resource_state: dict[str, Any]) -> Iterator[Incremental]:
    """A copy of `inc` bound to one load's state; the caller's `inc` is never changed.

    While the block runs, `inc` itself reads as the copy in this thread: a generator that
    closed over the caller's object sees the stored cursor and writes the load's resource
    state, as one that is handed the copy does. After the block `inc` reads as before, so
    the same object serves the next run, or two pipelines at once.
    """
    copied = copy.copy(inc)
    copied.stored = dict(stored)
    copied.resource_state = resource_state
    token = _BOUND.set({**(_BOUND.get() or {}), id(inc): copied})
    try:
        yield copied
    finally:
        _BOUND.reset(token)


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


# how a cursor stored as text by an older pg_assets is read back, by the type it is compared with
_FROM_TEXT: dict[type, Callable[[str], Any]] = {
    dt.datetime: dt.datetime.fromisoformat,
    dt.date: dt.date.fromisoformat,
    dt.time: dt.time.fromisoformat,
    Decimal: Decimal,
}


def _comparable(value: Any, like: Any) -> Any:
    """Make a stored cursor comparable with `like` (a live value or `initial_value`).

    Text is parsed into `like`'s type when it has a text form (state written before
    cursors were typed); a date meets a datetime at midnight; a datetime takes `like`'s
    tz-awareness, naive meaning UTC. Anything else is returned unchanged, so an
    incomparable pair fails where it is compared, with the values in the message.
    """
    if isinstance(value, str) and not isinstance(like, str):
        value = _parse(value, like)
    if isinstance(like, dt.datetime) and isinstance(value, dt.date):
        return _in_zone_of(_as_datetime(value), like)
    return value


def as_cursor_type(value: Any, kind: type | None, *, aware: bool | None = None) -> Any:
    """A bound for a query parameter (`initial_value`, `end_value`, a partition's start, the
    stored cursor) in the Python type of the cursor column: text is parsed as `_comparable`
    parses it, and a datetime gets the column's tz-awareness (`aware`), naive meaning UTC."""
    if isinstance(value, str) and kind is not None and kind is not str:
        parse = next((_FROM_TEXT[k] for k in kind.__mro__ if k in _FROM_TEXT), None)
        try:
            value = parse(value) if parse else kind(value) if kind in (int, float) else value
        except (ValueError, ArithmeticError):
            return value  # the database compares it, or says why it cannot
    if kind is dt.datetime and isinstance(value, dt.date) and aware is not None:
        zone = dt.timezone.utc if aware else None
        return _in_zone_of(_as_datetime(value), dt.datetime(2000, 1, 1, tzinfo=zone))
    return value


def _parse(text: str, like: Any) -> Any:
    for kind in type(like).__mro__:
        parse = _FROM_TEXT.get(kind)
        if parse is not None:
            try:
                return parse(text)
            except (ValueError, ArithmeticError):
                return text
    return text


def _as_datetime(value: dt.date) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())


def _in_zone_of(value: dt.datetime, like: dt.datetime) -> dt.datetime:
    if like.tzinfo is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)  # naive means UTC, as everywhere in pg_assets (and dlt)
    if like.tzinfo is None and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def boundary_hash(value: Any) -> str:
    """12 characters (72 bits) identifying an item at the boundary, as dlt's `unique_hashes`.

    `value` is what the dedup key picks from the item (a value, a list of values, or the
    whole item); datetimes are hashed as epoch microseconds, so one instant is one hash
    whether it arrives aware, in another zone or naive.
    """
    return digest(dedup_dumpb(value), HASH_BYTES)


def dlt_legacy_boundary_hash(value: Any) -> str:
    """The 20-character hash dlt wrote before 1.29 (UTC written as `Z`); dlt keeps using it
    while such hashes are in the state, so pg_assets does too."""
    return digest(dedup_dumpb_utc_z(value), DLT_LEGACY_HASH_BYTES)


def _digest(value: Any, legacy: bool) -> str:
    return dlt_legacy_boundary_hash(value) if legacy else boundary_hash(value)


def pre_dlt_boundary_hash(value: Any) -> str:
    """The hash pg_assets stored before its hashes were dlt's, so boundary items already
    loaded by an older pg_assets are still skipped once."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return base64.b64encode(hashlib.blake2b(text.encode(), digest_size=HASH_BYTES).digest()).decode("ascii")


def dedup_key(own: str | Sequence[str] | None, resource_key: str | Sequence[str] | None) -> DedupKey:
    """The boundary key, chosen as dlt chooses it: the incremental's own `primary_key`, else
    the resource's as it was declared (`"id"` hashes the value, `["id"]` a list of one)."""
    for key in (own, resource_key or None):
        if key is not None:
            return key if isinstance(key, str) else tuple(key)
    return None


def _field(item: Mapping[str, Any], name: str) -> Any:
    """`item[name]`, else the value of the raw key that normalises to `name` (a resource key is
    given in normalised names, the raw item may not use them)."""
    if name in item:
        return item[name]
    wanted = normalize_identifier(name)
    return next((v for k, v in item.items() if normalize_identifier(str(k)) == wanted), None)


class CursorFilter:
    """Filters one resource's items by its cursor and computes the cursor to store."""

    def __init__(self, inc: Incremental, resource: str, primary_key: str | Sequence[str] | None) -> None:
        self.inc = inc
        self.resource = resource
        self.key: DedupKey = dedup_key(inc.primary_key, primary_key)
        self.dedup = self.key != ()
        self.start = inc.start_value
        carried = inc.last_value is not None and not inc.stateless
        self.seen = frozenset(inc.stored.get("unique_hashes", ())) if carried else frozenset()
        self.last = inc.last_value if carried else None
        self.boundary: set[str] = set(self.seen)
        # like dlt, hashes in the pre-1.29 format stay in that format until the cursor moves
        self.seen_legacy = any(len(h) == DLT_LEGACY_HASH_CHARS for h in self.seen)
        self.boundary_legacy = self.seen_legacy
        self._better = (lambda a, b: a > b) if inc.last_value_func == "max" else (lambda a, b: a < b)
        self._converted: dict[tuple[str, type], Any] = {}

    def _key_value(self, item: Mapping[str, Any]) -> Any:
        """What the boundary hash covers: the key's value, its values as a list, or the item."""
        if self.key is None:
            return item
        if isinstance(self.key, str):
            return _field(item, self.key)
        return [_field(item, k) for k in self.key]

    def _hash(self, item: Mapping[str, Any], legacy: bool = False) -> str:
        return _digest(self._key_value(item), legacy)

    def _seen_before(self, item: Mapping[str, Any]) -> bool:
        """Whether the stored hashes hold `item`, in dlt's format or an older pg_assets'."""
        value = self._key_value(item)
        if _digest(value, self.seen_legacy) in self.seen:
            return True
        return pre_dlt_boundary_hash([value] if isinstance(self.key, str) else value) in self.seen

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
        if self.seen and value == start and self._seen_before(item):
            return False
        self._advance(item, value)
        return True

    def _advance(self, item: Mapping[str, Any], value: Any) -> None:
        last = _comparable(self.last, value)
        if last is None or self._better(value, last):
            self.last = value
            self.boundary_legacy = False
            self.boundary = {self._hash(item)} if self.dedup else set()
        elif value == last:
            self.last = value
            if self.dedup:
                self.boundary.add(self._hash(item, self.boundary_legacy))

    def state(self) -> dict[str, Any] | None:
        """The incremental state to store (dlt's keys, values in their own types), or None for a
        window that keeps none."""
        if self.inc.stateless:
            return None
        return {
            "initial_value": self.inc.initial_value,
            "last_value": self.last,
            "unique_hashes": sorted(self.boundary),
            "start_value": self.start,
        }

    # ---- columnar items ------------------------------------------------------------------

    def keep_batch(self, batch: Any) -> Any:
        """The rows of an Arrow record batch that are new, filtered whole with pyarrow.compute.

        Only the rows exactly at the boundary (the start value, and the batch's new last
        value) are hashed, one at a time, with the same hashes as dict items.
        """
        import pyarrow as pa

        values = self._cursor_column(batch)
        if batch.num_rows == 0:
            return batch
        sample = values.drop_null()[0].as_py() if values.null_count < len(values) else None
        if values.null_count:
            raise TerminalLoadError(
                f"Resource `{self.resource}`: {values.null_count} rows have no value in the cursor column "
                f"`{self.inc.cursor_path}`. Fix the `cursor_path` or the data.",
                table=self.resource, column=self.inc.cursor_path)
        try:
            mask = self._window_mask(batch, values, sample)
        except (TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise TerminalLoadError(
                f"Resource `{self.resource}`: the cursor column `{self.inc.cursor_path}` ({values.type}) cannot be "
                f"compared with the start value {self.start!r} ({type(self.start).__name__}). Give "
                f"`initial_value` in the type of the data.", table=self.resource, column=self.inc.cursor_path
            ) from None
        kept = batch if mask is None else batch.filter(mask)
        if kept.num_rows:
            self._advance_batch(kept, self._cursor_column(kept))
        return kept

    def _window_mask(self, batch: Any, values: Any, sample: Any) -> Any:
        """Rows inside [start, end) (or the reverse for `min`), minus those already seen at the start; None: all."""
        import pyarrow as pa
        import pyarrow.compute as pc

        ge, lt = (pc.greater_equal, pc.less) if self.inc.last_value_func == "max" else (pc.less_equal, pc.greater)
        mask = None
        start = self._bound("start", sample)
        if start is not None:
            start_scalar = pa.scalar(start, values.type)
            mask = ge(values, start_scalar)
        end = self._bound("end", sample)
        if end is not None:
            below = lt(values, pa.scalar(end, values.type))
            mask = below if mask is None else pc.and_(mask, below)
        if self.seen and start is not None:
            mask = self._drop_seen(batch, values, start_scalar, mask)
        return mask

    def _cursor_column(self, batch: Any) -> Any:
        path = self.inc.cursor_path.removeprefix("$.")
        wanted = normalize_identifier(path)
        for name in batch.schema.names:
            if name == path or normalize_identifier(str(name)) == wanted:
                column = batch.column(name)
                return column.dictionary_decode() if hasattr(column, "dictionary_decode") else column
        raise TerminalLoadError(
            f"Resource `{self.resource}`: the data has no column `{path}` for the cursor (columns: "
            f"{batch.schema.names[:10]}). Columnar items take a top-level column as `cursor_path`.",
            table=self.resource, column=self.inc.cursor_path)

    def _drop_seen(self, batch: Any, values: Any, start: Any, mask: Any) -> Any:
        """`mask` without the rows at the start value whose hash the stored cursor holds."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        at_start = pc.equal(values, start)
        positions = np.flatnonzero(at_start.to_numpy(zero_copy_only=False))
        if not len(positions):
            return mask
        rows = batch.take(pa.array(positions)).to_pylist()
        seen = [int(p) for p, row in zip(positions, rows) if self._seen_before(row)]
        if not seen:
            return mask
        keep = mask.to_numpy(zero_copy_only=False).copy()
        keep[seen] = False
        return pa.array(keep)

    def _advance_batch(self, batch: Any, values: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        best = (pc.max if self.inc.last_value_func == "max" else pc.min)(values).as_py()
        last = _comparable(self.last, best)
        moved = last is None or self._better(best, last)
        if not moved and best != last:
            return
        rows = batch.filter(pc.equal(values, pa.scalar(best, values.type))).to_pylist() if self.dedup else []
        if moved:
            self.last, self.boundary_legacy = best, False
            self.boundary = {self._hash(row) for row in rows}
        else:
            self.last = best
            self.boundary.update(self._hash(row, self.boundary_legacy) for row in rows)
