"""Flat items encoded a block at a time, column by column.

Most loads yield dicts with the same keys in the same order, every value a scalar of its
column's type. For those, flattening each item into a dict and checking it value by value
is work done again and again: a `Shape` remembers, for one order of keys, which column
each key fills and which exact Python types that column's encoder takes as they are.
`encode_block` then encodes a block of such items per column (one type check per column,
the encoder mapped over its values) and joins the cells into the same lines the general
path writes. A block it cannot take whole (a value of another type, a number that does
not fit) returns None, and its items go through the general path one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from pg_assets.normalize.encode import Encoder, Format
from pg_assets.normalize.types import NoFit
from pg_assets.sql.names import LOAD_ID, ROW_ID

BLOCK_ROWS = 512  # items held before a block is encoded: bounded memory, per-column calls amortised
_CONTAINERS = frozenset({dict, list, tuple})
_NONE = type(None)


class Shape:
    """How items with one order of keys become cells.

    `cells` holds, per key, its column's slot and its encoders by exact Python type (slot -1 and
    no encoders: the key has no column yet, so its value must be None; `partial` says whether
    any key is so). Containers are left out: they flatten, or are NULL in json columns when empty.
    """

    __slots__ = ("keys", "cells", "partial", "load_slot", "load_cell", "id_slot", "id_encoder")

    def __init__(self, slots: dict[str, int], natives: Sequence[frozenset[type]], encoders: Sequence[Encoder],
                 keys: tuple[Any, ...], columns: Sequence[str], load_id: str) -> None:
        self.keys = keys
        by_slot: dict[int, dict[type, Encoder]] = {}
        self.cells: list[tuple[int, dict[type, Encoder]]] = []
        for column in columns:
            slot = slots.get(column, -1)
            if slot >= 0 and slot not in by_slot:
                by_slot[slot] = dict.fromkeys(natives[slot] - _CONTAINERS, encoders[slot])
            self.cells.append((slot, by_slot.get(slot, {})))
        self.partial = any(slot < 0 for slot, _ in self.cells)
        self.load_slot = slots[LOAD_ID]
        self.load_cell = encoders[self.load_slot](load_id)
        self.id_slot = slots[ROW_ID]
        self.id_encoder = encoders[self.id_slot]


def encode_block(fmt: Format, width: int, shape: Shape, rows: list[tuple[Any, ...]],
                 ids: Iterator[str]) -> list[str] | None:
    """The lines of `rows` (values in `shape.keys` order) for a table of `width` columns, with
    `_dlt_load_id` and random `_dlt_id`s; None when some value needs the general path."""
    n = len(rows)
    null = fmt.null
    columns: list[Sequence[str]] = [(null,) * n] * width
    try:
        for (slot, encoders), values in zip(shape.cells, zip(*rows)):
            kinds = set(map(type, values))
            has_none = _NONE in kinds
            kinds.discard(_NONE)
            if not kinds:
                continue
            if not kinds <= encoders.keys():
                return None
            encode = encoders[kinds.pop()]  # one column, one encoder, whatever the types
            columns[slot] = [null if v is None else encode(v) for v in values] if has_none else list(
                map(encode, values))
    except NoFit:
        return None
    columns[shape.load_slot] = (shape.load_cell,) * n
    columns[shape.id_slot] = list(map(shape.id_encoder, islice(ids, n)))
    return list(map(fmt.row, zip(*columns)))
