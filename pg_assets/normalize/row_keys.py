"""Row keys (`_dlt_id`), made as dlt makes them, so either tool can merge into the other's tables.

Appended, replaced and delete-insert roots get random keys: runs of 65,536 share 8
random bytes and count up in the last 2, so the keys of one load sit close together in
the `_dlt_id` index and its UNIQUE check touches a few pages rather than one per row.
Every key is 10 bytes of shake_128 in base64 without padding (14 characters). dlt 1.31's
rule for the others, which pg_assets follows so that each tool recognises the other's rows:

- child rows hash `"{parent _dlt_id}_{child table}_{position}"`, the table named as
  stored (shortened), the position counted from 0; a `_dlt_id` the item brings is kept.
- upsert and insert-only roots hash `{column: value}` of the primary key columns
  (normalised names, flattened: `meta__key`), so the same key always gets the same id.
- scd2 roots without a `row_version_column_name` hash the whole item as it came, with
  its own key names and nested dicts and lists in place (a changed child list is a new
  version), leaving out its top-level keys that start with `_dlt`.

dlt hashes the values as its normalizer reads them back from the extract file: a
datetime, date, time, Decimal or bytes value is still its type-marked string there, a
NaN or infinity `null`, a tuple a list. `json_codec.extracted_dumpb` writes exactly that
text (orjson, compact, keys sorted); any other serialisation, the values' own JSON
included, gives other keys than dlt's and turns every scd2 row of a hand-over into a
new version. Columnar items get the same keys as the same rows given as dicts.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pg_assets.json_codec import extracted_dumpb

ID_BYTES = 10
DLT_PREFIX = "_dlt"  # columns dlt adds itself; never part of a content hash

_RUN = 65536  # keys that share one random prefix
_PREFIX_BYTES = ID_BYTES - 2
_HIGH = bytes(b for b in range(256) for _ in range(256))  # the run's counter, high byte then low byte
_LOW = bytes(range(256)) * 256
# base64 turns 3 bytes into 4 characters; 10 bytes padded to 12 encode to 16 characters whose
# first 14 are exactly the unpadded base64 of the 10 bytes, so one call encodes a whole block
_STRIDE = 12
_ENCODED = _STRIDE // 3 * 4
_ID_CHARS = 14


def digest(data: bytes, size: int = ID_BYTES) -> str:
    """base64 (unpadded) of the first `size` bytes of shake_128 over `data`."""
    return base64.b64encode(hashlib.shake_128(data).digest(size)).decode("ascii").rstrip("=")


def digest_id(text: str) -> str:
    """A 14-character row key derived from `text` (child rows: `f"{parent_id}_{table}_{idx}"`)."""
    return digest(text.encode("utf-8"))


def local_random_bytes(n: int) -> bytes:
    """The raw 10 bytes of each of `n` row keys: 8 random bytes per run of 65,536, then a counter.

    Fully random keys land all over the `_dlt_id` index, and inserting a million of them
    costs several times the rest of the INSERT; keys of a run fill neighbouring index pages.
    Uniqueness rests on the 64-bit prefixes, drawn once per 65,536 keys.
    """
    out = bytearray(n * ID_BYTES)
    for start in range(0, n, _RUN):
        m = min(_RUN, n - start)
        run = memoryview(out)[start * ID_BYTES:(start + m) * ID_BYTES]
        prefix = os.urandom(_PREFIX_BYTES)
        for k in range(_PREFIX_BYTES):
            run[k::ID_BYTES] = prefix[k:k + 1] * m
        run[_PREFIX_BYTES::ID_BYTES] = _HIGH[:m]
        run[_PREFIX_BYTES + 1::ID_BYTES] = _LOW[:m]
    return bytes(out)


def random_ids() -> Iterator[str]:
    """An endless stream of random row keys, each the base64 of 10 bytes (`local_random_bytes`)."""
    while True:
        raw = local_random_bytes(_RUN)
        padded = bytearray(_RUN * _STRIDE)
        for k in range(ID_BYTES):
            padded[k::_STRIDE] = raw[k::ID_BYTES]
        block = base64.b64encode(padded).decode("ascii")
        yield from (block[i:i + _ID_CHARS] for i in range(0, len(block), _ENCODED))


def key_hash(columns: Iterable[str]) -> Callable[[Mapping[str, Any], Mapping[str, Any]], str]:
    """Row keys from the primary key values of the flattened row (normalised names), as dlt's
    `key_hash` row id: the same key always gets the same `_dlt_id`."""
    names = tuple(columns)

    def row_key(item: Mapping[str, Any], flat: Mapping[str, Any]) -> str:
        return digest(extracted_dumpb({n: flat.get(n) for n in names}))

    return row_key


def content_hash(item: Mapping[str, Any], flat: Mapping[str, Any]) -> str:
    """Row keys from the raw item, nested lists included, without dlt's own `_dlt*` keys (scd2:
    a changed item is a new version, also when only a child list changed)."""
    return digest(extracted_dumpb({k: v for k, v in item.items() if not str(k).startswith(DLT_PREFIX)}))
