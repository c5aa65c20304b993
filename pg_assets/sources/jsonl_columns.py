"""JSON Lines files -> Arrow record batches, wherever that gives the tables the dict path gives.

The dict path (`json.loads` per line, then the row normaliser) is the reference: a
column takes the type of its first non-null value, later values are coerced to it or
go to a variant column, an ISO timestamp string makes a `timestamp` column, nested
objects are flattened into `parent__child` columns and lists become child tables.

pyarrow's reader types a column from all of a block's values instead: `[1, 2.5]` is
one double column where the dict path makes a bigint column and a variant; a nested
object is a struct, which the columnar path stores as json where the dict path
flattens it. So a first streaming pass (`plan`) reads the file with pyarrow and keeps
it on this path only when every column is flat (bool, bigint, double, text, or all
null) and typed as the dict path would type it; any other file returns `None` and is
read as dicts, which also gives malformed lines their line and column in the error.
The second pass (`batches`) converts timestamp columns, drops all-null columns (the
dict path creates no column for a key that was only ever null) and orders the columns
as the dict path adds them, by the row of their first non-null value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from pg_assets.normalize.types import ISO_TIMESTAMP
from pg_assets.sources.csv_columns import to_timestamp

BLOCK_SIZE = 1 << 20
Opener = Callable[[], pa.NativeFile]

_FLAT = (pa.bool_(), pa.int64(), pa.float64(), pa.string(), pa.null())


@dataclass(frozen=True)
class Plan:
    """How the file is read (`schema`) and what each kept column becomes (`keep` or `timestamp`), in the
    order the dict path creates them: by the row of their first non-null value."""

    schema: pa.Schema
    columns: dict[str, str]


def _reader(open_file: Opener, schema: pa.Schema | None = None) -> pa_json.JSONStreamingReader:
    return pa_json.open_json(open_file(), read_options=pa_json.ReadOptions(block_size=BLOCK_SIZE),
                             parse_options=pa_json.ParseOptions(explicit_schema=schema))


def _text_schema(open_file: Opener) -> pa.Schema:
    """The first block's schema with pyarrow's timestamps as text: the dict path types `2024-01-31` as text."""
    inferred = _reader(open_file).schema
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in inferred])


def plan(open_file: Opener) -> Plan | None:
    """How to read the file, or `None` when it must be read as dicts to give the same tables."""
    try:
        schema = _text_schema(open_file)
        if any(field.type not in _FLAT for field in schema):
            return None
        found = _scan(_reader(open_file, schema))
    except pa.ArrowInvalid:
        return None
    if not found:
        return None  # rows of nulls only, or a column pyarrow would type otherwise: the dict path decides
    order = sorted(found, key=lambda name: (found[name][1], schema.get_field_index(name)))
    return Plan(schema, {name: found[name][0] for name in order})


def _scan(reader: pa_json.JSONStreamingReader) -> dict[str, tuple[str, int]] | None:
    """Each column with a non-null value: its kind and the row of that first value; `None` for dicts."""
    found: dict[str, tuple[str, int]] = {}
    done = 0
    for batch in reader:
        for name, arr in zip(batch.schema.names, batch.columns):
            kind = _narrow(found[name][0] if name in found else None, arr)
            if kind == "dict":
                return None
            if kind is not None and name not in found:
                found[name] = (kind, done + pc.index(arr.is_valid(), True).as_py())
        done += batch.num_rows
    return found


def _narrow(kind: str | None, arr: pa.Array) -> str | None:
    """The column's kind once `arr` is read: decided by its first non-null value, then checked on the rest."""
    values = arr.drop_null()
    if not len(values):
        return kind
    if kind is None:
        kind = _first_kind(values[0])
    if kind == "timestamp" and not _all_timestamps(values):
        return "dict"  # a later text value would go to a variant column
    return kind


def _first_kind(first: pa.Scalar) -> str:
    if pa.types.is_floating(first.type) and float(first.as_py()).is_integer():
        return "dict"  # written `1` (a bigint column) or `1.0`: the Arrow value cannot tell
    if pa.types.is_string(first.type) and ISO_TIMESTAMP.match(first.as_py()):
        return "timestamp"
    return "keep"


def _all_timestamps(values: pa.Array) -> bool:
    if not pc.all(pc.match_substring_regex(values, ISO_TIMESTAMP.pattern)).as_py():
        return False
    try:
        to_timestamp(values)
    except pa.ArrowInvalid:
        return False
    return True


def batches(open_file: Opener, how: Plan) -> Iterator[pa.RecordBatch]:
    """The file's rows as record batches, converted as `how` says; columns only ever null left out."""
    for batch in _reader(open_file, how.schema):
        arrays = [to_timestamp(batch.column(name)) if kind == "timestamp" else batch.column(name)
                  for name, kind in how.columns.items()]
        yield pa.RecordBatch.from_arrays(arrays, names=list(how.columns))
