"""`kind: files`: CSV, JSON Lines and JSON files, plain or gzipped, by path or glob.

```yaml
shop:
  kind: files
  dataset: raw_shop
  resources:
    customers: {path: data/shop/customers.csv, null_values: ["NA", ""]}
    orders: {path: "data/shop/orders/*.jsonl.gz", incremental: {cursor_path: ordered_at}}
```

CSV values are typed from their text (see `text_values`) unless a column hint's
`data_type` says otherwise. With `incremental`, the files already loaded and unchanged
(same size, and same modification time or content) are skipped; the list of loaded
files is saved in the resource's state with the load.
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from pydantic import AfterValidator, Field

from pg_assets.errors import ConfigError, TerminalLoadError
from pg_assets.sources import text_values
from pg_assets.sources.base import MISSING, CheckContext, Problem, SourceContext, SourceKind, as_items, select, snippet
from pg_assets.spec.models import Name, ResourceSpec, SourceSpec

Format = Literal["csv", "jsonl", "json"]
EXTENSIONS: dict[str, Format] = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl",
                                 ".ndjson": "jsonl", ".json": "json"}
PAGE_SIZE = 1000


def _encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding `{name}` (for example `utf-8`, `latin-1`, `cp1252`)") from None
    return name


class FilesResource(ResourceSpec):
    path: str | None = None
    """A file or glob (`data/*.csv.gz`), relative to the spec file's folder."""
    format: Format | None = None
    """`csv`, `jsonl` or `json`; from the extension when omitted (`.gz` looked through)."""
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
    defaults: FilesResource = Field(default_factory=FilesResource)
    """Options every resource of the source starts from."""
    resources: dict[Name, FilesResource] = Field(min_length=1)


def file_format(resource: FilesResource) -> Format | None:
    """The declared format, else the one the extension implies (`.gz` looked through)."""
    if resource.format:
        return resource.format
    name = (resource.path or "").lower().removesuffix(".gz")
    return EXTENSIONS.get(Path(name).suffix)


# ---------------------------------------------------------------- checks


def check(source: FilesSource, name: str, resource: FilesResource, context: CheckContext) -> Iterator[Problem]:
    if not resource.path:
        yield (), "missing `path`: a file or glob, relative to this file's folder"
        return
    fmt = file_format(resource)
    if fmt is None:
        yield ("path",), f"cannot tell the format of `{resource.path}`; add `format: csv`, `jsonl` or `json`"
    if resource.data_selector and fmt != "json":
        yield ("data_selector",), "`data_selector` applies to `format: json` only"
    if resource.delimiter and fmt != "csv":
        yield ("delimiter",), "`delimiter` applies to `format: csv` only"
    literal = not glob.has_magic(resource.path) and "${" not in resource.path
    if literal and not (context.base_dir / resource.path).expanduser().exists():
        yield ("path",), f"no file at `{resource.path}` (relative paths start at {context.base_dir})"


# ---------------------------------------------------------------- reading


def matching_files(resource: FilesResource, context: SourceContext) -> list[Path]:
    pattern = str(context.resolve(resource.path or ""))
    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not found:
        raise ConfigError(f"resource `{context.resource_name}`: no file matches `{resource.path}`")
    return found


def read(source: FilesSource, resource: FilesResource, context: SourceContext) -> Iterator[Any]:
    if context.incremental is None:
        for path in matching_files(resource, context):
            yield from _read_file(path, resource)
        return
    loaded = context.state.setdefault("files", {})
    for path in matching_files(resource, context):
        key = _state_key(path, context.base_dir)
        fingerprint = _fingerprint(path, loaded.get(key))
        if not _same_content(fingerprint, loaded.get(key)):
            yield from _read_file(path, resource)
        loaded[key] = fingerprint  # recorded only once the file was read to its end


def _state_key(path: Path, base_dir: Path) -> str:
    try:
        return path.relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _fingerprint(path: Path, known: list[Any] | None) -> list[Any]:
    """`[size, mtime_ns, sha256]`; the hash is reused while size and mtime are unchanged."""
    stat = path.stat()
    if known and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
        return list(known)
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
    return [stat.st_size, stat.st_mtime_ns, digest.hexdigest()]


def _same_content(fingerprint: list[Any], known: list[Any] | None) -> bool:
    """Same size and hash: a file touched or checked out again is still the same file."""
    return bool(known) and fingerprint[0] == known[0] and fingerprint[2] == known[2]


def _open(path: Path, encoding: str) -> IO[str]:
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a byte-order mark is not part of the first column's name
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return path.open(encoding=encoding, newline="")


def _read_file(path: Path, resource: FilesResource) -> Iterator[Any]:
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json}
    try:
        yield from readers[file_format(resource) or "csv"](path, resource)
    except UnicodeDecodeError as exc:
        raise TerminalLoadError(f"`{path}` is not {resource.encoding} text ({exc.reason}); set `encoding`") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise TerminalLoadError(f"`{path}` is not a complete gzip file: {exc}") from None


def _read_jsonl(path: Path, resource: FilesResource) -> Iterator[list[dict[str, Any]]]:
    page: list[dict[str, Any]] = []
    with _open(path, resource.encoding) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                page.extend(as_items(json.loads(line)))
            except json.JSONDecodeError as exc:
                raise TerminalLoadError(f"`{path}` line {number}: not JSON ({exc.msg}): {snippet(line)}") from None
            if len(page) >= PAGE_SIZE:
                yield page
                page = []
    if page:
        yield page


def _read_json(path: Path, resource: FilesResource) -> Iterator[list[dict[str, Any]]]:
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


def _csv_rows(path: Path, resource: FilesResource) -> Iterator[tuple[int, list[str]]]:
    delimiter = resource.delimiter or ("\t" if ".tsv" in path.name.lower() else ",")
    with _open(path, resource.encoding) as text:
        reader = csv.reader(text, delimiter=delimiter)
        for row in reader:
            if row:
                yield reader.line_num, row


def _read_csv(path: Path, resource: FilesResource) -> Iterator[list[dict[str, Any]]]:
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


def _header(path: Path, resource: FilesResource) -> list[str] | None:
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


def _column_parsers(path: Path, resource: FilesResource, header: list[str], nulls: set[str]) -> list[Any]:
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
