"""Arrow record batches -> Postgres binary COPY, column by column, with no Python per value.

Why pgpq's binary COPY and not pyarrow's CSV writer into `COPY ... (FORMAT csv)`:
measured on the 10 columns of `benchmarks/load_throughput.py`, 1,000,000 rows into an
unlogged table of the embedded server, batches of 100k rows: CSV took 6.7 s (3.1 s
writing CSV, 3.6 s for the server to parse it), pgpq 2.6 s (1.0 s encoding, 1.6 s
COPY). Binary COPY also carries bytea and numeric natively, where CSV needed `\\x`
hex built in Python.

Binary COPY is strict: every value must be sent in exactly its column's Postgres type.
So each column is first cast to the one Arrow type that encodes as its DDL type
(`WIRE_TYPES`), dictionary arrays decoded, NUL characters dropped (text and jsonb
cannot hold them), NaN floats made NULL (as dlt stores them), nanoseconds cut to the
microseconds Postgres keeps, and nested values written as JSON text for jsonb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import StringEncoderBuilder
from pgpq.schema import Jsonb

from pg_assets.json_codec import column_json
from pg_assets.schema import Column


def _int_type(column: Column) -> pa.DataType:
    """The width of the column's DDL (`postgres_type`): smallint, integer or bigint."""
    p = column.precision
    return pa.int64() if p is None or p > 32 else pa.int16() if p <= 16 else pa.int32()


def _timestamp_type(column: Column) -> pa.DataType:
    return pa.timestamp("us", tz=None if column.timezone is False else "UTC")


# column type -> the Arrow type whose binary encoding is that column's Postgres type
WIRE_TYPES: dict[str, Callable[[Column], pa.DataType]] = {
    "text": lambda c: pa.string(),
    "bigint": _int_type,
    "double": lambda c: pa.float64(),
    "bool": lambda c: pa.bool_(),
    "timestamp": _timestamp_type,
    "date": lambda c: pa.date32(),
    "time": lambda c: pa.time64("us"),
    "decimal": lambda c: pa.decimal128(c.precision or 38, 9 if c.scale is None else c.scale),
    # pgpq has no 256-bit decimals; see `wire_array` for why a decimal128 is sent as it is
    "wei": lambda c: pa.decimal128(38, 9),
    "binary": lambda c: pa.binary(),
    "json": lambda c: pa.string(),
}


def _text(arr: pa.Array) -> pa.Array:
    if pc.any(pc.match_substring(arr, "\x00")).as_py():
        arr = pc.replace_substring(arr, "\x00", "")
    return arr


def _double(arr: pa.Array) -> pa.Array:
    nan = pc.is_nan(arr)
    return pc.if_else(nan, pa.scalar(None, arr.type), arr) if pc.any(nan).as_py() else arr


def _json(arr: pa.Array) -> pa.Array:
    if pat.is_string(arr.type) or pat.is_large_string(arr.type) or pat.is_string_view(arr.type):
        return arr.cast(pa.string())  # already JSON text (a string column hinted `json`)
    # no Arrow kernel writes JSON: one Python step per value, for nested columns only
    return pa.array([None if v is None else column_json(v) for v in arr.to_pylist()], pa.string())


# after the cast to the wire type: what else a column of each type needs
_CLEAN: dict[str, Callable[[pa.Array], pa.Array]] = {"text": _text, "json": _text, "double": _double}


def wire_array(arr: pa.Array, column: Column) -> pa.Array:
    """`arr` in the exact Arrow type that binary COPY into `column` needs.

    Raises:
        pa.ArrowInvalid, pa.ArrowNotImplementedError: a value does not fit the column's type.
    """
    if pat.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if column.data_type == "json":
        arr = _json(arr)
    target = WIRE_TYPES[column.data_type](column)
    if column.data_type == "wei" and pat.is_decimal128(arr.type):
        target = arr.type  # binary numeric carries its own scale; the server rounds it to wei's
    if arr.type != target:
        # nanoseconds are cut to microseconds, as they are in `datetime` values; every other cast is checked
        lossy_ok = pat.is_timestamp(arr.type) and pat.is_timestamp(target)
        arr = arr.cast(target, safe=not lossy_ok)
    clean = _CLEAN.get(column.data_type)
    return clean(arr) if clean else arr


def copy_payload(batch: pa.RecordBatch, columns: Sequence[Column]) -> bytes:
    """The whole binary COPY stream (header, rows, trailer) of one batch of wire arrays."""
    encoders = {
        field.name: (StringEncoderBuilder.new_with_output(field, Jsonb()) if column.data_type == "json"
                     else ArrowToPostgresBinaryEncoder.infer_encoder(field))
        for field, column in zip(batch.schema, columns)
    }
    encoder = ArrowToPostgresBinaryEncoder.new_with_encoders(batch.schema, encoders)
    return b"".join((encoder.write_header(), encoder.write_batch(batch), encoder.finish()))
