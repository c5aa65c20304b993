"""Row keys (`_dlt_id`): random for appended rows, derived for rows that must be found again.

Child rows hash their parent's key, table and position; upsert and insert-only roots
hash their primary key, so the same key always gets the same `_dlt_id`; scd2 roots hash
their content, so a changed row is a new version. Every key is 14 base64 characters,
as dlt makes them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_IDS_PER_BLOCK = 4096  # 4096 ids * 10.5 random bytes = 43008 bytes, a whole number of base64 quanta


def digest_id(text: str) -> str:
    """A 14-character row key derived from `text` (child rows, key hashes)."""
    return base64.b64encode(hashlib.shake_128(text.encode("utf-8")).digest(10)).decode("ascii").rstrip("=")


def random_ids() -> Iterable[str]:
    """An endless stream of random 14-character row keys (84 random bits each)."""
    while True:
        block = base64.b64encode(os.urandom(_IDS_PER_BLOCK * 21 // 2)).decode("ascii")
        yield from (block[i:i + 14] for i in range(0, len(block), 14))


def key_hash(columns: Iterable[str]) -> Callable[[Mapping[str, Any], Mapping[str, Any]], str]:
    """Row keys from primary key values, so the same key always gets the same `_dlt_id`."""
    names = tuple(columns)

    def row_key(item: Mapping[str, Any], flat: Mapping[str, Any]) -> str:
        return digest_id(json.dumps({n: flat.get(n) for n in names}, sort_keys=True, default=str))

    return row_key


def content_hash(item: Mapping[str, Any], flat: Mapping[str, Any]) -> str:
    """Row keys from the whole item, nested lists included (scd2: a changed item is a new version)."""
    body = {k: v for k, v in item.items() if not str(k).startswith("_dlt_")}
    return digest_id(json.dumps(body, sort_keys=True, default=str))
