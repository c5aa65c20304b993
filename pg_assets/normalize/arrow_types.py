"""Arrow types -> column types, as dlt 1.31 maps them (`dlt/common/libs/pyarrow.py`).

One ordered table of predicates, not an `if` chain. Order matters: a dictionary is
looked through to its value type first; nested types (struct, list, map) become
`json`, as in dlt. The modifiers follow dlt: integer bit width as `precision`
(below 64), timestamp and time unit as `precision` (seconds 0, milliseconds 3,
microseconds 6; nanoseconds are capped at 6, the most Postgres keeps), `timezone:
false` for a timestamp without a zone, decimal precision and scale, the byte width of
fixed-size binary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import pyarrow as pa
import pyarrow.types as pat

from pg_assets.errors import SchemaContractError


@dataclass(frozen=True)
class ArrowColumnType:
    """The column type of one Arrow type, with the hints it carries."""

    data_type: str
    precision: int | None = None
    scale: int | None = None
    timezone: bool | None = None


_UNIT_PRECISION = {"s": 0, "ms": 3, "us": 6, "ns": 6}


def _integer(t: pa.DataType) -> ArrowColumnType:
    return ArrowColumnType("bigint", precision=t.bit_width if t.bit_width < 64 else None)


def _timestamp(t: pa.DataType) -> ArrowColumnType:
    return ArrowColumnType("timestamp", precision=_UNIT_PRECISION[t.unit], timezone=False if t.tz is None else None)


def _time(t: pa.DataType) -> ArrowColumnType:
    return ArrowColumnType("time", precision=_UNIT_PRECISION[t.unit])


def _binary(t: pa.DataType) -> ArrowColumnType:
    return ArrowColumnType("binary", precision=t.byte_width if pat.is_fixed_size_binary(t) else None)


def _decimal(t: pa.DataType) -> ArrowColumnType:
    return ArrowColumnType("decimal", precision=t.precision, scale=t.scale)


def _plain(data_type: str) -> Callable[[pa.DataType], ArrowColumnType]:
    return lambda t: ArrowColumnType(data_type)


def _is_text(t: pa.DataType) -> bool:
    return pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t)


def _is_binary(t: pa.DataType) -> bool:
    return pat.is_binary(t) or pat.is_large_binary(t) or pat.is_fixed_size_binary(t) or pat.is_binary_view(t)


def _is_nested(t: pa.DataType) -> bool:
    return pat.is_nested(t)  # struct, (large/fixed-size/view) list, map, union


# Order matters: bool before integer (neither is the other in Arrow, but keep dlt's order),
# fixed-size binary before nested (it is not nested), nested last.
ARROW_TYPES: tuple[tuple[Callable[[pa.DataType], bool], Callable[[pa.DataType], ArrowColumnType]], ...] = (
    (pat.is_boolean, _plain("bool")),
    (pat.is_integer, _integer),
    (pat.is_floating, _plain("double")),
    (pat.is_timestamp, _timestamp),
    (pat.is_date, _plain("date")),
    (pat.is_time, _time),
    (pat.is_decimal, _decimal),
    (_is_text, _plain("text")),
    (_is_binary, _binary),
    (_is_nested, _plain("json")),
)

def column_type(arrow_type: pa.DataType) -> ArrowColumnType | None:
    """The column type of an Arrow type, or None when it has no mapping (duration, interval, ...).

    Examples:
        >>> column_type(pa.timestamp("ms", tz="UTC"))
        ArrowColumnType(data_type='timestamp', precision=3, scale=None, timezone=None)
        >>> column_type(pa.dictionary(pa.int8(), pa.string())).data_type
        'text'
    """
    if pat.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    for matches, make in ARROW_TYPES:
        if matches(arrow_type):
            return make(arrow_type)
    return None


def unmapped(table: str, column: str, arrow_type: pa.DataType) -> SchemaContractError:
    """The error for an Arrow type without a column type: it names the hint that fixes it."""
    return SchemaContractError(
        f"Table `{table}`: column `{column}` has the Arrow type `{arrow_type}`, which has no column type. Cast it "
        f"before loading, or give it one with a column hint, e.g. `columns: {{{column}: {{data_type: text}}}}`.",
        table=table, column=column)
