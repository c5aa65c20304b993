"""A source table's fetched rows as Arrow record batches, typed by the reflected columns.

The rows of a `sql_database` table (any dialect but the Postgres fast path) leave here
as `pyarrow.RecordBatch`es and take the engine's columnar path: no dict per row, no
Python per value on the way to the destination's binary COPY. Each column's Arrow type
comes from the same reflected hint the destination column gets (`sql_types.column_hint`),
so `numeric(12,2)` is `decimal128(12, 2)`, `timestamptz` is `timestamp[us, tz=UTC]`,
a `smallint` an `int16`.

pyarrow converts the driver's values column by column. Where a driver hands back values
pyarrow does not take for the type (MySQL's `tinyint(1)` booleans are ints, some drivers'
floats are `Decimal`s), the column is read as pyarrow infers it and cast. JSON and
arrays become JSON text and uuids their text, one Python step per value for those
columns only, exactly as the dict path encodes them.

A table with a column Arrow cannot carry (an unmapped type the user hinted, a decimal
wider than 38 digits) or a hint that changes a column's type keeps the dict path:
`arrow_columns` returns None. So does a chunk with a value its Arrow type cannot hold
(`record_batch` returns None): there the engine gives the value a variant column.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from pg_assets.normalize.arrow_types import column_type
from pg_assets.json_codec import column_json
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.normalize.sql_types import Hint, column_hint, hints_by_name, keeps_reflected_types
from pg_assets.sources.sql_result_types import described

# Arrow's decimal128 holds 38 digits; pgpq (the binary COPY encoder) has no decimal256
MAX_DECIMAL_DIGITS = 38
# an unconstrained source numeric lands in `numeric(38,9)` (`schema.postgres_type`)
DEFAULT_DECIMAL = (38, 9)


@dataclass(frozen=True)
class ArrowColumn:
    """How one fetched column becomes an Arrow array.

    Attributes:
        name: the source column name (the batch's field name).
        type: the Arrow type of the array; None: as pyarrow infers it from each chunk's values
            (a query's column whose type nothing told).
        convert: applied to each non-null value first, for the types pyarrow has no
            conversion for (JSON values, uuids); None for every other column.
    """

    name: str
    type: pa.DataType | None
    convert: Callable[[Any], Any] | None = None


def _integer(hint: Hint) -> pa.DataType:
    bits = hint.get("precision")
    return pa.int16() if bits == 16 else pa.int32() if bits == 32 else pa.int64()


def _decimal(hint: Hint) -> pa.DataType | None:
    precision, scale = hint.get("precision"), hint.get("scale")
    if precision is None:
        precision, scale = DEFAULT_DECIMAL
    return pa.decimal128(precision, scale or 0) if precision <= MAX_DECIMAL_DIGITS else None


def _timestamp(hint: Hint) -> pa.DataType:
    return pa.timestamp("us", tz="UTC" if hint.get("timezone") else None)


# reflected hint's data type -> the Arrow type its values are read into
ARROW_OF_HINT: dict[str, Callable[[Hint], pa.DataType | None]] = {
    "text": lambda h: pa.string(),
    "bigint": _integer,
    "double": lambda h: pa.float64(),
    "bool": lambda h: pa.bool_(),
    "timestamp": _timestamp,
    "date": lambda h: pa.date32(),
    "time": lambda h: pa.time64("us"),
    "decimal": _decimal,
    "binary": lambda h: pa.binary(),
    "json": lambda h: pa.string(),
}

# SQL types whose values need one Python step each before pyarrow takes them
CONVERTERS: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (sa.JSON, column_json),
    (postgresql.JSON, column_json),
    (postgresql.JSONB, column_json),
    (sa.ARRAY, column_json),
    (sa.Uuid, str),
    (postgresql.UUID, str),
)


def _converter(sql_type: Any) -> Callable[[Any], Any] | None:
    return next((convert for sql_class, convert in CONVERTERS if isinstance(sql_type, sql_class)), None)


def from_hint(name: str, hint: Hint | None, convert: Callable[[Any], Any] | None) -> ArrowColumn | None:
    """The Arrow reading of a column with the source type `hint`; None when Arrow cannot carry it."""
    make = ARROW_OF_HINT.get(hint["data_type"]) if hint else None
    arrow_type = make(hint) if make else None
    return None if arrow_type is None else ArrowColumn(name, arrow_type, convert)


def arrow_column(column: sa.Column, dialect: str) -> ArrowColumn | None:
    """The Arrow reading of one reflected column; None when Arrow cannot carry its values."""
    convert = _converter(column.type)
    if convert is str and not _uuid_objects(column.type):
        convert = None  # the dialect hands back the uuid's text already
    return from_hint(column.name, column_hint(column.type, dialect), convert)


def _uuid_objects(sql_type: Any) -> bool:
    return bool(getattr(sql_type, "as_uuid", True))


def arrow_columns(table: sa.Table, dialect: str, resource: Any) -> tuple[ArrowColumn, ...] | None:
    """The Arrow reading of every column of `table`, or None for the dict path: when a column has
    none, or the resource's hints change a column's type (see `keeps_reflected_types`)."""
    if not keeps_reflected_types(table.columns, hints_by_name(resource), dialect):
        return None
    columns = tuple(arrow_column(c, dialect) for c in table.columns)
    return None if any(c is None for c in columns) else columns  # type: ignore[return-value]


def query_columns(driver: str, description: Sequence[Sequence[Any]], first: Sequence[Sequence[Any]],
                  resource: Any) -> tuple[ArrowColumn, ...] | None:
    """The Arrow reading of a query's result (`sql_result_types`; undescribed columns as the first
    chunk's values say); None for the dict path: a hint changes a column's type, or a value has
    no column type."""
    found, hints = described(driver, description), hints_by_name(resource)
    values = list(zip(*first)) if first else [()] * len(description)
    columns = []
    for entry, column_values in zip(description, values):
        name, used = entry[0], hints.get(normalize_identifier(entry[0]))
        hint, convert = found.get(name, (None, None))
        if used is not None and used.data_type and used.data_type != (hint or {}).get("data_type"):
            return None
        column = from_hint(name, hint, convert) if hint else _inferred(name, column_values)
        if column is None:
            return None
        columns.append(column)
    return tuple(columns)


def _inferred(name: str, values: Sequence[Any]) -> ArrowColumn | None:
    """The type pyarrow infers from a first chunk, kept for the later ones (inferred chunk by chunk
    while the column holds no value); None when the values have no column type (a duration...)."""
    try:
        arrow_type = pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if pa.types.is_null(arrow_type):
        return ArrowColumn(name, None)
    return ArrowColumn(name, arrow_type) if column_type(arrow_type) is not None else None


def record_batch(columns: Sequence[ArrowColumn], rows: Sequence[Sequence[Any]]) -> pa.RecordBatch | None:
    """One fetched chunk as a record batch of `columns`' types; None when a value fits neither its
    column's type nor a cast to it (an integer beyond 64 bits, a decimal beyond its scale)."""
    values = list(zip(*rows)) if rows else [()] * len(columns)
    try:
        arrays = [_array(column, column_values) for column, column_values in zip(columns, values)]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return None
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def _array(column: ArrowColumn, values: Sequence[Any]) -> pa.Array:
    if column.convert is not None:
        convert = column.convert
        values = [None if v is None else convert(v) for v in values]
    try:
        return pa.array(values, type=column.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if column.type is None:
            raise
        # values of another Python type than the column's (ints for booleans, Decimals for floats)
        return pa.array(values).cast(column.type)
