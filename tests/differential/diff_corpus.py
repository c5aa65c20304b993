"""Generated items for the differential harness: what a dlt user's resources yield.

Every item has an `id` (unique within its batch, so dlt's merges do not depend on which
duplicate wins), a `day` (a date, part of the upsert key, so key hashes see a typed
value), a `grp` (the merge key) and a few fields drawn from a pool of names, shared
across items so that columns repeat and their values change type (variants). Values
are every type both tools load: text (unicode, quotes, backslashes), ints up to the
int64 limits, floats, bools, None, aware and naive datetimes, dates, times, Decimals,
bytes and UUIDs, nested in dicts (flattened), lists of dicts and scalars (child
tables) and lists of lists. The pool holds names over 63 bytes and unicode names,
each of which snake-cases to a name of its own.

The second batch repeats some ids of the first with new content and adds new ones,
so merges update, insert and (scd2) retire rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

UTC = dt.timezone.utc
ZONES = (UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-8)))
LONG_NAME = "a_field_name_that_is_much_longer_than_the_sixty_three_bytes_postgres_allows"
UNICODE_NAMES = ("Größe", "ключ значения", "naïve 名前", "emoji 🎉 key")
NAMES = ("name", "amount", "camelCaseKey", "Mixed Case Key", LONG_NAME, *UNICODE_NAMES)
# generated examples of the CI corpus (derandomized: the same examples on every run), beside the
# explicit one; each costs 5-25 s on a 2-core machine (12 dlt runs and 12 pg_assets runs)
CI_EXAMPLES = 2
# the one key that takes a value of a new type in (almost) every item
VARIANT = "variant"
INT64 = 2 ** 63

# NUL bytes, which both tools drop from text, are in the explicit example (`EVERY_TYPE`).
# Text starting with one of dlt's typed-JSON markers (U+F026..U+F02D) is read back by dlt as another type:
# a difference left open (see `diff_waivers`), so the corpus keeps them out.
MARKERS = "".join(chr(c) for c in range(0xF026, 0xF02E))
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00" + MARKERS),
               max_size=10)
INTS = st.one_of(st.integers(-1000, 1000),
                 st.sampled_from([INT64 - 1, -INT64, INT64 // 2, 2 ** 53 + 1, -(2 ** 31)]))
# no infinities: dlt stores an infinite float of a dict item as NULL (its extract file writes it as JSON
# null), pg_assets as `Infinity` (a difference left open, see `diff_waivers`); NaN is NULL in both
FLOATS = st.floats(allow_nan=True, allow_infinity=False, width=64)
MOMENTS = dict(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))
AWARE = st.datetimes(**MOMENTS, timezones=st.sampled_from(ZONES))
NAIVE = st.datetimes(**MOMENTS)
DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1))
TIMES = st.times(timezones=st.one_of(st.none(), st.sampled_from(ZONES)))  # naive and aware
# numeric(38,9): 9 places, well inside 29 integer digits
DECIMALS = st.decimals(min_value=Decimal(-10) ** 12, max_value=Decimal(10) ** 12, places=9,
                       allow_nan=False, allow_infinity=False).map(lambda d: d.normalize() if d else Decimal(0))
# not b"": dlt reads empty bytes back from its extract file as the bare marker text "\uf02b" (left open,
# see `diff_waivers`)
BYTES = st.binary(min_size=1, max_size=8)

# name -> the strategy of one type; `SCALARS` draws any of them
SCALAR_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "text": TEXT, "int": INTS, "float": FLOATS, "bool": st.booleans(), "none": st.none(),
    "aware": AWARE, "naive": NAIVE, "date": DATES, "time": TIMES, "decimal": DECIMALS,
    "bytes": BYTES, "uuid": st.uuids(),
}
SCALARS = st.one_of(*SCALAR_TYPES.values())


# keys inside nested values: few, so that a corpus makes a few child tables, not dozens (dlt's
# time grows with the number of tables); the long one makes long flattened and child table names
NESTED_NAMES = ("camelCaseKey", LONG_NAME, "Größe")


def _nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One level of nesting: a dict (flattened into columns), a list (a child table), a list of lists."""
    return st.one_of(st.dictionaries(st.sampled_from(NESTED_NAMES), children, max_size=2),
                     st.lists(children, max_size=2),
                     st.lists(st.lists(children, max_size=2), max_size=2))


VALUES = st.recursive(SCALARS, _nested, max_leaves=4)


@st.composite
def items(draw: st.DrawFn, ids: list[int], revision: int) -> list[dict[str, Any]]:
    """One batch: an item per id, with the shared fields and a few drawn ones."""
    out = []
    for i in ids:
        item: dict[str, Any] = {"id": i, "day": dt.date(2024, 1, 1) + dt.timedelta(days=i % 3),
                                "grp": i % 2, "rev": revision}
        item[VARIANT] = draw(st.sampled_from(sorted(SCALAR_TYPES)).flatmap(SCALAR_TYPES.__getitem__))
        item.update(draw(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=3)))
        out.append(item)
    return out


@st.composite
def batches(draw: st.DrawFn, max_items: int = 3) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two batches: the second changes some ids of the first, keeps others out and adds new ones."""
    first = draw(st.lists(st.integers(1, 20), min_size=1, max_size=max_items, unique=True))
    kept = draw(st.lists(st.sampled_from(first), max_size=len(first), unique=True))
    new = draw(st.lists(st.integers(21, 40), max_size=max(1, max_items - len(kept)), unique=True))
    return draw(items(first, 1)), draw(items(kept + new, 2))


def _every_type(i: int, revision: int) -> dict[str, Any]:
    """An item holding one value of every type, nested every way, under long and unicode names."""
    moment = dt.datetime(2024, 1, i, 12, 30, 15, 250000, tzinfo=ZONES[i % 3])
    return {
        "id": i, "day": dt.date(2024, 1, 1) + dt.timedelta(days=i % 3), "grp": i % 2, "rev": revision,
        VARIANT: (i, f"text {i}", 1.5 * i, dt.date(2024, 2, i))[(i + revision) % 4],
        "name": f"zażółć 日本 🎉 'q' \"d\" \\ NUL\x00end {i}", "amount": Decimal(f"{i}.125000001"),
        "camelCaseKey": {"at": moment, "naive": moment.replace(tzinfo=None), "time": dt.time(23, 59, 58, 1)},
        "Mixed Case Key": [{"blob": bytes([0, i, 255]), "uuid": UUID(int=i), "ok": bool(i % 2)},
                           {"big": INT64 - 1, "small": -INT64, "f": -0.0, "nested": [[i, i + 1], [None]]}],
        LONG_NAME: {LONG_NAME: f"long {i}", "Größe": [1.25e-300, 6.02e23]},
        "ключ значения": None, "naïve 名前": ["a", "b"][: i % 3],
    }


# the explicit example of every run: ids 1-3, then 2 unchanged, 3 changed (revision) and 4 new
EVERY_TYPE = ([_every_type(i, 1) for i in (1, 2, 3)], [_every_type(2, 1), _every_type(3, 2), _every_type(4, 2)])
