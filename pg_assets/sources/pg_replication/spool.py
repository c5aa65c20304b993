"""Change rows on their way to the load: COPY text in files, one run of files per table.

One slot streams every table's changes interleaved, while a load reads its resources
one after the other; so the stream is read once, each table's rows written as COPY text
lines to its own temporary files (memory stays flat), and each resource then hands its
files to the engine as `CopyRows`. A table's rows change file when its columns change
(a `Relation` message after `ALTER TABLE`), so every file has one column list.

A line is the data columns, `lsn`, `deleted_ts`, then `_dlt_load_id` (a placeholder,
filled per chunk: the load id is known only once the load starts), `_dlt_id` and the
merge sequence, which orders the changes of one key across files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pg_assets.normalize.copy_rows import CopyRows
from pg_assets.normalize.row_keys import random_ids

# NUL never occurs in Postgres text, so it cannot collide with data
LOAD_ID_PLACEHOLDER = b"\x00load\x00"
NULL = b"\\N"

_SPECIAL = re.compile(rb"[\\\n\r\t]")
_ESCAPED = {b"\\": b"\\\\", b"\n": b"\\n", b"\r": b"\\r", b"\t": b"\\t"}
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def copy_field(value: bytes) -> bytes:
    r"""A text value as one COPY field: backslash, tab, newline and carriage return escaped.

    Examples:
        >>> copy_field(b"a\tb\\c"), copy_field(b"plain")
        (b'a\\tb\\\\c', b'plain')
    """
    if _SPECIAL.search(value) is None:
        return value
    return _SPECIAL.sub(lambda m: _ESCAPED[m.group()], value)


def has_special(values: list[object]) -> bool:
    """Whether any value needs escaping in COPY text (one search over the row, not one per value)."""
    return _SPECIAL.search(b"\x00".join(v for v in values if v is not None)) is not None  # type: ignore[misc]


def array_json(text: str, element: str) -> str:
    """A Postgres array literal as the JSON `to_jsonb` gives it (the snapshot loads arrays so):
    numbers (`element` N) and booleans (B) as themselves, everything else as strings.

    Examples:
        >>> array_json('{1,2,NULL}', 'N'), array_json('{{"a b","c\\\\"d"},{e,f}}', 'S')
        ('[1, 2, null]', '[["a b", "c\\\\"d"], ["e", "f"]]')
    """
    if text.startswith("["):  # explicit bounds, `[0:1]={...}`
        text = text[text.index("=") + 1:]
    value, _ = _parse_array(text, 0)
    return _as_json(value, element)


def _parse_array(text: str, at: int) -> tuple[list[object], int]:
    items: list[object] = []
    at += 1  # `{`
    if text[at] == "}":
        return items, at + 1
    while True:
        if text[at] == "{":
            item, at = _parse_array(text, at)
        elif text[at] == '"':
            item, at = _quoted(text, at + 1)
        else:
            end = at
            while text[end] not in ",}":
                end += 1
            token = text[at:end].strip()
            item, at = (None if token == "NULL" else token), end
        items.append(item)
        at += 1
        if text[at - 1] == "}":
            return items, at


def _quoted(text: str, at: int) -> tuple[str, int]:
    out = []
    while text[at] != '"':
        if text[at] == "\\":
            at += 1
        out.append(text[at])
        at += 1
    return "".join(out), at + 1


def _as_json(value: object, element: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_as_json(v, element) for v in value) + "]"
    text = str(value)
    if element == "N" and _NUMBER.match(text):
        return text
    if element == "B":
        return "true" if text == "t" else "false"
    return json.dumps(text, ensure_ascii=False)


@dataclass
class _File:
    columns: tuple[str, ...]
    path: Path
    handle: IO[bytes] | None
    rows: int = 0


@dataclass
class Spool:
    """The temporary files of one load's change rows, by resource."""

    directory: Path
    files: dict[str, list[_File]] = field(default_factory=dict)
    _ids: Iterator[str] = field(default_factory=random_ids)
    _seq: int = 0

    def write(self, resource: str, columns: tuple[str, ...], data: bytes) -> None:
        """One row: `data` is its data columns', `lsn`'s and `deleted_ts`' COPY fields, tab-separated."""
        runs = self.files.setdefault(resource, [])
        if not runs or runs[-1].columns != columns:
            if runs and runs[-1].handle is not None:
                runs[-1].handle.close()
            path = self.directory / f"{resource[:80]}.{len(runs)}.copy"
            runs.append(_File(columns, path, open(path, "wb")))  # noqa: SIM115 - closed in `close`
        current = runs[-1]
        self._seq += 1
        current.rows += 1
        assert current.handle is not None
        current.handle.write(b"%s\t%s\t%s\t%d\n" % (data, LOAD_ID_PLACEHOLDER, next(self._ids).encode(), self._seq))

    @property
    def rows(self) -> int:
        return sum(f.rows for runs in self.files.values() for f in runs)

    def close(self) -> None:
        for runs in self.files.values():
            for f in runs:
                if f.handle is not None:
                    f.handle.close()
                    f.handle = None

    def copy_rows(self, resource: str) -> list[CopyRows]:
        """The resource's rows, one `CopyRows` per file, read when the engine asks for them."""
        return [CopyRows(f.columns, _reader(f.path), sequenced=True) for f in self.files.get(resource, ())]


def _reader(path: Path):  # noqa: ANN202 - the CopyRows chunk function
    def chunks(load_id: str, batch_bytes: int) -> Iterator[bytes]:
        load = load_id.encode()
        rest = b""
        with open(path, "rb") as f:
            while piece := f.read(max(batch_bytes, 1 << 16)):
                piece = rest + piece
                cut = piece.rfind(b"\n") + 1
                rest = piece[cut:]
                if cut:
                    yield piece[:cut].replace(LOAD_ID_PLACEHOLDER, load)
        if rest:
            yield rest.replace(LOAD_ID_PLACEHOLDER, load)

    return chunks
