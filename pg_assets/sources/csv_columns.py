"""CSV files -> Arrow record batches, typed by the same rules as `text_values`, in C.

pyarrow's own type inference would read `007` as the number 7, so every column is
read as text and typed here: a first streaming pass narrows each column's candidate
types with the regular expressions of `text_values` applied to whole arrays
(`pyarrow.compute`), the second pass converts each batch. A `data_type` hint skips
the inference and converts with that type, failing on the first value that does not
fit with the file, line and column.

Timestamps are read as UTC instants: a value with an offset is converted, one without
is taken as UTC (as a naive timestamp is stored in a `timestamp with time zone`
column), a date alone is midnight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from pg_assets.errors import TerminalLoadError
from pg_assets.sources import text_values

BLOCK_SIZE = 1 << 20
Opener = Callable[[], pa.NativeFile]


class Irregular(Exception):
    """A row has more or fewer fields than the header: the caller reads the file row by row instead."""


def _reader(open_file: Opener, header: Sequence[str], delimiter: str, encoding: str,
            nulls: Sequence[str], irregular: list[int]) -> pa_csv.CSVStreamingReader:
    def on_invalid(row: pa_csv.InvalidRow) -> str:
        irregular.append(row.actual_columns)
        return "error"

    return pa_csv.open_csv(
        open_file(),
        read_options=pa_csv.ReadOptions(column_names=list(header), skip_rows=1, encoding=encoding,
                                        block_size=BLOCK_SIZE, use_threads=True),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                          invalid_row_handler=on_invalid),
        convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in header},
                                              null_values=list(nulls), strings_can_be_null=True,
                                              quoted_strings_can_be_null=True))


def text_batches(open_file: Opener, header: Sequence[str], delimiter: str, encoding: str,
                 nulls: Sequence[str]) -> Iterator[pa.RecordBatch]:
    """The file's rows as batches of text columns; `Irregular` when a row has the wrong field count."""
    irregular: list[int] = []
    try:
        yield from _reader(open_file, header, delimiter, encoding, nulls, irregular)
    except pa.ArrowInvalid:
        if irregular:
            raise Irregular from None
        raise


# ---- inference ----------------------------------------------------------------------------

_BOOL = r"(?i)^(true|false)$"
_LEADING_ZERO = r"^[-+]?0[0-9]"  # "007" is an identifier, not a number
_SAMPLE = 64


def _matches(pattern: str) -> Callable[[pa.Array], bool]:
    return lambda arr: pc.all(pc.match_substring_regex(arr, pattern)).as_py() is not False


def _casts(arr: pa.Array, to: pa.DataType) -> bool:
    try:
        arr.cast(to)
    except pa.ArrowInvalid:
        return False
    return True


# Each check casts first (it stops at the first bad value) and runs a regular expression only
# on arrays that cast, to refuse what pyarrow accepts and `text_values` does not.
def _accepts_int(arr: pa.Array) -> bool:
    # what casts to int64 matches `text_values.INT` but for leading zeros
    return _casts(_strip_plus(arr), pa.int64()) and not pc.any(pc.match_substring_regex(arr, _LEADING_ZERO)).as_py()


def _accepts_float(arr: pa.Array) -> bool:
    # what casts to float64 has a digit; the pattern refuses `nan`, `inf` and `5.`
    return _casts(arr, pa.float64()) and _matches(text_values.FLOAT.pattern)(arr)


def _accepts_date(arr: pa.Array) -> bool:
    return _casts(arr, pa.date32()) and _matches(text_values.DATE.pattern)(arr)


def _accepts_timestamp(arr: pa.Array) -> bool:
    if not pc.all(pc.or_(pc.match_substring_regex(arr, text_values.TIMESTAMP.pattern),
                         pc.match_substring_regex(arr, text_values.DATE.pattern))).as_py():
        return False
    try:
        to_timestamp(arr)
    except pa.ArrowInvalid:
        return False
    return True


# the same candidates, in the same order, as `text_values._PARSERS`
_ACCEPTS: dict[str, Callable[[pa.Array], bool]] = {
    "bool": _matches(_BOOL),
    "bigint": _accepts_int,
    "double": _accepts_float,
    "date": _accepts_date,
    "timestamp": _accepts_timestamp,
}
# a type whose check passed implies these later ones pass too (every integer is a float, every date a timestamp)
_IMPLIES: dict[str, frozenset[str]] = {"bigint": frozenset({"double"}), "date": frozenset({"timestamp"})}


def narrow(types: list[str], arr: pa.Array) -> list[str]:
    """The types among `types` that accept every non-null value of `arr`.

    The first values are tried first, so a type they refuse never scans the whole array.
    """
    values = arr.drop_null()
    if not len(values):
        return types
    head = values.slice(0, _SAMPLE)
    kept, implied = [], set()
    for name in types:
        if name in implied or (_ACCEPTS[name](head) and _ACCEPTS[name](values)):
            kept.append(name)
            implied |= _IMPLIES.get(name, frozenset())
    return kept


# ---- conversion ---------------------------------------------------------------------------

_ZONE = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"  # after a time: `2024-01-01` has none


def _strip_plus(arr: pa.Array) -> pa.Array:
    """Without a leading `+`, which pyarrow's integer cast refuses."""
    return pc.replace_substring_regex(arr, r"^\+", "") if pc.any(pc.starts_with(arr, "+")).as_py() else arr


def to_timestamp(arr: pa.Array) -> pa.Array:
    """ISO dates and timestamps as UTC instants (without an offset: UTC; a date alone: midnight)."""
    utc = pa.timestamp("us", tz="UTC")
    zoned = pc.match_substring_regex(arr, _ZONE)
    date_only = pc.match_substring_regex(arr, text_values.DATE.pattern)
    null = pa.nulls(1, pa.string())[0]  # not `pa.scalar(None)`, whose conversion imports pandas
    parts = [pc.if_else(zoned, arr, null).cast(utc),
             pc.if_else(date_only, arr, null).cast(pa.date32()).cast(pa.timestamp("us")).cast(utc),
             pc.if_else(pc.or_(zoned, date_only), null, arr).cast(pa.timestamp("us")).cast(utc)]
    return pc.coalesce(*parts)


def _to_bool(arr: pa.Array) -> pa.Array:
    lower = pc.utf8_lower(arr)
    ok = pc.or_kleene(pc.is_null(arr), pc.is_in(lower, pa.array(["true", "false"])))
    if not pc.all(ok).as_py():
        raise pa.ArrowInvalid("not true or false")
    return pc.equal(lower, "true")


def _to_decimal(arr: pa.Array) -> pa.Array:
    arr.cast(pa.decimal128(38, 9), safe=False)  # checked here, kept as written: the column's scale applies
    return arr


# column type -> how a text array becomes that type
CONVERT: dict[str, Callable[[pa.Array], pa.Array]] = {
    "bool": _to_bool,
    "bigint": lambda a: _strip_plus(pc.utf8_trim_whitespace(a)).cast(pa.int64()),
    "double": lambda a: pc.utf8_trim_whitespace(a).cast(pa.float64()),
    "date": lambda a: a.cast(pa.date32()),
    "timestamp": to_timestamp,
    "decimal": _to_decimal,
    "wei": _to_decimal,
}


def convert(batch: pa.RecordBatch, types: Sequence[str | None], where: Callable[[int], str],
            hinted: Sequence[bool]) -> pa.RecordBatch:
    """A batch of text columns in their types; the first bad value of a hinted column fails the load."""
    arrays = []
    for name, arr, data_type, is_hint in zip(batch.schema.names, batch.columns, types, hinted):
        step = CONVERT.get(data_type or "text")
        if step is None:
            arrays.append(arr)
            continue
        try:
            arrays.append(step(arr))
        except pa.ArrowInvalid:
            raise _bad_value(arr, name, data_type or "text", where) from None
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _bad_value(arr: pa.Array, name: str, data_type: str, where: Callable[[int], str]) -> TerminalLoadError:
    parse = text_values.parser_for(data_type, hinted=True) or str
    for index, text in enumerate(arr.to_pylist()):
        if text is None:
            continue
        try:
            parse(text)
        except ValueError:
            return TerminalLoadError(f"{where(index)}, column `{name}`: `{text[:60]}` does not fit the column's "
                                     f"`data_type` hint `{data_type}`")
    return TerminalLoadError(f"{where(0)}, column `{name}`: a value does not fit the column's `data_type` hint "
                             f"`{data_type}`")
