"""dlt 1.31 and pg_assets load the same generated batches: the datasets must be the same.

One session fixture (`corpus`) loads every example into twin datasets and into hand-overs in
both directions (see `diff_harness`); each test below reads its part of the findings, so
selecting one test still loads the whole corpus once. The assertion message lists each
difference: the example's batches, then the table, column or key and both values.
Differences still open are waived by name (`diff_waivers`), and
each waiver is proved still needed (`test_every_waiver_is_still_needed`).
"""

from __future__ import annotations

import dlt
import pytest

import diff_harness
import pg_assets
from diff_corpus import CI_EXAMPLES
from diff_harness import CASES, COMPARISONS, Finding
from diff_snapshot import DATASET, compare, snapshot
from diff_waivers import WAIVED, waiver_of

CASE_NAMES = [*CASES, DATASET]


def test_the_corpus_has_every_example(corpus: list[Finding]):
    assert len(corpus) == 1 + CI_EXAMPLES


def test_both_tools_load_every_example(corpus: list[Finding]):
    failed = [(f.batches, f.outcome.failures) for f in corpus if f.outcome.failures]
    assert not failed, "\n".join(f"{msgs}\n  batches: {diff_harness._shown_batches(b)}" for b, msgs in failed)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_twin_datasets_agree(corpus: list[Finding], case: str):
    """pg_assets alone gives dlt's dataset: DDL, rows, row keys, stored schema, state and bookkeeping."""
    found = diff_harness.unexplained(corpus, "pg_assets", case, waiver_of)
    assert not found, diff_harness.report(found)


@pytest.mark.parametrize("comparison", [c for c in COMPARISONS if c != "pg_assets"])
@pytest.mark.parametrize("case", CASE_NAMES)
def test_a_hand_over_gives_what_dlt_alone_gives(corpus: list[Finding], comparison: str, case: str):
    """One tool loads batch 1 and the other batch 2: the dataset is the one dlt makes of both batches."""
    found = diff_harness.unexplained(corpus, comparison, case, waiver_of)
    assert not found, diff_harness.report(found)


def test_every_waiver_is_still_needed(corpus: list[Finding]):
    """A waived difference the corpus no longer shows is gone: delete its flag from `diff_waivers.WAIVERS`."""
    used = {waiver_of(c, d) for f in corpus for c in COMPARISONS for d in f.outcome.differences[c]}
    assert set(WAIVED) <= used, f"waivers no longer needed: {sorted(set(WAIVED) - used)}"


ROWS = [{"id": 1, "name": "a", "items": [{"sku": "x", "tags": ["t1", "t2"]}, {"sku": "y", "tags": []}]},
        {"id": 2, "name": "b", "items": [{"sku": "z", "tags": ["t3"]}]}]


@pytest.fixture
def twin(dataset: str, pg_credentials, query):
    """`dataset` and a second one, both loaded by pg_assets with the same rows (random root keys)."""
    other = f"{dataset}_b"
    try:
        for name in (dataset, other):
            pg_assets.pipeline("diff", dataset=name, credentials=pg_credentials).run(ROWS, table_name="append")
        yield dataset, other
    finally:
        query(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')
        query(f'DROP SCHEMA IF EXISTS "{other}_staging" CASCADE')


def _compared(pg_conn, twin) -> list:
    return [d for d in compare(snapshot(pg_conn, twin[0]), snapshot(pg_conn, twin[1]), CASES)
            if d.aspect not in ("state", "stored_schema", "bookkeeping")]


def test_random_keys_are_paired_and_datasets_of_the_same_rows_agree(pg_conn, twin):
    assert _compared(pg_conn, twin) == []


def test_a_changed_value_is_reported_with_its_table_column_and_both_values(pg_conn, twin, query):
    query(f'UPDATE "{twin[1]}".append__items__tags SET value = %s WHERE value = %s', ("changed", "t3"))
    found = _compared(pg_conn, twin)
    assert [(d.aspect, d.case, d.reference, d.other) for d in found if "column `value`" in d.where] == [
        ("rows", "append", "str:'t3'", "str:'changed'")]
    assert "`append__items__tags`" in found[0].where


def test_a_child_key_that_is_not_dlts_hash_is_reported(pg_conn, twin, query):
    query(f"UPDATE \"{twin[1]}\".append__items SET _dlt_id = 'AAAAAAAAAAAAAA' WHERE sku = 'z'")
    found = _compared(pg_conn, twin)
    assert ("row_keys", "`append__items`") in {(d.aspect, d.where.split(" ")[0]) for d in found}


def test_flattened_columns_come_in_dlts_order(dataset, pg_credentials, query, tmp_path, monkeypatch):
    """dlt flattens with a stack: a level's own values first, then its dicts, the last one first."""
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    item = {"id": 1, "a": {"x": 1, "deep": {"y": 2}, "z": 3}, "b": {"w": 4, "v": {"u": 5}}, "s": "t",
            "l": [{"q": 1}], "c": {"r": 6}}
    theirs = f"{dataset}_dlt"
    try:
        dlt.pipeline("order", destination=dlt.destinations.postgres(diff_harness.dlt_uri(pg_credentials)),
                     dataset_name=theirs, pipelines_dir=str(tmp_path)).run([item], table_name="t")
        pg_assets.pipeline("order", dataset=dataset, credentials=pg_credentials).run([item], table_name="t")
        order = "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 't' " \
                "ORDER BY ordinal_position"
        assert query(order, (dataset,)) == query(order, (theirs,))
        assert [c for (c,) in query(order, (dataset,))][:8] == ["id", "s", "c__r", "b__w", "b__v__u", "a__x", "a__z",
                                                                "a__deep__y"]
    finally:
        query(f'DROP SCHEMA IF EXISTS "{theirs}" CASCADE')
        query(f'DROP SCHEMA IF EXISTS "{theirs}_staging" CASCADE')


def test_a_key_that_only_ever_holds_nan_makes_no_column_as_in_dlt(dataset, pg_credentials, query, tmp_path,
                                                                     monkeypatch):
    """dlt's extract file writes NaN as null: the value is NULL, and NaN alone makes no column."""
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    items = [{"id": i, "f": float("nan"), "g": 1.5 if i else float("nan"), "l": [float("nan"), 2.5]} for i in range(3)]
    theirs = f"{dataset}_dlt"
    columns = "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s " \
              "ORDER BY table_name, ordinal_position"
    try:
        dlt.pipeline("nan", destination=dlt.destinations.postgres(diff_harness.dlt_uri(pg_credentials)),
                     dataset_name=theirs, pipelines_dir=str(tmp_path)).run(items, table_name="t")
        pg_assets.pipeline("nan", dataset=dataset, credentials=pg_credentials).run(items, table_name="t")
        assert query(columns, (dataset,)) == query(columns, (theirs,))
        assert ("t", "f") not in query(columns, (dataset,))
        values = "SELECT id, g FROM {}.t ORDER BY id"
        assert query(values.format(f'"{dataset}"')) == query(values.format(f'"{theirs}"')) == [
            (0, None), (1, 1.5), (2, 1.5)]
    finally:
        query(f'DROP SCHEMA IF EXISTS "{theirs}" CASCADE')
        query(f'DROP SCHEMA IF EXISTS "{theirs}_staging" CASCADE')
