"""pg_assets writes and reads what dlt 1.31 writes and reads: state, boundary hashes, row keys.

Every expectation here comes from the real dlt, imported by the test: dlt is the
reference, pg_assets must agree with it byte for byte and value for value, in both
directions. No database is needed: the dlt side runs `extract` only, in a temporary
pipelines folder.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import dlt
import pendulum
import pytest
from dlt.common.configuration.container import Container
from dlt.common.json import json as dlt_json
from dlt.common.libs.hexbytes import HexBytes
from dlt.common.normalizers.json.helpers import get_nested_row_hash
from dlt.common.normalizers.utils import generate_dlt_id
from dlt.common.schema import Schema
from dlt.common.versioned_state import compress_state, decompress_state, json_encode_state
from dlt.common.wei import Wei
from dlt.destinations import postgres
from dlt.extract.incremental.transform import JsonIncremental
from dlt.extract.utils import digest_dedup_value
from dlt.pipeline.state_sync import generate_pipeline_state_version_hash, state_doc

from pg_assets import json_codec
from pg_assets import state as state_store
from pg_assets.incremental import CursorFilter, Incremental
from pg_assets.normalize.columnar import random_id_array
from pg_assets.normalize.row_keys import content_hash, digest_id, key_hash, random_ids
from pg_assets.table_plan import plan_resource
from pg_assets.resource import resource

UTC = dt.timezone.utc
PLUS_0530 = dt.timezone(dt.timedelta(hours=5, minutes=30))


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


def typed(value: Any) -> Any:
    """`value` with each leaf paired with its type (and zone offset), so that `1 == 1.0 ==
    Decimal(1)` or an ISO string in place of a datetime does not pass for equal."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    offset = value.utcoffset() if isinstance(value, (dt.datetime, dt.time)) else None
    return type(value), value, offset


# ---- state: typed JSON, compression, version hash ------------------------------------------------

# (value kept in the state, the value read back when it differs)
STATE_VALUES = [
    pytest.param(dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), None, id="datetime-utc"),
    pytest.param(dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=PLUS_0530), None, id="datetime-offset"),
    pytest.param(dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=ZoneInfo("Europe/Berlin")), None, id="datetime-zoneinfo"),
    pytest.param(dt.datetime(2024, 5, 6, 7, 8, 9), None, id="datetime-naive"),
    pytest.param(dt.date(2024, 2, 29), None, id="date"),
    pytest.param(dt.time(23, 59, 58, 1), None, id="time"),
    pytest.param(dt.time(12, 0, tzinfo=PLUS_0530), None, id="time-aware"),
    pytest.param(Decimal("12.3400"), None, id="decimal"),
    pytest.param(Decimal("123456789012345678901234567890.123456789"), None, id="decimal-wide"),
    pytest.param(Decimal("1E-30"), None, id="decimal-exponent"),
    pytest.param(b"\x00\xffbin", None, id="bytes"),
    pytest.param(b"", chr(json_codec.PUA_START + 5), id="bytes-empty-is-a-bare-marker"),
    pytest.param(UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678",
                 id="uuid-as-text"),
    pytest.param("zażółć 日本語 🎉 \u2028 \x01 \"q\" \\ /", None, id="unicode"),
    pytest.param(chr(json_codec.PUA_START + 1) + "not a date", None, id="marker-that-does-not-parse"),
    pytest.param([0.1, 2.5e-05, 1e-07, 1e16, 1.5, -0.0, 123456789.123456789], None, id="floats"),
    pytest.param([0, -1, 2 ** 63 - 1, -(2 ** 63), 2 ** 64 - 1], None, id="ints"),
    pytest.param({"b": {"z": [1, {"y": dt.date(2024, 1, 1)}], "a": None}, "a": True, "é": False}, None,
                 id="nested"),
    pytest.param((1, "two"), [1, "two"], id="tuple-as-list"),
    pytest.param({1: "a", "b": 2}, {"1": "a", "b": 2}, id="int-keys-as-text"),
]


def _state(value: Any) -> dict[str, Any]:
    """A pipeline state with `value` in a resource's state, versioned, with local-only data."""
    state = state_store.new_state("p", "ds")
    state["sources"] = {"p": {"resources": {"r": {"value": value, "cursor": {"last_value": value}}}}}
    state_store.bump(state, None)
    state["_local"] = {"first_run": False, "_last_extracted_at": dt.datetime(2024, 1, 1, tzinfo=UTC)}
    return state


def _read_back(value: Any, read_back: Any) -> dict[str, Any]:
    """The state as either tool reads it back: without `_local`, `value` as `read_back`."""
    state = _state(value if read_back is None else read_back)
    del state["_local"]
    return state


@pytest.mark.parametrize("value, read_back", STATE_VALUES)
@pytest.mark.parametrize("sort_keys", [False, True], ids=["unsorted", "sorted"])
def test_typed_json_is_byte_identical_to_dlts(value, read_back, sort_keys):
    assert json_codec.typed_dumpb(value, sort_keys=sort_keys) == dlt_json.typed_dumpb(value, sort_keys=sort_keys)


@pytest.mark.parametrize("value, read_back", STATE_VALUES)
def test_stored_state_text_is_byte_identical_to_dlts(value, read_back):
    """`state_doc` is what dlt writes to `_dlt_pipeline_state.state`."""
    state = _state(value)
    assert state_store.encode_state(state) == state_doc(state)["state"]


@pytest.mark.parametrize("value, read_back", STATE_VALUES)
def test_dlt_reads_the_state_pg_assets_wrote(value, read_back):
    decoded = decompress_state(state_store.encode_state(_state(value)))
    assert typed(decoded) == typed(_read_back(value, read_back))


@pytest.mark.parametrize("value, read_back", STATE_VALUES)
def test_pg_assets_reads_the_state_dlt_wrote(value, read_back):
    decoded = state_store.decode_state(state_doc(_state(value))["state"])
    assert typed(decoded) == typed(_read_back(value, read_back))


@pytest.mark.parametrize("value, read_back", STATE_VALUES)
def test_pg_assets_reads_uncompressed_state_as_dlts_typed_json(value, read_back):
    """dlt's `decompress_state` would stop at the first marker (not ASCII); its typed JSON reader does not."""
    text = json_encode_state({k: v for k, v in _state(value).items() if k != "_local"})
    assert typed(state_store.decode_state(text)) == typed(dlt_json.typed_loads(text))
    assert typed(state_store.decode_state(text)) == typed(_read_back(value, read_back))


@pytest.mark.parametrize("value, read_back", STATE_VALUES)
def test_version_hash_is_dlts(value, read_back):
    state = _state(value)
    assert state_store.state_hash(state) == generate_pipeline_state_version_hash(state)
    assert state["_version_hash"] == generate_pipeline_state_version_hash(state)


@pytest.mark.parametrize("value, read_back", STATE_VALUES)
def test_a_state_read_back_keeps_its_version_hash(value, read_back):
    """A state dlt wrote and pg_assets read (or the reverse) hashes as before: no spurious version."""
    state = _state(value)
    assert state_store.state_hash(state_store.decode_state(state_doc(state)["state"])) == state["_version_hash"]
    assert generate_pipeline_state_version_hash(decompress_state(state_store.encode_state(state))) == \
        state["_version_hash"]


@pytest.mark.parametrize("value, read_back", [
    (HexBytes(b"\x01\xab"), b"\x01\xab"),
    (Wei.from_int256(10 ** 30, decimals=18), Decimal("1000000000000")),
], ids=["hexbytes-as-bytes", "wei-as-decimal"])
def test_pg_assets_reads_dlts_own_types_as_standard_ones(value, read_back):
    decoded = state_store.decode_state(state_doc(_state(value))["state"])
    assert typed(decoded) == typed(_read_back(value, read_back))


@pytest.mark.parametrize("value", [{1, 2}, object()], ids=["set", "object"])
def test_state_refuses_values_dlt_cannot_keep(value):
    with pytest.raises(TypeError):
        compress_state({"sources": {"v": value}})
    with pytest.raises(TypeError):
        state_store.encode_state({"sources": {"v": value}})


def test_compress_state_and_encode_state_agree():
    state = {k: v for k, v in _state(dt.date(2024, 1, 1)).items() if k != "_local"}
    assert state_store.encode_state(state) == compress_state(state)


# ---- incremental boundary hashes ---------------------------------------------------------------------

ITEM = {"id": 7, "region": "eu", "ts": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "v": 1.5}

# (item, the dedup key given to both tools: str, sequence, or None for the whole item)
HASHED = [
    pytest.param(ITEM, "id", id="int-key"),
    pytest.param({**ITEM, "id": "ключ-🎉"}, "id", id="unicode-key"),
    pytest.param(ITEM, ("id", "region"), id="compound-key"),
    pytest.param(ITEM, ["id"], id="one-name-list-key"),
    pytest.param(ITEM, "ts", id="datetime-utc-key"),
    pytest.param({**ITEM, "ts": dt.datetime(2024, 1, 2, 8, 34, 5, 17, tzinfo=PLUS_0530)}, "ts",
                 id="datetime-offset-key"),
    pytest.param({**ITEM, "ts": dt.datetime(2024, 1, 2, 3, 4, 5)}, "ts", id="datetime-naive-key"),
    pytest.param({**ITEM, "ts": dt.datetime(1960, 1, 1, tzinfo=UTC)}, ("ts", "id"), id="datetime-before-epoch"),
    pytest.param({**ITEM, "day": dt.date(2024, 1, 2)}, ("day", "id"), id="date-key"),
    pytest.param({**ITEM, "amount": Decimal("10.50")}, "amount", id="decimal-key"),
    pytest.param({**ITEM, "v": 2.5e-05}, "v", id="float-key"),
    pytest.param(ITEM, None, id="whole-item"),
    pytest.param({"id": 1, "ts": dt.datetime(2024, 1, 1), "meta": {"z": [1, {"b": dt.date(2024, 1, 1)}], "a": "é"},
                  "price": Decimal("1.10"), "blob": b"\x01"}, None, id="whole-nested-item"),
]


def _dlt_hash(item: dict[str, Any], key: Any, legacy: bool = False) -> str:
    """The hash dlt's JSON incremental stores in `unique_hashes` for `item`."""
    transform = JsonIncremental("r", "ts", None, None, None, max, key, set())
    return transform.compute_unique_value(item, key, legacy)


def _pg_hash(item: dict[str, Any], key: Any, legacy: bool = False) -> str:
    return CursorFilter(Incremental("ts", primary_key=key), "r", ())._hash(item, legacy)


@pytest.mark.parametrize("item, key", HASHED)
def test_boundary_hash_is_dlts(item, key):
    assert _pg_hash(item, key) == _dlt_hash(item, key)
    assert len(_pg_hash(item, key)) == 12


@pytest.mark.parametrize("item, key", HASHED)
def test_pre_1_29_dlt_boundary_hash_is_dlts(item, key):
    assert _pg_hash(item, key, legacy=True) == _dlt_hash(item, key, legacy=True)
    assert len(_pg_hash(item, key, legacy=True)) == 20


@pytest.mark.parametrize("resource_key, dlt_key", [
    ("id", "id"),
    (["id"], ["id"]),
    (("id", "region"), ("id", "region")),
    (None, None),
], ids=["one-column", "list-of-one", "compound", "none"])
def test_boundary_hash_by_the_resources_key_is_dlts(resource_key, dlt_key):
    """The pipeline hands the resource's key over as it was declared, as dlt takes it."""
    assert CursorFilter(Incremental("ts"), "r", resource_key)._hash(ITEM) == _dlt_hash(ITEM, dlt_key)


def test_one_instant_in_any_zone_is_one_hash():
    aware = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    zones = [aware, aware.astimezone(PLUS_0530), aware.replace(tzinfo=None)]
    assert len({_pg_hash({"ts": t}, "ts") for t in zones}) == 1 == len({_dlt_hash({"ts": t}, "ts") for t in zones})


# ---- cursors handed over between dlt and pg_assets ---------------------------------------------------

# cursor values by day: run 1 ends on day 3 (items 3 and 4 at the boundary), run 2 repeats them,
# adds 5 at the boundary, 6 below it and 7 above it
CURSORS = [
    pytest.param(lambda d: dt.datetime(2024, 1, d, 12, tzinfo=UTC), id="datetime-utc"),
    pytest.param(lambda d: dt.datetime(2024, 1, d, 12, tzinfo=PLUS_0530), id="datetime-offset"),
    pytest.param(lambda d: dt.datetime(2024, 1, d, 12), id="datetime-naive"),
    pytest.param(lambda d: dt.date(2024, 1, d), id="date"),
    pytest.param(lambda d: Decimal(d) / 4, id="decimal"),
    pytest.param(lambda d: d * 10, id="int"),
]
FIRST_RUN = [(1, 1), (2, 2), (3, 3), (4, 3)]
SECOND_RUN = [(3, 3), (4, 3), (5, 3), (6, 2), (7, 4)]
Cursor = Callable[[int], Any]


def _items(cursor: Cursor, pairs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    return [{"id": i, "ts": cursor(day), "name": f"n{i}"} for i, day in pairs]


def _pg_run(cursor: Cursor, pairs: list[tuple[int, int]], stored: dict[str, Any]) -> tuple[list[int], Any, Any]:
    """(ids kept, the start value a source saw, the incremental state to store) of a pg_assets run."""
    inc = Incremental("ts", initial_value=cursor(1))
    inc.stored = stored
    kept_by = CursorFilter(inc, "events", "id")
    kept = [item["id"] for item in _items(cursor, pairs) if kept_by.keep(item)]
    return kept, inc.start_value, kept_by.state()


def _dlt_run(cursor: Cursor, pairs: list[tuple[int, int]], pipelines_dir: Path,
             sources: dict[str, Any] | None = None) -> tuple[list[int], Any, dict[str, Any]]:
    """(ids kept, the start value the resource saw, the pipeline state) of a dlt extract.

    `sources` replaces the pipeline's source state before the run: a state read from the destination.
    """
    kept: list[int] = []
    started: list[Any] = []

    @dlt.resource(name="events", primary_key="id")
    def events(ts=dlt.sources.incremental("ts", initial_value=cursor(1))) -> Iterator[list[dict[str, Any]]]:
        started.append(ts.start_value)
        yield _items(cursor, pairs)

    @dlt.transformer(name="kept")
    def record(items: list[dict[str, Any]]) -> Iterator[Any]:
        kept.extend(item["id"] for item in items)
        yield from ()

    pipeline = dlt.pipeline("handover", pipelines_dir=str(pipelines_dir))
    if sources is not None:
        with pipeline.managed_state() as state:
            state["sources"] = sources
    data = events()
    pipeline.extract([data, data | record])
    return kept, started[0], pipeline.state


def _pg_state(incremental: dict[str, Any]) -> dict[str, Any]:
    state = state_store.new_state("handover", "ds")
    state_store.resource_state(state, "handover", "events")["incremental"] = {"ts": incremental}
    state_store.bump(state, None)
    return state


def _cursor_of(state: dict[str, Any]) -> dict[str, Any]:
    return state["sources"]["handover"]["resources"]["events"]["incremental"]["ts"]


@pytest.mark.parametrize("cursor", CURSORS)
def test_dlt_resumes_a_cursor_pg_assets_stored(cursor, tmp_path):
    _, _, incremental = _pg_run(cursor, FIRST_RUN, {})
    stored_text = state_store.encode_state(_pg_state(incremental))
    kept, started, dlt_state = _dlt_run(cursor, SECOND_RUN, tmp_path, decompress_state(stored_text)["sources"])
    assert kept == [5, 7]
    assert typed(started) == typed(cursor(3))
    assert typed(_cursor_of(dlt_state)["last_value"]) == typed(cursor(4))


@pytest.mark.parametrize("cursor", CURSORS)
def test_pg_assets_resumes_a_cursor_dlt_stored(cursor, tmp_path):
    _, _, dlt_state = _dlt_run(cursor, FIRST_RUN, tmp_path)
    decoded = state_store.decode_state(state_doc(dlt_state)["state"])
    assert state_store.state_hash(decoded) == dlt_state["_version_hash"]
    kept, started, incremental = _pg_run(cursor, SECOND_RUN, _cursor_of(decoded))
    assert kept == [5, 7]
    assert typed(started) == typed(cursor(3))
    assert typed(incremental["last_value"]) == typed(cursor(4))


@pytest.mark.parametrize("cursor", CURSORS)
def test_both_store_the_same_incremental_state(cursor, tmp_path):
    _, _, pg_first = _pg_run(cursor, FIRST_RUN, {})
    _, _, dlt_state = _dlt_run(cursor, FIRST_RUN, tmp_path)
    dlt_first = _cursor_of(dlt_state)
    assert typed({**pg_first, "unique_hashes": set(pg_first["unique_hashes"])}) == \
        typed({**dlt_first, "unique_hashes": set(dlt_first["unique_hashes"])})


@pytest.mark.parametrize("run", [
    pytest.param([(3, 3), (4, 3), (5, 3)], id="cursor-stays"),
    pytest.param([(3, 3), (5, 3), (7, 4), (8, 4)], id="cursor-moves"),
])
@pytest.mark.parametrize("hashed", [
    pytest.param(lambda v: digest_dedup_value(v, legacy=True), id="dlt-before-1.29"),
    pytest.param(digest_dedup_value, id="dlt"),
])
def test_boundary_hashes_evolve_as_dlts_do(hashed, run, tmp_path):
    """Hashes in dlt's pre-1.29 format are matched in that format and kept in it until the cursor
    moves; then both tools start over in the current format."""
    cursor = CURSORS[0].values[0]
    at_boundary = {"initial_value": cursor(1), "last_value": cursor(3), "start_value": cursor(1),
                   "unique_hashes": [hashed(i) for i in (3, 4)]}
    pg_kept, _, pg_next = _pg_run(cursor, run, dict(at_boundary))
    dlt_kept, _, dlt_state = _dlt_run(cursor, run, tmp_path, _pg_state(dict(at_boundary))["sources"])
    assert pg_kept == dlt_kept == [i for i, _ in run if i > 4]
    assert set(pg_next["unique_hashes"]) == set(_cursor_of(dlt_state)["unique_hashes"])


# ---- row keys ----------------------------------------------------------------------------------------


def _dlt_rows(item: dict[str, Any], write_disposition: Any, primary_key: Any = None
              ) -> list[tuple[str, dict[str, Any]]]:
    """(table, row) of each row dlt's relational normalizer makes of `item` for a Postgres table
    with these hints (the destination decides which merge strategies exist). The normalizer
    gets the item as a pipeline hands it over: read back from the extract file, values still
    in dlt's typed JSON."""
    table = dlt.resource([item], name="t", primary_key=primary_key,
                         write_disposition=write_disposition).compute_table_schema()
    schema = Schema("s")
    schema.update_table(table)
    extracted = dlt_json.loadb(dlt_json.typed_dumpb(item))
    with Container().injectable_context(postgres().capabilities()):
        return [(name, row) for (name, _, _), row in schema.normalize_data_item(extracted, "1712345678.123456", "t")]


def _root(item: dict[str, Any], write_disposition: Any, primary_key: Any = None) -> dict[str, Any]:
    return _dlt_rows(item, write_disposition, primary_key)[0][1]


def _flat(item: dict[str, Any], path: str = "") -> dict[str, Any]:
    """An item's values flattened as pg_assets' normalizer flattens them (`meta__key`), still Python values."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{path}{key}__"))
        else:
            out[f"{path}{key}"] = value
    return out


UPSERT = {"disposition": "merge", "strategy": "upsert"}
SCD2 = {"disposition": "merge", "strategy": "scd2"}

KEYED = [
    pytest.param({"id": 1, "v": "a"}, ("id",), id="int"),
    pytest.param({"id": "ключ 🎉", "v": "a"}, ("id",), id="unicode"),
    pytest.param({"id": 1, "region": "eu", "v": "a"}, ("region", "id"), id="compound"),
    pytest.param({"id": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)}, ("id",), id="datetime-utc"),
    pytest.param({"id": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS_0530)}, ("id",), id="datetime-offset"),
    pytest.param({"id": dt.datetime(2024, 1, 2, 3, 4, 5)}, ("id",), id="datetime-naive"),
    pytest.param({"id": dt.date(2024, 1, 2)}, ("id",), id="date"),
    pytest.param({"id": Decimal("10.50")}, ("id",), id="decimal"),
    pytest.param({"id": 2.5e-05}, ("id",), id="float"),
    pytest.param({"id": 1, "meta": {"key": "x"}}, ("id", "meta__key"), id="nested-column"),
    pytest.param({"id": 1, "day": dt.date(2024, 1, 2), "v": "a"}, ("id", "day"), id="compound-date"),
    pytest.param({"id": dt.time(1, 2, 3, 4)}, ("id",), id="time"),
    pytest.param({"id": b"\x00\xff"}, ("id",), id="bytes"),
    pytest.param({"id": UUID(int=7)}, ("id",), id="uuid"),
    pytest.param({"id": 2**63 - 1, "n": -2**63}, ("id", "n"), id="int64-bounds"),
    pytest.param({"id": 1, "meta": {"at": dt.datetime(2024, 1, 2, tzinfo=UTC)}}, ("id", "meta__at"),
                 id="nested-datetime"),
]


@pytest.mark.parametrize("item, pk", KEYED)
def test_upsert_row_key_is_dlts(item, pk):
    root = _root(item, UPSERT, list(pk))
    assert key_hash(pk)(item, _flat(item)) == root["_dlt_id"]


@pytest.mark.parametrize("item, pk", KEYED)
def test_insert_only_row_key_is_dlts(item, pk):
    root = _root(item, {"disposition": "merge", "strategy": "insert-only"}, list(pk))
    assert key_hash(pk)(item, _flat(item)) == root["_dlt_id"]


CONTENT = [
    pytest.param({"id": 1, "v": "a"}, id="flat"),
    pytest.param({"v": "a", "id": 1}, id="other-key-order"),
    pytest.param({"id": 1, "meta": {"b": 2, "a": [1, {"y": "é", "x": None}]}, "tags": ["x", "y"]}, id="nested"),
    pytest.param({"id": 1, "at": dt.datetime(2024, 1, 2, tzinfo=UTC), "day": dt.date(2024, 1, 2),
                  "naive": dt.datetime(2024, 1, 2), "price": Decimal("1.10"), "f": 2.5e-05}, id="typed-values"),
    pytest.param({"id": 1, "v": "a", "_dlt_extra": 1, "_dltx": 2}, id="dlt-columns-left-out"),
    pytest.param({"id": "日本語 🎉", "s": "\u2028\x01\"\\"}, id="unicode"),
    pytest.param({"id": 1, "t": dt.time(1, 2, 3), "b": b"\x00\xff", "u": UUID(int=7)}, id="time-bytes-uuid"),
    pytest.param({"id": 1, "nan": float("nan"), "inf": float("-inf"), "zero": -0.0, "big": 2**63 - 1},
                 id="floats-and-ints"),
    pytest.param({"id": 1, "at": dt.datetime(2024, 1, 2, 3, tzinfo=ZoneInfo("Europe/Berlin")),
                  "tz": dt.datetime(2024, 1, 2, tzinfo=PLUS_0530)}, id="zoned-datetimes"),
    pytest.param({"id": 1, "lmt": dt.datetime(1900, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),
                  "t": dt.time(1, 2, tzinfo=UTC), "utc": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
                  "naive": dt.datetime(1, 1, 1)}, id="offsets-with-seconds-and-zoned-times"),
    pytest.param({"id": 1, "meta": {"day": dt.date(2024, 1, 2), "n": [Decimal("1.0"), {"at": dt.datetime(2024, 1, 2)}]},
                  "pair": (1, dt.date(2024, 1, 3))}, id="typed-values-nested"),
    pytest.param({"id": 1, "wei": Wei(10**30), "hex": HexBytes(b"\x01\x02")}, id="dlt-own-types"),
    pytest.param({"id": 1, "at": pendulum.datetime(2024, 1, 2, 3, 4, 5, 6, tz="Europe/Berlin"),
                  "day": pendulum.date(2024, 1, 2)}, id="pendulum"),
]


@pytest.mark.parametrize("item", CONTENT)
def test_scd2_row_key_is_dlts(item):
    root = _root(item, SCD2, "id")
    assert content_hash(item, _flat(item)) == root["_dlt_id"]


@pytest.mark.parametrize("item", CONTENT)
def test_child_row_keys_are_dlts(item):
    rows = _dlt_rows({**item, "children": [{"c": 1}, [2, 3], "x"]}, SCD2, "id")
    assert [digest_id(f"{row['_dlt_parent_id']}_{table}_{row['_dlt_list_idx']}") for table, row in rows[1:]] == \
        [row["_dlt_id"] for _, row in rows[1:]]


@pytest.mark.parametrize("parent, table, idx", [("tpU4rZVRbjYVmQ", "t__tags", 0), ("a/b+c", "ключ__日本", 12)],
                         ids=["ascii", "unicode"])
def test_nested_row_hash_is_dlts(parent, table, idx):
    assert digest_id(f"{parent}_{table}_{idx}") == get_nested_row_hash(parent, table, idx)


DLT_RANDOM_ID = re.compile(r"^[A-Za-z0-9+/]{13}[AQgw]$")  # 10 bytes: the last character carries 2 bits


def test_random_row_keys_look_like_dlts():
    ids = random_ids()
    sample = [next(ids) for _ in range(20000)]
    assert all(DLT_RANDOM_ID.match(i) for i in sample)
    assert all(DLT_RANDOM_ID.match(generate_dlt_id()) for _ in range(100))
    assert all(len(base64.b64decode(i + "==")) == 10 for i in sample[:100])
    assert len(set(sample)) == len(sample)


def test_random_row_keys_of_a_run_sit_together():
    """Keys of one run share their first 8 bytes (neighbours in the `_dlt_id` index); runs do not."""
    ids = random_ids()
    sample = [next(ids) for _ in range(3 * 65536)]
    raw = [base64.b64decode(i + "==") for i in sample]
    assert len(set(sample)) == len(sample)
    assert {r[:8] for r in raw[:65536]} == {raw[0][:8]}
    assert len({r[:8] for r in raw}) == 3
    assert [int.from_bytes(r[8:], "big") for r in raw[:65536]] == list(range(65536))
    arrow = random_id_array(70000).to_pylist()
    assert all(DLT_RANDOM_ID.match(i) for i in arrow) and len(set(arrow)) == len(arrow)
    assert len({base64.b64decode(i + "==")[:8] for i in arrow}) == 2


@pytest.mark.parametrize("write_disposition, random", [
    ("append", True),
    ("replace", True),
    ({"disposition": "merge", "strategy": "delete-insert"}, True),
    (UPSERT, False),
    ({"disposition": "merge", "strategy": "insert-only"}, False),
    (SCD2, False),
    ({**SCD2, "row_version_column_name": "version"}, True),
], ids=["append", "replace", "delete-insert", "upsert", "insert-only", "scd2", "scd2-version-column"])
def test_which_roots_get_random_keys(write_disposition, random):
    item = {"id": 1, "version": 3}
    dlt_ids = {_root(item, write_disposition, "id")["_dlt_id"] for _ in range(2)}
    plan = plan_resource(resource([item], name="t", primary_key="id", write_disposition=write_disposition),
                         "truncate-and-insert")
    assert (len(dlt_ids) == 2) is random
    assert (plan.row_key is None) is random
