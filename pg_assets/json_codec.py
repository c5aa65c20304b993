"""JSON written byte for byte as dlt writes it, so hashes and stored state agree with dlt's.

dlt serialises with orjson: compact separators, UTF-8 rather than `\\u` escapes, keys
that are not strings turned into strings, and floats in orjson's shortest form
(`1e-7`, `0.000025`), which the standard `json` module writes differently
(`1e-07`, `2.5e-05`). Any difference changes a hash, so the same library with the
same options is used here. There are four flavours:

- typed (pipeline state): values JSON lacks become strings led by a private-use
  character that names their type (`_MARKERS`), so they are read back as that type.
- extracted (row keys): sorted typed JSON, lenient. dlt hashes a row as its normalizer
  reads it back from the extract file, where a datetime, date, time, Decimal or bytes
  value is still its marked string, a NaN is `null` and a tuple a list; JSON of the
  values themselves would give other keys than dlt's.
- plain (schema hash): the same values become their usual text: ISO dates, the digits of
  a Decimal, base64 of bytes.
- dedup (incremental boundary hashes): plain, except that a datetime becomes integer
  microseconds since the epoch, so one instant hashes alike in every zone.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

PUA_START = 0xF026
"""The first private-use code point dlt uses as a type marker."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class _Marker:
    """How one type is written as text and read back."""

    kind: type | None  # None: read only, a dlt-specific type read back as its closest standard type
    to_text: Callable[[Any], str] | None
    from_text: Callable[[str], Any]
    dlt_type: str | None = None  # dlt's own type of that marker (module.name): row keys write it as dlt does


def _isoformat(value: dt.date | dt.time) -> str:
    return value.isoformat()


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _hex(value: bytes) -> str:
    return value.hex()  # dlt's HexBytes writes its own "0x" prefix


def _from_hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x").removeprefix("0X"))


# The position in this table is the marker: chr(PUA_START + position), as dlt numbers them.
_MARKERS: tuple[_Marker, ...] = (
    _Marker(Decimal, str, Decimal),
    _Marker(dt.datetime, _isoformat, dt.datetime.fromisoformat),  # naive stays naive
    _Marker(dt.date, _isoformat, dt.date.fromisoformat),
    _Marker(UUID, str, UUID),
    _Marker(None, _hex, _from_hex, "dlt.common.libs.hexbytes.HexBytes"),  # "0x"-prefixed hex
    _Marker(bytes, _b64, base64.b64decode),
    _Marker(None, str, Decimal, "dlt.common.wei.Wei"),  # a Decimal wide enough for EVM amounts
    _Marker(dt.time, _isoformat, dt.time.fromisoformat),
)

_WRITERS: dict[type, tuple[str, Callable[[Any], str]]] = {
    m.kind: (chr(PUA_START + i), m.to_text) for i, m in enumerate(_MARKERS) if m.kind is not None and m.to_text}
_READERS: dict[str, Callable[[str], Any]] = {chr(PUA_START + i): m.from_text for i, m in enumerate(_MARKERS)}
_DLT_WRITERS: dict[str, tuple[str, Callable[[Any], str]]] = {
    m.dlt_type: (chr(PUA_START + i), m.to_text) for i, m in enumerate(_MARKERS) if m.dlt_type and m.to_text}

_BASE = orjson.OPT_NON_STR_KEYS
_SORTED = _BASE | orjson.OPT_SORT_KEYS


def _writer(value: Any) -> tuple[str, Callable[[Any], str]] | None:
    """The marker and text function of `value`'s type, found through its bases (pendulum is a datetime)."""
    for kind in type(value).__mro__:
        found = _WRITERS.get(kind)
        if found is not None:
            return found
    return None


def _typed(value: Any) -> str:
    """State must read back as it was written, so a value without a marker is refused, as dlt does."""
    found = _writer(value)
    if found is None:
        raise TypeError(f"a {type(value).__module__}.{type(value).__qualname__} value cannot be kept in the "
                        f"pipeline state: {value!r}")
    marker, to_text = found
    return marker + to_text(value)


def _plain(value: Any) -> str:
    """The text of a value JSON lacks. One dlt cannot write at all (dlt stops) is hashed by its
    `str()`, as the normalizer writes it to a column, so such rows still get a stable key."""
    found = _writer(value)
    return str(value) if found is None else found[1](value)


def _dedup(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return epoch_microseconds(value)
    return _plain(value)


_FOUND: dict[type, tuple[str, Callable[[Any], str]] | None] = {}
# objects dlt's extract file holds as dicts, by the method that makes the dict, in dlt's order
_AS_DICT: tuple[tuple[str, dict[str, Any]], ...] = (("asdict", {}), ("_asdict", {}), ("model_dump", {"by_alias": True}))


def _extracted_writer(kind: type) -> tuple[str, Callable[[Any], str]] | None:
    """The marker and text of values of `kind` in dlt's extract file, found once per type.

    dlt's own types come first, as dlt tests them (a Wei is a Decimal, a HexBytes is bytes);
    they are known by name, so pg_assets never imports dlt. Then the standard types,
    through the bases (pendulum is a datetime); a bytearray or memoryview counts as bytes.
    """
    if kind in _FOUND:
        return _FOUND[kind]
    names = (f"{k.__module__}.{k.__qualname__}" for k in kind.__mro__)
    found = next((_DLT_WRITERS[n] for n in names if n in _DLT_WRITERS), None)
    if found is None:
        found = next((_WRITERS[k] for k in kind.__mro__ if k in _WRITERS), None)
    if found is None and issubclass(kind, (bytearray, memoryview)):
        found = _WRITERS[bytes]
    _FOUND[kind] = found
    return found


def _marked(kind: type) -> Callable[[Any], str]:
    marker, to_text = _WRITERS[kind]
    if kind in (dt.datetime, dt.date, dt.time):
        return lambda value: marker + _iso_text(value)
    return lambda value: marker + to_text(value)


def _iso_text(value: dt.date | dt.time) -> str:
    """`value.isoformat()`, from orjson's own formatter where it writes the same text, 4-5x faster:
    a date, a naive or UTC datetime. An offset with seconds in it (old local mean times such as
    Amsterdam's +00:19:32) orjson rounds, so zoned values take isoformat; and a time always does:
    orjson 3.13 drops a leading zero of its microseconds (10:00:00.013393 -> "10:00:00.13393")."""
    if type(value) is dt.time:
        return value.isoformat()
    zone = getattr(value, "tzinfo", None)  # a date has none
    if zone is None or zone is dt.timezone.utc and type(value) is dt.datetime:
        return orjson.dumps(value)[1:-1].decode()
    return value.isoformat()


# the exact standard types, looked up first: row keys call `_extracted` once per such value
_EXACT: dict[type, Callable[[Any], str]] = {kind: _marked(kind) for kind in _WRITERS}


def _extracted(value: Any) -> Any:
    """A value orjson does not write itself, as dlt's extract file holds it: marked text,
    a dict for a named tuple, a dataclass-like or pydantic object, else (dlt cannot extract
    it and stops) its `str()`, so the row still gets a stable key."""
    exact = _EXACT.get(type(value))
    if exact is not None:
        return exact(value)
    found = _extracted_writer(type(value))
    if found is not None:
        return found[0] + found[1](value)
    for method, options in _AS_DICT:
        to_dict = getattr(value, method, None)
        if callable(to_dict):
            return to_dict(**options)
    return str(value)


def epoch_microseconds(value: dt.datetime) -> int:
    """Whole microseconds since the Unix epoch; a naive value counts as UTC, never as local time."""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
    # the stdlib subtraction: a datetime subclass (pendulum) returns an interval that divides lossily
    return dt.datetime.__sub__(moment, _EPOCH) // _MICROSECOND


def typed_dumpb(value: Any, *, sort_keys: bool = False) -> bytes:
    """Typed JSON: datetimes, dates, times, Decimals, bytes keep their type through a marker."""
    return orjson.dumps(value, default=_typed, option=(_SORTED if sort_keys else _BASE)
                        | orjson.OPT_PASSTHROUGH_DATETIME)


def typed_loads(text: str | bytes) -> Any:
    """Read typed JSON, turning marked strings back into their values."""
    return revive(orjson.loads(text))


def revive(value: Any) -> Any:
    """`value` with every marked string in it (dict values and list items, not keys) decoded.

    A marked string that does not parse stays a string, so text that happens to start
    with a private-use character is never lost.
    """
    if isinstance(value, str):
        return _unmark(value)
    if isinstance(value, dict):
        return {k: revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revive(v) for v in value]
    return value


def _unmark(text: str) -> Any:
    reader = _READERS.get(text[:1]) if len(text) > 1 else None
    if reader is None:
        return text
    try:
        return reader(text[1:])
    except (ValueError, ArithmeticError):
        return text


_EXTRACTED = _SORTED | orjson.OPT_PASSTHROUGH_DATETIME


def extracted_dumpb(value: Any) -> bytes:
    """The text dlt hashes for a row key: `value` as dlt's normalizer reads it back from the
    extract file (typed JSON, see the module docstring), compact with sorted keys.

    orjson (and so dlt) refuses integers past 64 bits and lone surrogates, so dlt cannot
    load such a row at all; the standard library writes it instead, for a stable key.
    """
    try:
        return orjson.dumps(value, default=_extracted, option=_EXTRACTED)
    except orjson.JSONEncodeError:
        text = json.dumps(_finite(value), default=_extracted, sort_keys=True, ensure_ascii=False,
                          separators=(",", ":"))
        return text.encode("utf-8", "surrogatepass")


def plain_dumpb(value: Any) -> bytes:
    """Compact JSON with sorted keys; datetimes as orjson writes them (`+00:00`), Decimals as strings."""
    return orjson.dumps(value, default=_plain, option=_SORTED)


def dedup_dumpb(value: Any) -> bytes:
    """`plain_dumpb`, but datetimes as epoch microseconds: one instant, one text, whatever its zone."""
    return orjson.dumps(value, default=_dedup, option=_SORTED | orjson.OPT_PASSTHROUGH_DATETIME)


def dedup_dumpb_utc_z(value: Any) -> bytes:
    """`plain_dumpb` with UTC written as `Z`: the form boundary hashes had before dlt 1.29."""
    return orjson.dumps(value, default=_plain, option=_SORTED | orjson.OPT_UTC_Z)


_COLUMN = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def column_json(value: Any) -> str:
    """JSON text for a json column, the same from every path (INSERT VALUES, COPY, `sql.literal`).

    NaN and the infinities become `null`, as orjson (and so dlt) writes them: jsonb has no
    token for them. Dates, times, Decimals and other values JSON has no type for become
    their `str()`. `\\u0000` is removed because jsonb rejects it. Integers past 64 bits,
    which orjson refuses, take the standard library's encoder with the same rules.
    """
    try:
        text = orjson.dumps(value, default=str, option=_COLUMN).decode()
    except orjson.JSONEncodeError:
        text = json.dumps(_finite(value), default=str, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\\u0000", "") if "\\u0000" in text else text


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinite float as None (for the standard library's encoder)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
