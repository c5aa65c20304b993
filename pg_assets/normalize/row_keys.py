"""Row keys (`_dlt_id`), made as dlt makes them, so either tool can merge into the other's tables.

Appended, replaced and delete-insert roots get random keys. Child rows hash their
parent's key, table and position. Upsert and insert-only roots hash their primary key
values, so the same key always gets the same `_dlt_id`; scd2 roots hash their content,
nested lists included, so a changed row is a new version. Every key is 10 bytes in
base64 without padding (14 characters). Hashed keys use the compact, key-sorted JSON
of `json_codec.plain_dumpb`: with any other serialisation the same row would get a
different key from dlt than from pg_assets.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pg_assets.json_codec import plain_dumpb

ID_BYTES = 10
DLT_PREFIX = "_dlt"  # columns dlt adds itself; never part of a content hash

_IDS_PER_BLOCK = 4096
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


def random_ids() -> Iterator[str]:
    """An endless stream of random row keys, each the base64 of 10 random bytes."""
    while True:
        raw = os.urandom(_IDS_PER_BLOCK * ID_BYTES)
        padded = bytearray(_IDS_PER_BLOCK * _STRIDE)
        for k in range(ID_BYTES):
            padded[k::_STRIDE] = raw[k::ID_BYTES]
        block = base64.b64encode(padded).decode("ascii")
        yield from (block[i:i + _ID_CHARS] for i in range(0, len(block), _ENCODED))


def key_hash(columns: Iterable[str]) -> Callable[[Mapping[str, Any], Mapping[str, Any]], str]:
    """Row keys from the primary key values of the flattened row (normalised names), as dlt's
    `key_hash` row id: the same key always gets the same `_dlt_id`."""
    names = tuple(columns)

    def row_key(item: Mapping[str, Any], flat: Mapping[str, Any]) -> str:
        return digest(plain_dumpb({n: flat.get(n) for n in names}))

    return row_key


def content_hash(item: Mapping[str, Any], flat: Mapping[str, Any]) -> str:
    """Row keys from the raw item, nested lists included, without dlt's own `_dlt*` keys (scd2:
    a changed item is a new version, also when only a child list changed)."""
    return digest(plain_dumpb({k: v for k, v in item.items() if not str(k).startswith(DLT_PREFIX)}))
