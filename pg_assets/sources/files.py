"""`kind: files`: CSV, JSON Lines, JSON and Parquet files, local or at an fsspec URL.

```yaml
shop:
  kind: files
  dataset: raw_shop
  resources:
    customers: {path: data/shop/customers.csv, null_values: ["NA", ""]}
    orders: {path: "data/shop/orders/*.jsonl.gz", incremental: {cursor_path: ordered_at}}
    events: {path: "s3://bucket/events/*.parquet", storage_options: {anon: false}}
```

CSV and Parquet are read by pyarrow into record batches, streamed; CSV values are
typed from their text by the rules of `text_values` (applied to whole columns by
`csv_columns`) unless a column hint's `data_type` says otherwise. JSON Lines are read
by pyarrow too when that gives the same tables as dicts would (`jsonl_columns`);
files with nested objects or lists, and JSON documents, stay items (dicts), so nested
lists still become child tables. Files may be
compressed (`.gz`, `.bz2`, `.zst`). With `incremental`, the files already loaded and
unchanged (same size, and same content hash, ETag or modification time) are skipped;
the list of loaded files is saved in the resource's state with the load.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import json
import os
from collections.abc import Iterator, Mapping
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import pyarrow as pa

from pydantic import AfterValidator, Field

from pg_assets.errors import TerminalLoadError
from pg_assets.sources import csv_columns, jsonl_columns, text_values
from pg_assets.sources.file_store import FileRef, fingerprint, is_url, list_files, open_binary, open_seekable, \
    same_content, strip_compression
from pg_assets.sources.base import MISSING, CheckContext, Problem, SourceContext, SourceKind, as_items, select, snippet
from pg_assets.spec.models import Name, ResourceSpec, SourceSpec

Format = Literal["csv", "jsonl", "json", "parquet"]
EXTENSIONS: dict[str, Format] = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                                 ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
PAGE_SIZE = 1000
PARQUET_BATCH_ROWS = 65536


def _encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding `{name}` (for example `utf-8`, `latin-1`, `cp1252`)") from None
    return name


class FilesResource(ResourceSpec):
    path: str | None = None
    """A file or glob (`data/*.csv.gz`), relative to the spec file's folder, or an fsspec URL
    (`s3://bucket/in/*.parquet`, `gs://`, `az://`, `https://`, `sftp://`, `file://`)."""
    format: Format | None = None
    """`csv`, `jsonl`, `json` or `parquet`; from the extension when omitted (`.gz`, `.bz2`, `.zst` looked
    through)."""
    storage_options: dict[str, Any] | None = None
    """Passed to fsspec unchanged for URL paths (s3fs: `{endpoint_url: ..., key: ${AWS_KEY}, secret: ...}`)."""
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    """CSV field separator; `,` (tab for `.tsv`) by default."""
    encoding: Annotated[str, AfterValidator(_encoding)] = "utf-8"
    """Text encoding; a UTF-8 byte-order mark is skipped."""
    null_values: list[str] = Field(default_factory=lambda: [""])
    """CSV texts read as NULL; `["NA", ""]` for R-style data."""
    data_selector: str | None = None
    """JSON: the path to the list of items (`data.items`)."""


class FilesSource(SourceSpec):
    resource_model = FilesResource

    kind: Literal["files"]
    """`files`."""
    defaults: FilesResource = Field(default_factory=FilesResource)
    """Options every resource of the source starts from."""
    resources: dict[Name, FilesResource] = Field(min_length=1)
    """The tables: one resource each, by name."""


def file_format(resource: FilesResource) -> Format | None:
    """The declared format, else the one the extension implies (`.gz` looked through)."""
    return resource.format or _implied_format(resource.path or "")


@lru_cache(maxsize=4096)
def _implied_format(path: str) -> Format | None:
    """The format a path's extension implies; cached, as a large spec repeats a few patterns."""
    return EXTENSIONS.get(os.path.splitext(strip_compression(path.lower()))[1])


# ---------------------------------------------------------------- checks


def check(source: FilesSource, name: str, resource: FilesResource, context: CheckContext) -> Iterator[Problem]:
    if not resource.path:
        yield (), "missing `path`: a file or glob, relative to this file's folder"
        return
    fmt = file_format(resource)
    if fmt is None:
        yield ("path",), (f"cannot tell the format of `{resource.path}`; add `format: csv`, `jsonl`, `json` or "
                          "`parquet`")
    if resource.data_selector and fmt != "json":
        yield ("data_selector",), "`data_selector` applies to `format: json` only"
    if resource.delimiter and fmt != "csv":
        yield ("delimiter",), "`delimiter` applies to `format: csv` only"
    if resource.storage_options and not is_url(resource.path):
        yield ("storage_options",), "`storage_options` applies to URL paths (`s3://...`) only"
    literal = not glob.has_magic(resource.path) and "${" not in resource.path and not is_url(resource.path)
    if literal and not os.path.exists(os.path.expanduser(os.path.join(context.base_dir, resource.path))):
        yield ("path",), f"no file at `{resource.path}` (relative paths start at {context.base_dir})"


# ---------------------------------------------------------------- reading


def matching_files(resource: FilesResource, context: SourceContext) -> list[FileRef]:
    return list_files(resource.path or "", resource.storage_options, context.base_dir, context.resource_name)


def read(source: FilesSource, resource: FilesResource, context: SourceContext) -> Iterator[Any]:
    files = matching_files(resource, context)  # listed first: an unreachable store fails before any read
    if context.incremental is None:
        for ref in files:
            yield from _read_file(ref, resource)
        return
    loaded = context.state.setdefault("files", {})
    cursor = context.incremental.cursor_path
    for ref in files:
        known = loaded.get(ref.state_key)
        now = fingerprint(ref, known)
        if not same_content(now, known):
            yield from _read_file(ref, resource, cursor)
        loaded[ref.state_key] = now  # recorded only once the file was read to its end


def _open(ref: FileRef, encoding: str) -> IO[str]:
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a byte-order mark is not part of the first column's name
    return io.TextIOWrapper(open_binary(ref), encoding=encoding, newline="")


def _read_file(ref: FileRef, resource: FilesResource, cursor: str | None = None) -> Iterator[Any]:
    readers = {"csv": _read_csv, "jsonl": partial(_read_jsonl, cursor=cursor), "json": _read_json,
               "parquet": _read_parquet}
    try:
        yield from readers[file_format(resource) or "csv"](ref, resource)
    except UnicodeDecodeError as exc:
        raise TerminalLoadError(f"`{ref}` is not {resource.encoding} text ({exc.reason}); set `encoding`") from None
    except (OSError, EOFError, pa.ArrowInvalid) as exc:
        raise TerminalLoadError(f"`{ref}` cannot be read: {str(exc).splitlines()[0] if str(exc) else exc!r}"
                                ) from None


def _read_parquet(ref: FileRef, resource: FilesResource) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(open_seekable(ref))
    except (OSError, pa.ArrowInvalid) as exc:
        raise TerminalLoadError(f"`{ref}` is not a Parquet file: {exc}") from None
    for group in range(parquet.num_row_groups):
        try:
            yield from parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[group])
        except (OSError, pa.ArrowInvalid) as exc:
            raise TerminalLoadError(f"`{ref}` row group {group}: cannot be read: {exc}") from None


def _read_jsonl(ref: FileRef, resource: FilesResource, cursor: str | None = None) -> Iterator[Any]:
    """Record batches through pyarrow where they give the dict path's tables (see `jsonl_columns`), else dicts.

    pyarrow reads UTF-8 only, and a `columns` hint's `data_type` coerces value by value on the dict path, so
    files in another encoding or with such hints stay dicts. So does a file whose incremental `cursor`
    column pyarrow would turn into timestamps: the cursor keeps the ISO text the dict path compares, so a
    glob of flat and nested files keeps one cursor type.
    """
    hinted = any(hint.data_type for hint in (resource.columns or {}).values())
    utf8 = codecs.lookup(resource.encoding).name == "utf-8"
    columns = jsonl_columns.plan(lambda: open_binary(ref)) if utf8 and not hinted else None
    if columns is not None and columns.columns.get(cursor or "") == "timestamp":
        columns = None
    if columns is None:
        yield from _read_jsonl_items(ref, resource)
    else:
        yield from jsonl_columns.batches(lambda: open_binary(ref), columns)


def _read_jsonl_items(path: FileRef, resource: FilesResource) -> Iterator[list[dict[str, Any]]]:
    page: list[dict[str, Any]] = []
    with _open(path, resource.encoding) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                page.extend(as_items(json.loads(line)))
            except json.JSONDecodeError as exc:
                raise TerminalLoadError(f"`{path}` line {number}, column {exc.colno}: not JSON ({exc.msg}): "
                                        f"{snippet(line)}") from None
            if len(page) >= PAGE_SIZE:
                yield page
                page = []
    if page:
        yield page


def _read_json(path: FileRef, resource: FilesResource) -> Iterator[list[dict[str, Any]]]:
    with _open(path, resource.encoding) as text:
        content = text.read()
    try:
        document = json.loads(content)
    except json.JSONDecodeError as exc:
        raise TerminalLoadError(f"`{path}` line {exc.lineno}: not JSON ({exc.msg}): {snippet(content)}") from None
    selected = select(document, resource.data_selector)
    if selected is MISSING:
        raise TerminalLoadError(f"`{path}` has nothing at `data_selector: {resource.data_selector}`: "
                                f"{snippet(content)}")
    yield list(as_items(selected))


# ---------------------------------------------------------------- CSV


def _delimiter(ref: FileRef, resource: FilesResource) -> str:
    return resource.delimiter or ("\t" if ".tsv" in Path(ref.path).name.lower() else ",")


def _read_csv(ref: FileRef, resource: FilesResource) -> Iterator[Any]:
    """Record batches typed column by column; a file with irregular rows is read row by row instead."""
    header = _header(ref, resource)
    if header is None:
        return
    hinted = [_hinted_type(name, resource.columns or {}) for name in header]
    args = (lambda: open_binary(ref), header, _delimiter(ref, resource), resource.encoding, resource.null_values)
    try:
        types = [hint or "bool" for hint in hinted]  # placeholders, replaced below
        candidates = {i: text_values.candidates() for i, hint in enumerate(hinted) if hint is None}
        for batch in csv_columns.text_batches(*args):
            for i in candidates:
                if candidates[i]:
                    candidates[i] = csv_columns.narrow(candidates[i], batch.column(i))
    except csv_columns.Irregular:
        yield from _read_csv_rows(ref, resource)
        return
    for i, found in candidates.items():
        types[i] = found[0] if found else "text"
    done = 0
    for batch in csv_columns.text_batches(*args):
        where = lambda i: f"`{ref}` line {done + i + 2}"  # noqa: E731 - the header is line 1
        yield csv_columns.convert(batch, types, where, [h is not None for h in hinted])
        done += batch.num_rows


def _csv_rows(ref: FileRef, resource: FilesResource) -> Iterator[tuple[int, list[str]]]:
    delimiter = _delimiter(ref, resource)
    with _open(ref, resource.encoding) as text:
        reader = csv.reader(text, delimiter=delimiter)
        for row in reader:
            if row:
                yield reader.line_num, row


def _read_csv_rows(path: FileRef, resource: FilesResource) -> Iterator[list[dict[str, Any]]]:
    """Row by row, for files whose rows do not all have the header's field count (short rows get NULLs)."""
    header = _header(path, resource)
    if header is None:
        return
    nulls = set(resource.null_values)
    parsers = _column_parsers(path, resource, header, nulls)
    page: list[dict[str, Any]] = []
    rows = _csv_rows(path, resource)
    next(rows)
    for line, row in rows:
        if len(row) > len(header):
            raise TerminalLoadError(f"`{path}` line {line}: {len(row)} fields, but the header has {len(header)}: "
                                    f"{snippet(','.join(row))}")
        page.append(_convert(row, header, parsers, nulls, f"`{path}` line {line}"))
        if len(page) >= PAGE_SIZE:
            yield page
            page = []
    if page:
        yield page


def _header(path: FileRef, resource: FilesResource) -> list[str] | None:
    first = next(_csv_rows(path, resource), None)
    if first is None:
        return None
    header = [name.strip() for name in first[1]]
    doubles = sorted({n for n in header if header.count(n) > 1})
    if doubles or "" in header:
        problem = f"column `{doubles[0]}` appears twice" if doubles else "a column has no name"
        raise TerminalLoadError(f"`{path}` header: {problem}: {snippet(','.join(first[1]))}")
    return header


def _convert(row: list[str], header: list[str], parsers: list[Any], nulls: set[str], where: str) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name, text, parser in zip(header, row, parsers):
        try:
            item[name] = None if text in nulls else parser(text) if parser else text
        except ValueError:
            raise TerminalLoadError(f"{where}, column `{name}`: `{text[:60]}` does not fit the column's "
                                    f"`data_type` hint") from None
    return item


def _column_parsers(path: FileRef, resource: FilesResource, header: list[str], nulls: set[str]) -> list[Any]:
    """One parser per column: from the `data_type` hint, else inferred from the whole file."""
    hinted = {i: _hinted_type(name, resource.columns or {}) for i, name in enumerate(header)}
    types: dict[int, list[str]] = {i: text_values.candidates() for i, t in hinted.items() if t is None}
    rows = _csv_rows(path, resource)
    next(rows)
    for _line, row in rows:
        for i, text in enumerate(row[: len(header)]):
            if i in types and types[i] and text not in nulls:
                types[i] = text_values.narrow(types[i], text)
    return [text_values.parser_for(hinted[i], hinted=True) if hinted[i]
            else text_values.parser_for(types[i][0] if types[i] else "text") for i in range(len(header))]


def _hinted_type(column: str, hints: Mapping[str, Any]) -> str | None:
    from pg_assets import normalize_identifier

    hint = hints.get(column) or hints.get(normalize_identifier(column))
    return hint.data_type if hint is not None else None


KIND = SourceKind(name="files", source_model=FilesSource, read=read, check=check)
