"""Encoding typed values as text for the two wire formats.

`copy` is PostgreSQL's COPY text format; `insert_values` is SQL literals for large
`INSERT ... VALUES` statements (connections run with standard_conforming_strings on,
so a backslash inside a string literal is just a backslash). Both drop NUL bytes,
which Postgres text and jsonb cannot hold; numbers follow `sql.NON_FINITE`, the one table of
NaN and infinity rules (NaN floats are NULL, as dlt stores them).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pg_assets.json_codec import column_json
from pg_assets.normalize.types import INT64_MAX, INT64_MIN, NoFit, exact_float
from pg_assets.sql import NON_FINITE, decimal_literal, float_literal, text_literal

Encoder = Callable[[Any], str]

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": None})
_UTC = dt.timezone.utc


def copy_text(value: str) -> str:
    """Escape a string for COPY text format.

    Examples:
        >>> copy_text("a\\tb\\\\c")
        'a\\\\tb\\\\\\\\c'
    """
    # isprintable() is False for tab, newline, CR and NUL (and a few harmless others,
    # which merely take the slower path): one C-level scan for the common case.
    if value.isprintable() and "\\" not in value:
        return value
    return value.translate(_COPY_ESCAPES)




def _int_text(value: int) -> str:
    if INT64_MIN <= value <= INT64_MAX:
        return str(value)
    raise NoFit


def _naive_utc(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    return value.isoformat()


def _iso(value: Any) -> str:
    return value.isoformat()


@dataclass(frozen=True)
class Format:
    """One wire format: how NULL, each column type and a whole row are written."""

    name: str
    null: str
    encoders: dict[str, Encoder]
    row: Callable[[Sequence[str]], str]
    join: Callable[[Sequence[str]], str]

    def encoder(self, data_type: str, timezone: bool | None = None) -> Encoder:
        """The encoder for a column; `timezone=False` timestamps are stored as naive UTC."""
        if data_type == "timestamp" and timezone is False:
            return self.encoders["timestamp_naive"]
        return self.encoders[data_type]


# `sql.NON_FINITE`, the one table of NaN and infinity rules, as COPY text spells it
_NON_FINITE_COPY = {k: "\\N" if v is None else v for k, v in NON_FINITE.items()}


def _copy_float(value: float) -> str:
    text = repr(exact_float(value))
    return _NON_FINITE_COPY.get(text, text)


def _insert_float(value: float) -> str:
    return float_literal(exact_float(value))


def _copy_decimal(value: Any) -> str:
    text = str(value)
    return _NON_FINITE_COPY.get(text, text)


def bounded(encode: Encoder, precision: int, scale: int) -> Encoder:
    """`encode` for a `numeric(precision, scale)` column, refusing (NoFit) a finite number Postgres would
    reject as too large for it (one that rounds, at `scale` places, to 10 ** (precision - scale) or more)."""
    top = decimal.Decimal("9" * (precision - scale) + "." + "9" * scale + "5")  # exact: no context rounds it

    def run(value: Any) -> str:
        if (type(value) is not int and not value.is_finite()) or -top < value < top:
            return encode(value)
        raise NoFit

    return run


COPY = Format(
    name="copy",
    null="\\N",
    encoders={
        "text": copy_text,
        "bigint": _int_text,
        "double": _copy_float,
        "bool": lambda v: "t" if v else "f",
        "timestamp": _iso,
        "timestamp_naive": _naive_utc,
        "date": _iso,
        "time": _iso,
        "decimal": _copy_decimal,
        "wei": _copy_decimal,
        "binary": lambda v: "\\\\x" + bytes(v).hex(),
        "json": lambda v: copy_text(column_json(v)),
    },
    row=lambda cells: "\t".join(cells) + "\n",
    join="".join,
)

INSERT_VALUES = Format(
    name="insert_values",
    null="NULL",
    encoders={
        "text": text_literal,
        "bigint": _int_text,
        "double": _insert_float,
        "bool": lambda v: "TRUE" if v else "FALSE",
        "timestamp": lambda v: "'" + v.isoformat() + "'",
        "timestamp_naive": lambda v: "'" + _naive_utc(v) + "'",
        "date": lambda v: "'" + v.isoformat() + "'",
        "time": lambda v: "'" + v.isoformat() + "'",
        "decimal": decimal_literal,
        "wei": decimal_literal,
        "binary": lambda v: "'\\x" + bytes(v).hex() + "'",
        "json": lambda v: text_literal(column_json(v)),
    },
    row=lambda cells: "(" + ",".join(cells) + ")",
    join=",\n".join,
)

FORMATS: dict[str, Format] = {"copy": COPY, "insert_values": INSERT_VALUES}
