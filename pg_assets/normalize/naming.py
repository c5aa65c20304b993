"""snake_case names for tables, columns and datasets, exactly as dlt's default naming makes them.

Names must match dlt's Postgres destination to the character: a table loaded by
dlt and then by pg_assets (or the other way round) has to land in the same
columns. The rules, in dlt's terms:

* a *fragment* (one key, no `__` inside) is trimmed, reduced to `[a-z0-9_]` in
  snake_case and, when longer than 63 characters, shortened with a hash tag of
  the trimmed original;
* a *path* (`a__b`, a column name given by the user, a table name) is split at
  `__`, each non-blank fragment is normalised, the fragments are joined again and
  the whole is shortened with a tag of the original, unnormalised path;
* a *flattened* column or *child table* name is the join of already-normalised
  fragments from the root (never of an already-shortened prefix), shortened with
  a tag of that full join.

The limit is counted in characters, as dlt counts it. Normalised names are ASCII
apart from non-ASCII decimal digits, which dlt keeps (they are `\\d`); such a
name may exceed 63 bytes, and Postgres then cuts it the same way for both tools.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

MAX_IDENTIFIER_BYTES = 63  # Postgres' NAMEDATALEN - 1; dlt applies it as a character count
MAX_SCHEMA_NAME_CHARS = 64  # dlt's limit on a stored schema's name (not a Postgres identifier)
PATH_SEPARATOR = "__"
EMPTY_KEY = "_empty"  # what a blank key becomes, as in dlt's relational normalizer

# 4 bytes of shake_128: dlt sizes the tag for a 0.1% collision chance among
# case-folded base64 tags, which gives 4 bytes, i.e. 6 base64 characters.
_TAG_BYTES = 4
_TAG_ALPHABET = str.maketrans("/+", "ab")

_REDUCE_ALPHABET = str.maketrans("+-*@|", "x_xal")
# `\d` on purpose: like dlt, any Unicode decimal digit survives, not only 0-9
_NOT_ALPHANUMERIC = re.compile(r"[^a-zA-Z\d_]+")
_LEADING_DIGIT = re.compile(r"^\d")
_CAMEL_WORD = re.compile(r"([^_])([A-Z][a-z]+)")
_CAMEL_TAIL = re.compile(r"([a-z0-9])([A-Z])")
_UNDERSCORES = re.compile(r"__+")
# already snake_case: no rule below changes it (the common case, checked in one match)
_ALREADY_SNAKE = re.compile(r"(?:[a-z]|_[a-z0-9])[a-z0-9]*(?:_[a-z0-9]+)*")


def _snake_case(trimmed: str) -> str:
    """The reduced, lower-case form of one trimmed fragment, not yet shortened.

    Runs of `_` collapse to one so a fragment can never contain the path separator,
    and trailing `_` become `x` so a fragment never ends where a separator starts.
    """
    if _ALREADY_SNAKE.fullmatch(trimmed):
        return trimmed
    s = _NOT_ALPHANUMERIC.sub("_", trimmed.translate(_REDUCE_ALPHABET))
    s = _CAMEL_TAIL.sub(r"\1_\2", _CAMEL_WORD.sub(r"\1_\2", s)).lower()
    if _LEADING_DIGIT.match(s):
        s = "_" + s
    stripped = s.rstrip("_")
    s = stripped + "x" * (len(s) - len(stripped))
    return _UNDERSCORES.sub("_", s)


def _tag(text: str) -> str:
    """A short, case-insensitive hash of `text` that keeps shortened names distinct."""
    digest = hashlib.shake_128(text.encode("utf-8")).digest(_TAG_BYTES)
    return base64.b64encode(digest).decode("ascii").rstrip("=").translate(_TAG_ALPHABET).lower()


def shorten(name: str, limit: int = MAX_IDENTIFIER_BYTES, *, tag_of: str | None = None) -> str:
    """Fit `name` in `limit` characters: keep its head and tail, put a hash tag in the middle.

    The tag hashes `tag_of` when given (the raw identifier `name` was made from), so
    two long names that normalise alike still get different tags; otherwise `name`.
    The head gets the odd character when the kept length is odd.
    """
    if len(name) <= limit:
        return name
    tag = _tag(name if tag_of is None else tag_of)
    keep = limit - len(tag)
    tail = keep // 2
    return name[: keep - tail] + tag + name[len(name) - tail:]


def make_path(*parts: str) -> str:
    """Join names with the separator, unshortened; blank parts are left out.

    Longer paths are built from this full form, never from a shortened one, so a
    grandchild's tag depends only on its fragments.
    """
    return PATH_SEPARATOR.join(p for p in parts if p.strip())


@lru_cache(maxsize=65536)
def _fragment(trimmed: str) -> str:
    return shorten(_snake_case(trimmed), tag_of=trimmed)


@lru_cache(maxsize=65536)
def normalize_identifier(name: str) -> str:
    """The table or column name pg_assets and dlt use for `name` (a key, a hint, a resource).

    `__` inside `name` is kept as a path separator, so a hint for `a__b` names the
    flattened column `a__b`. A name with no non-blank fragment ("", " ", "__") becomes
    `_empty`, which dlt gives blank keys; dlt itself has no usable name for `__`.

    Examples:
        >>> normalize_identifier("camelCaseID")
        'camel_case_id'
        >>> normalize_identifier("My Table-Name")
        'my_table_name'
        >>> normalize_identifier("__dunder__")
        'dunder'
    """
    fragments = [_fragment(p.strip()) for p in name.split(PATH_SEPARATOR) if p.strip()]
    return shorten(make_path(*fragments), tag_of=name) or EMPTY_KEY


def normalize_dataset_name(name: str) -> str:
    """The schema name dlt's destination makes of a dataset name: one fragment, no path.

    Unlike tables, a dataset name is not split at `__`, so `raw__data` becomes
    `raw_data`. An empty name has no normal form (dlt refuses it too).
    """
    trimmed = name.strip()
    if not trimmed:
        raise ValueError(f"dataset name {name!r} is empty")
    return _fragment(trimmed)


def normalize_schema_name(name: str) -> str:
    """The stored schema name dlt gives a pipeline's own schema (data run without a source): the
    pipeline name in snake case, at most 64 characters (`my-pipe` -> `my_pipe`).

    Examples:
        >>> normalize_schema_name("My-Pipe")
        'my_pipe'
    """
    trimmed = name.strip()
    return shorten(_snake_case(trimmed), MAX_SCHEMA_NAME_CHARS, tag_of=trimmed)


@lru_cache(maxsize=65536)
def join_path(*parts: str) -> str:
    """The flattened column or child table name for the full, unshortened `parts`.

    Pass every fragment from the root (or `make_path` of them), not a name that was
    already shortened: the tag hashes the whole joined path.
    """
    path = make_path(*parts)
    return shorten(path, tag_of=path)
