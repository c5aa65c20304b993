"""Incremental cursors: the filter on its own, then across runs against the real server."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import pg_assets
from pg_assets.errors import ConfigError, TerminalLoadError
from pg_assets.incremental import (BOUNDARY_WARN_AT, CursorFilter, Incremental, boundary_hash,
                                   pre_dlt_boundary_hash)

UTC = dt.timezone.utc


def _filter(items: list[dict[str, Any]], stored: dict[str, Any] | None = None, pk: Any = "id",
            **options: Any) -> tuple[list[Any], dict[str, Any] | None]:
    """(ids of the kept items, the state to store) for one run over `items`."""
    inc = Incremental(**{"cursor_path": "ts", **options})
    inc.stored = stored or {}
    cursor = CursorFilter(inc, "r", pk)
    kept = [item.get("id") for item in items if cursor.keep(item)]
    return kept, cursor.state()


def _ts(*pairs: tuple[int, Any]) -> list[dict[str, Any]]:
    return [{"id": i, "ts": ts} for i, ts in pairs]


# ---- the filter ------------------------------------------------------------------------------------


def test_boundary_items_are_deduplicated_across_runs():
    """The example dlt's docs and behaviour agree on."""
    kept, state = _filter(_ts((1, 5), (2, 10), (3, 12), (4, 12)), initial_value=10)
    assert kept == [2, 3, 4]
    assert state["last_value"] == 12 and len(state["unique_hashes"]) == 2
    kept, state = _filter(_ts((3, 12), (4, 12), (5, 12), (6, 11), (7, 13)), stored=state, initial_value=10)
    assert kept == [5, 7]
    assert state["last_value"] == 13 and state["start_value"] == 12 and len(state["unique_hashes"]) == 1


def test_boundary_hashes_only_hold_the_newest_value():
    _, state = _filter(_ts((1, 1), (2, 2), (3, 3), (4, 3)))
    assert len(state["unique_hashes"]) == 2
    assert all(len(h) == 12 for h in state["unique_hashes"])


def test_min_cursor_goes_down():
    kept, state = _filter(_ts((1, 50), (2, 100), (3, 120), (4, 40)), initial_value=100, last_value_func="min")
    assert kept == [1, 2, 4] and state["last_value"] == 40
    kept, _ = _filter(_ts((4, 40), (5, 40), (6, 41), (7, 39)), stored=state, last_value_func="min")
    assert kept == [5, 7]


def test_end_value_is_an_exclusive_window_that_keeps_no_state():
    stored = {"last_value": 100, "unique_hashes": []}
    kept, state = _filter(_ts((1, 9), (2, 10), (3, 15), (4, 20)), stored=stored, initial_value=10, end_value=20)
    assert kept == [2, 3]
    assert state is None


@pytest.mark.parametrize("pk, option, second_run_keeps", [
    (("id",), None, [2]),                    # by the resource's key
    ((), None, [2, 1]),                      # by the whole row: only the very same row is skipped
    (("id",), (), [1, 2, 1]),                # `primary_key=()`: no boundary de-duplication at all
    (("id",), "other", [1]),                 # the incremental's own key wins over the resource's
], ids=["resource-key", "row-hash", "disabled", "own-key"])
def test_what_identifies_a_boundary_item(pk, option, second_run_keeps):
    options = {} if option is None else {"primary_key": option}
    _, state = _filter([{"id": 1, "other": "a", "ts": 5}], pk=pk, **options)
    again = [{"id": 1, "other": "a", "ts": 5}, {"id": 2, "other": "a", "ts": 5}, {"id": 1, "other": "c", "ts": 5}]
    kept, _ = _filter(again, stored=state, pk=pk, **options)
    assert kept == second_run_keeps


def test_resource_key_matches_raw_names_that_normalise_to_it():
    """`primary_key="User ID"` is stored as `user_id`; the raw items still say `User ID`."""
    items = [{"User ID": 1, "ts": 5}, {"User ID": 2, "ts": 5}]
    _, state = _filter(items[:1], pk=("user_id",))
    cursor = CursorFilter(Incremental("ts", stored=state), "r", ("user_id",))
    assert [cursor.keep(i) for i in items] == [False, True]


@pytest.mark.parametrize("stored_last, values, kept", [
    ("2024-01-02T00:00:00+00:00", [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 3, tzinfo=UTC)], [1]),
    ("2024-01-02T00:00:00", [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 3, tzinfo=UTC)], [1]),
    ("2024-01-02T01:00:00+01:00", [dt.datetime(2024, 1, 1, 23), dt.datetime(2024, 1, 2, 1)], [1]),
    ("2024-01-02", [dt.date(2024, 1, 1), dt.date(2024, 1, 3)], [1]),
    ("0.75", [Decimal("0.5"), Decimal("1")], [1]),
], ids=["aware", "stored-naive", "live-naive", "date", "decimal"])
def test_stored_iso_strings_compare_with_live_datetimes(stored_last, values, kept):
    """Cursors an older pg_assets stored as text (state is typed now) still compare."""
    items = [{"id": i, "ts": v} for i, v in enumerate(values)]
    assert _filter(items, stored={"last_value": stored_last, "unique_hashes": []})[0] == kept


@pytest.mark.parametrize("stored_last, values, kept", [
    (dt.datetime(2024, 1, 2, tzinfo=UTC), [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 3, tzinfo=UTC)],
     [1]),
    (dt.datetime(2024, 1, 2), [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 3, tzinfo=UTC)], [1]),
    (dt.datetime(2024, 1, 2, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
     [dt.datetime(2024, 1, 1, 23), dt.datetime(2024, 1, 2, 1)], [1]),
    (dt.date(2024, 1, 2), [dt.date(2024, 1, 1), dt.date(2024, 1, 3)], [1]),
    (Decimal("0.75"), [Decimal("0.5"), Decimal("1")], [1]),
], ids=["aware", "stored-naive", "live-naive", "date", "decimal"])
def test_stored_typed_cursors_compare_with_live_values(stored_last, values, kept):
    items = [{"id": i, "ts": v} for i, v in enumerate(values)]
    assert _filter(items, stored={"last_value": stored_last, "unique_hashes": []})[0] == kept


def test_cursor_state_keeps_the_values_types():
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    _, state = _filter(_ts((1, dt.datetime(2024, 1, 2, tzinfo=UTC))), initial_value=start)
    assert state["initial_value"] is start and state["start_value"] is start
    assert state["last_value"] == dt.datetime(2024, 1, 2, tzinfo=UTC)


def test_boundary_hashes_of_an_older_pg_assets_still_skip_items():
    """Before its hashes were dlt's, pg_assets hashed a list of the key values its own way."""
    stored = {"last_value": 12, "unique_hashes": [pre_dlt_boundary_hash([i]) for i in (3, 4)]}
    kept, state = _filter(_ts((3, 12), (4, 12), (5, 12), (7, 13)), stored=stored)
    assert kept == [5, 7] and state["unique_hashes"] == [boundary_hash(7)]


@pytest.mark.parametrize("path, item", [
    ("meta.updated_at", {"id": 1, "meta": {"updated_at": 7}}),
    ("$.versions.1.at", {"id": 1, "versions": [{"at": 1}, {"at": 7}]}),
], ids=["nested", "list-index"])
def test_cursor_path_reads_the_raw_item(path, item):
    kept, state = _filter([item], cursor_path=path)
    assert kept == [1] and state["last_value"] == 7


def test_missing_cursor_value_is_a_terminal_error():
    with pytest.raises(TerminalLoadError, match="no value at the cursor path `ts`"):
        _filter([{"id": 1}])


def test_incomparable_cursor_values_say_which():
    with pytest.raises(TerminalLoadError, match=r"cannot be compared with the start value 10 \(int\)"):
        _filter(_ts((1, "2024-01-01")), initial_value=10)


@pytest.mark.parametrize("options, message", [
    ({"cursor_path": "ts", "last_value": 3}, "unknown `incremental` option `last_value`"),
    ({"cursor_path": "ts", "last_value_func": "latest"}, "must be `max` or `min`"),
    ({"cursor_path": ""}, "non-empty string"),
], ids=["unknown-option", "bad-func", "empty-path"])
def test_bad_incremental_options(options, message):
    with pytest.raises(ConfigError, match=message):
        Incremental.coerce(options)


# ---- across runs, against the server --------------------------------------------------------------


def _pipeline(dataset: str) -> pg_assets.Pipeline:
    return pg_assets.pipeline("incremental", dataset=dataset, workers=2)


def _ids(query, dataset: str, table: str = "events") -> list[int]:
    return [i for (i,) in query(f'SELECT id FROM "{dataset}"."{table}" ORDER BY id')]


def _state_rows(query, dataset: str) -> int:
    return query(f'SELECT count(*) FROM "{dataset}"._dlt_pipeline_state')[0][0]


def test_incremental_boundaries_across_runs(dataset, query):
    p = _pipeline(dataset)
    inc = {"cursor_path": "ts", "initial_value": 10}
    p.run(_ts((1, 5), (2, 10), (3, 12), (4, 12)), table_name="events", primary_key="id", incremental=inc)
    p.run(_ts((3, 12), (4, 12), (5, 12), (6, 11), (7, 13)), table_name="events", primary_key="id",
          incremental=inc)
    assert _ids(query, dataset) == [2, 3, 4, 5, 7]
    stored = p.state()["sources"]["incremental"]["resources"]["events"]["incremental"]["ts"]
    assert stored["last_value"] == 13 and stored["initial_value"] == 10


def test_a_generator_reads_the_stored_cursor_lazily(dataset, query):
    """A source asks its API only for new data: `start_value` is bound before the data is read."""
    inc = Incremental("updated_at", initial_value=dt.datetime(2024, 1, 1, tzinfo=UTC))
    asked: list[Any] = []
    api = [{"id": i, "updated_at": dt.datetime(2024, 1, 1 + i, tzinfo=UTC)} for i in range(6)]

    def fetch() -> Iterator[dict[str, Any]]:
        since = inc.start_value  # a datetime, like `initial_value`, also when read back from the state
        asked.append(since)
        yield from (row for row in api if row["updated_at"] >= since)

    p = _pipeline(dataset)
    p.run(pg_assets.resource(fetch, name="events", incremental=inc, primary_key="id"))
    api.append({"id": 9, "updated_at": dt.datetime(2024, 2, 1, tzinfo=UTC)})
    p.run(pg_assets.resource(fetch, name="events", incremental=inc, primary_key="id"))
    assert asked == [dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 6, tzinfo=UTC)]
    assert _ids(query, dataset) == [0, 1, 2, 3, 4, 5, 9]


def test_a_run_leaves_the_callers_incremental_as_it_was(dataset, query):
    """The pipeline binds a copy: the caller's object reads the stored cursor only while its items are read."""
    inc = Incremental("ts", initial_value=0)
    seen: list[Any] = []

    def rows(*pairs: tuple[int, int]) -> Any:
        def read() -> Iterator[dict[str, Any]]:
            seen.append((inc.start_value, dict(inc.stored)))
            inc.resource_state["runs"] = inc.resource_state.get("runs", 0) + 1
            yield from _ts(*pairs)
        return pg_assets.resource(read, name="events", incremental=inc, primary_key="id")

    p = _pipeline(dataset)
    p.run(rows((1, 1), (2, 2)))
    assert (inc.start_value, inc.stored, inc.resource_state) == (0, {}, {})
    p.run(rows((2, 2), (3, 3)))
    assert (inc.start_value, inc.stored, inc.resource_state) == (0, {}, {})
    assert [start for start, _ in seen] == [0, 2] and seen[1][1]["last_value"] == 2
    assert _ids(query, dataset) == [1, 2, 3]
    resource = p.state()["sources"]["incremental"]["resources"]["events"]
    assert resource["incremental"]["ts"]["last_value"] == 3 and resource["source_state"] == {"runs": 2}


def test_resource_state_is_saved_even_when_no_row_passes(dataset, query):
    inc = Incremental("ts", initial_value=100)

    def remember() -> Iterator[dict[str, Any]]:
        inc.resource_state["seen_files"] = [*inc.resource_state.get("seen_files", []), f"f{len(calls)}"]
        calls.append(1)
        yield {"id": 1, "ts": 1}  # older than the cursor: filtered

    calls: list[int] = []
    p = _pipeline(dataset)
    p.run(pg_assets.resource(remember, name="events", incremental=inc))
    p.run(pg_assets.resource(remember, name="events", incremental=inc))
    resource = p.state()["sources"]["incremental"]["resources"]["events"]
    assert resource["source_state"] == {"seen_files": ["f0", "f1"]}
    assert query("SELECT to_regclass(%s)", (f"{dataset}.events",)) == [(None,)]  # no rows, no table


def test_state_row_only_when_the_state_changed(dataset, query):
    p = _pipeline(dataset)
    inc = {"cursor_path": "ts"}
    p.run(_ts((1, 1)), table_name="events", incremental=inc)
    p.run(_ts((1, 1)), table_name="events", incremental=inc)  # start_value moves to 1
    before = _state_rows(query, dataset)
    p.run(_ts((1, 1)), table_name="events", incremental=inc)  # nothing moves
    assert _state_rows(query, dataset) == before == 2
    p.run(_ts((2, 2)), table_name="events", incremental=inc)
    assert _state_rows(query, dataset) == 3


def test_many_items_at_the_boundary_warn(dataset, caplog):
    p = _pipeline(dataset)
    items = [{"id": i, "ts": 7} for i in range(BOUNDARY_WARN_AT + 1)]
    with caplog.at_level(logging.WARNING, logger="pg_assets"):
        info = p.run(items, table_name="events", primary_key="id", incremental={"cursor_path": "ts"})
    message = f"{BOUNDARY_WARN_AT + 1} items share the cursor value 7"
    assert any(message in w for w in info.warnings)
    assert message in caplog.text
    quiet = p.run([{"id": 0, "ts": 8}], table_name="events", primary_key="id", incremental={"cursor_path": "ts"})
    assert quiet.warnings == ()


def test_a_failed_load_does_not_move_the_cursor(dataset, query):
    p = _pipeline(dataset)
    inc = Incremental("ts")
    p.run(pg_assets.resource(_ts((1, 1)), name="events", incremental=inc, primary_key="id"))

    def broken() -> Iterator[dict[str, Any]]:
        yield from _ts((2, 2), (3, 3))
        raise TerminalLoadError("the API returned garbage", table="events")

    with pytest.raises(TerminalLoadError, match="garbage"):
        p.run(pg_assets.resource(broken, name="events", incremental=inc, primary_key="id"))
    assert p.state()["sources"]["incremental"]["resources"]["events"]["incremental"]["ts"]["last_value"] == 1
    p.run(pg_assets.resource(_ts((2, 2), (3, 3)), name="events", incremental=inc, primary_key="id"))
    assert _ids(query, dataset) == [1, 2, 3]


def test_a_window_loads_its_range_and_leaves_the_cursor(dataset, query):
    p = _pipeline(dataset)
    p.run(_ts((1, 10), (2, 20)), table_name="events", incremental={"cursor_path": "ts"})
    p.run(_ts((3, 1), (4, 5), (5, 30)), table_name="events", incremental={"cursor_path": "ts", "initial_value": 0,
                                                                          "end_value": 10})
    assert _ids(query, dataset) == [1, 2, 3, 4]
    assert p.state()["sources"]["incremental"]["resources"]["events"]["incremental"]["ts"]["last_value"] == 20


def test_incremental_merge_updates_changed_rows(dataset, query):
    p = _pipeline(dataset)
    options = dict(table_name="events", primary_key="id", write_disposition="merge",
                   incremental={"cursor_path": "ts"})
    p.run([{"id": 1, "ts": 1, "v": "a"}, {"id": 2, "ts": 2, "v": "b"}], **options)
    p.run([{"id": 1, "ts": 1, "v": "stale"}, {"id": 1, "ts": 3, "v": "A"}], **options)
    assert query(f'SELECT id, v FROM "{dataset}".events ORDER BY id') == [(1, "A"), (2, "b")]
