"""snake_case names for tables, columns and datasets, as dlt's default naming makes them.

Paths (flattened columns `a__b`, child tables `parent__field`) are normalised part by
part and the whole result is shortened to Postgres' 63-byte limit with a
deterministic hash tag, so the same input always yields the same identifier.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

MAX_IDENTIFIER_BYTES = 63
PATH_SEPARATOR = "__"
_TAG_LENGTH = 6

_TRANSLATE = str.maketrans({"+": "x", "-": "_", "*": "x", "@": "a", "|": "l"})
_NOT_WORD = re.compile(r"[^a-zA-Z0-9_]+")
_CAMEL_WORD = re.compile(r"([^_])([A-Z][a-z]+)")
_CAMEL_TAIL = re.compile(r"([a-z0-9])([A-Z])")
_MULTI_UNDERSCORE = re.compile(r"__+")


def _normalize_part(part: str) -> str:
    """One identifier: no separators inside, may end up empty."""
    s = _NOT_WORD.sub("_", part.strip().translate(_TRANSLATE))
    s = _CAMEL_TAIL.sub(r"\1_\2", _CAMEL_WORD.sub(r"\1_\2", s)).lower()
    if s and s[0].isdigit():
        s = "_" + s
    stripped = s.rstrip("_")
    s = stripped + "x" * (len(s) - len(stripped))
    return _MULTI_UNDERSCORE.sub("_", s)


def _tag(text: str) -> str:
    digest = hashlib.shake_128(text.encode("utf-8")).digest(4)
    return base64.b64encode(digest).decode("ascii").rstrip("=").translate(str.maketrans("/+", "ab")).lower()


def shorten(name: str, limit: int = MAX_IDENTIFIER_BYTES, *, tag_of: str | None = None) -> str:
    """Fit `name` in `limit` bytes: keep its head and tail, put a hash tag in the middle.

    The tag hashes `tag_of` (the raw identifier, when known) so that two long names
    that normalise alike still get different tags.
    """
    if len(name.encode("utf-8")) <= limit:
        return name
    keep = limit - _TAG_LENGTH
    head = (keep + 1) // 2
    return name[:head] + _tag(tag_of or name) + name[len(name) - (keep - head):]


@lru_cache(maxsize=65536)
def normalize_identifier(name: str) -> str:
    """The table, column or dataset name pg_assets uses for `name`.

    Examples:
        >>> normalize_identifier("camelCaseID")
        'camel_case_id'
        >>> normalize_identifier("My Table-Name")
        'my_table_name'
        >>> normalize_identifier("__dunder__")
        'dunder'
    """
    parts = [_normalize_part(p) for p in name.split(PATH_SEPARATOR)]
    joined = PATH_SEPARATOR.join(p for p in parts if p)
    return shorten(joined or "_", tag_of=name)


def join_path(*parts: str) -> str:
    """Join already-normalised names (`orders`, `items` -> `orders__items`), shortened to fit."""
    return shorten(PATH_SEPARATOR.join(parts))
