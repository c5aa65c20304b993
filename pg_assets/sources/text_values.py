"""Typed values from CSV text: one table of parsers, one widening rule.

A column's type is the first entry of `_PARSERS` that accepts every non-null value
of the column in the file; when none does, the column stays text. A column hint's
`data_type` skips the inference and parses with that type's parser.

Examples:
    >>> infer_column(["1", "2", "-3"])
    'bigint'
    >>> infer_column(["1", "2.5"])
    'double'
    >>> infer_column(["007", "123"])
    'text'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")  # "007" is an identifier, not a number
_FLOAT = re.compile(r"^[-+]?(0|[1-9][0-9]*)?(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?$")
_BOOLS = {"true": True, "false": False}
# the same patterns, applied to whole columns by `csv_columns`
INT, FLOAT, DATE, TIMESTAMP = _INT, _FLOAT, _DATE, _TIMESTAMP


class Rejected(ValueError):
    """The text is not a value of this type."""


def _parse_bool(text: str) -> bool:
    try:
        return _BOOLS[text.lower()]
    except KeyError:
        raise Rejected(text) from None


def _parse_int(text: str) -> int:
    if not _INT.match(text):
        raise Rejected(text)
    return int(text)


def _parse_float(text: str) -> float:
    if not _FLOAT.match(text) or not any(c.isdigit() for c in text):
        raise Rejected(text)
    return float(text)


def _parse_date(text: str) -> date:
    if not _DATE.match(text):
        raise Rejected(text)
    return date.fromisoformat(text)


def _parse_timestamp(text: str) -> datetime:
    if not (_TIMESTAMP.match(text) or _DATE.match(text)):
        raise Rejected(text)
    return datetime.fromisoformat(text)


def _parse_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise Rejected(text) from None


# Order matters: the first parser that accepts all of a column's values wins, so
# bool comes before bigint, bigint before double, and date before timestamp.
_PARSERS: tuple[tuple[str, Callable[[str], Any]], ...] = (
    ("bool", _parse_bool),
    ("bigint", _parse_int),
    ("double", _parse_float),
    ("date", _parse_date),
    ("timestamp", _parse_timestamp),
)

# what a `data_type` column hint parses the text with (others keep the text); a hint
# is an order, so these accept what inference would not guess ("007" as a number)
HINTED: dict[str, Callable[[str], Any]] = {
    "bool": _parse_bool,
    "bigint": int,
    "double": float,
    "date": date.fromisoformat,
    "timestamp": datetime.fromisoformat,
    "decimal": _parse_decimal,
    "wei": _parse_decimal,
}
_INFERRED = dict(_PARSERS)


def candidates() -> list[str]:
    """Every inferable type, before any value is seen."""
    return [name for name, _ in _PARSERS]


def narrow(types: list[str], text: str) -> list[str]:
    """The types among `types` that still accept `text`."""
    return [name for name in types if _accepts(name, text)]


def _accepts(name: str, text: str) -> bool:
    try:
        _INFERRED[name](text)
    except (Rejected, ValueError):
        return False
    return True


def infer_column(values: Iterable[str]) -> str:
    """The type of a column of non-null texts: the first accepting all, else `text`."""
    types = candidates()
    for text in values:
        types = narrow(types, text)
        if not types:
            break
    return types[0] if types else "text"


def parser_for(data_type: str, *, hinted: bool = False) -> Callable[[str], Any] | None:
    """How to turn text into `data_type`; None keeps the text as it is."""
    return (HINTED if hinted else _INFERRED).get(data_type)
