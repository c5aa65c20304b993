"""Merge dispositions against the real server: delete-insert, upsert, insert-only and scd2,
with child tables, de-duplication, hard deletes, merge keys, indexes and atomicity."""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg2
import pytest

import pg_assets
from pg_assets.load import merge
from pg_assets.load.dispositions import Staged
from pg_assets.table_plan import TablePlan
from pg_assets.schema import Column, Table

KEYED = ["delete-insert", "upsert"]


def _run(dataset: str, data: Any, strategy: str, *, create_indexes: bool = True, **options: Any
         ) -> pg_assets.LoadInfo:
    p = pg_assets.pipeline("merge", dataset=dataset, workers=2, create_indexes=create_indexes)
    return p.run(data, table_name="t", write_disposition={"disposition": "merge", "strategy": strategy},
                 **options)


def _table(query, dataset: str, columns: str = "id, v", table: str = "t") -> list[tuple]:
    return query(f'SELECT {columns} FROM "{dataset}"."{table}" ORDER BY 1, 2')


def _kids(query, dataset: str) -> list[tuple]:
    """(parent id, kid value) through `_dlt_root_id`; orphans show as (None, value)."""
    return query(f'SELECT t.id, k.value FROM "{dataset}".t__kids AS k LEFT JOIN "{dataset}".t AS t '
                 f'ON t._dlt_id = k._dlt_root_id ORDER BY 1, k._dlt_list_idx')


# ---- replacing rows and their children -----------------------------------------------------------


@pytest.mark.parametrize("strategy", KEYED)
def test_changed_rows_and_their_children_are_replaced(dataset, query, strategy):
    _run(dataset, [{"id": 1, "v": "a", "kids": [1, 2, 3]}, {"id": 2, "v": "b", "kids": [4]}], strategy,
         primary_key="id")
    _run(dataset, [{"id": 1, "v": "A", "kids": [9]}, {"id": 3, "v": "c"}], strategy, primary_key="id")
    assert _table(query, dataset) == [(1, "A"), (2, "b"), (3, "c")]
    assert _kids(query, dataset) == [(1, 9), (2, 4)]


@pytest.mark.parametrize("strategy", KEYED)
def test_a_row_that_lost_its_list_loses_its_children(dataset, query, strategy):
    _run(dataset, [{"id": 1, "v": "a", "kids": [1, 2]}], strategy, primary_key="id")
    _run(dataset, [{"id": 1, "v": "a", "kids": []}], strategy, primary_key="id")
    assert _kids(query, dataset) == []


def test_insert_only_leaves_existing_keys_untouched(dataset, query):
    _run(dataset, [{"id": 1, "v": "a", "kids": [1]}], "insert-only", primary_key="id")
    _run(dataset, [{"id": 1, "v": "A", "kids": [9]}, {"id": 2, "v": "b", "kids": [2]}], "insert-only",
         primary_key="id")
    assert _table(query, dataset) == [(1, "a"), (2, "b")]
    assert _kids(query, dataset) == [(1, 1), (2, 2)]


@pytest.mark.parametrize("strategy", ["upsert", "insert-only"])
def test_strategies_that_need_a_primary_key_say_so(dataset, strategy):
    with pytest.raises(pg_assets.ConfigError, match=f"`{strategy}` needs a `primary_key`"):
        _run(dataset, [{"id": 1}], strategy)


def test_upsert_replaces_the_whole_row(dataset, query):
    """A column the new version lacks becomes NULL, as if the row was written again."""
    _run(dataset, [{"id": 1, "v": "a", "note": "old"}], "upsert", primary_key="id")
    _run(dataset, [{"id": 1, "v": "b"}], "upsert", primary_key="id")
    assert _table(query, dataset, "id, v, note") == [(1, "b", None)]


# ---- de-duplication inside one batch --------------------------------------------------------------


@pytest.mark.parametrize("strategy, survivor", [
    ("delete-insert", "third"), ("upsert", "third"), ("insert-only", "first"),
], ids=["delete-insert-last-wins", "upsert-last-wins", "insert-only-first-wins"])
def test_duplicate_keys_in_one_batch(dataset, query, strategy, survivor):
    batch = [{"id": 1, "v": "first", "kids": [1]}, {"id": 1, "v": "second", "kids": [2, 2]},
             {"id": 1, "v": "third", "kids": [3]}, {"id": 2, "v": "other"}]
    _run(dataset, batch, strategy, primary_key="id")
    assert _table(query, dataset) == [(1, survivor), (2, "other")]
    assert _kids(query, dataset) == [(1, {"first": 1, "third": 3}[survivor])]


@pytest.mark.parametrize("strategy", KEYED)
@pytest.mark.parametrize("order, survivor", [("desc", "newest"), ("asc", "oldest")])
def test_dedup_sort_picks_the_survivor(dataset, query, strategy, order, survivor):
    batch = [{"id": 1, "ts": 2, "v": "middle"}, {"id": 1, "ts": 3, "v": "newest"}, {"id": 1, "ts": 1, "v": "oldest"}]
    _run(dataset, batch, strategy, primary_key="id", columns={"ts": {"dedup_sort": order}})
    assert _table(query, dataset) == [(1, survivor)]


def test_dedup_sort_ties_go_to_the_last_row(dataset, query):
    batch = [{"id": 1, "ts": 5, "v": "early"}, {"id": 1, "ts": 5, "v": "late"}, {"id": 1, "ts": 1, "v": "old"}]
    _run(dataset, batch, "upsert", primary_key="id", columns={"ts": {"dedup_sort": "desc"}})
    assert _table(query, dataset) == [(1, "late")]


def test_upsert_dedups_where_dlt_fails(dataset, query):
    """The same key twice in one batch collides on `_dlt_id` in dlt; here the last one wins."""
    info = _run(dataset, [{"id": 7, "v": "x"}, {"id": 7, "v": "y"}], "upsert", primary_key="id")
    assert _table(query, dataset, "id, v, _dlt_id") == [(7, "y", query(f'SELECT _dlt_id FROM "{dataset}".t')[0][0])]
    assert info.row_counts["t"] == 2  # staged rows: both arrived, one survived


# ---- hard deletes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", KEYED)
@pytest.mark.parametrize("flag, deleted, kept", [
    ("deleted", True, False), ("deleted_at", "2024-05-01T00:00:00+00:00", None),
], ids=["bool-column", "timestamp-column"])
def test_hard_delete_removes_the_row_and_its_children(dataset, query, strategy, flag, deleted, kept):
    _run(dataset, [{"id": 1, "v": "a", "kids": [1]}, {"id": 2, "v": "b", "kids": [2]}], strategy,
         primary_key="id", columns={flag: {"hard_delete": True}})
    batch = [{"id": 1, "v": "a", flag: deleted}, {"id": 2, "v": "B", flag: kept, "kids": [3]},
             {"id": 3, "v": "never", flag: deleted, "kids": [4]}]
    _run(dataset, batch, strategy, primary_key="id", columns={flag: {"hard_delete": True}})
    assert _table(query, dataset) == [(2, "B")]
    assert _kids(query, dataset) == [(2, 3)]


def test_hard_delete_then_insert_in_a_later_load(dataset, query):
    hints = {"deleted": {"hard_delete": True}}
    _run(dataset, [{"id": 1, "v": "a"}], "delete-insert", primary_key="id", columns=hints)
    _run(dataset, [{"id": 1, "deleted": True}], "delete-insert", primary_key="id", columns=hints)
    _run(dataset, [{"id": 1, "v": "again", "deleted": False}], "delete-insert", primary_key="id", columns=hints)
    assert _table(query, dataset) == [(1, "again")]


# ---- merge keys ----------------------------------------------------------------------------------------


def test_merge_key_replaces_the_whole_partition(dataset, query):
    day1 = [{"id": i, "day": 1, "v": f"d1-{i}"} for i in range(3)]
    day2 = [{"id": 10 + i, "day": 2, "v": f"d2-{i}"} for i in range(2)]
    _run(dataset, day1 + day2, "delete-insert", primary_key="id", merge_key="day")
    _run(dataset, [{"id": 0, "day": 1, "v": "d1-new"}], "delete-insert", primary_key="id", merge_key="day")
    assert _table(query, dataset, "id, v") == [(0, "d1-new"), (10, "d2-0"), (11, "d2-1")]


def test_merge_key_alone_replaces_partitions_with_their_children(dataset, query):
    _run(dataset, [{"id": 1, "day": 1, "kids": [1]}, {"id": 2, "day": 2, "kids": [2]}], "delete-insert",
         merge_key="day")
    _run(dataset, [{"id": 3, "day": 1, "kids": [3]}], "delete-insert", merge_key="day")
    assert _kids(query, dataset) == [(2, 2), (3, 3)]


def test_merge_without_keys_appends_and_warns(dataset, query, caplog):
    with caplog.at_level(logging.WARNING, logger="pg_assets"):
        _run(dataset, [{"id": 1}], "delete-insert")
        info = _run(dataset, [{"id": 1}], "delete-insert")
    assert _table(query, dataset, "id, 1") == [(1, 1), (1, 1)]
    assert any("without a `primary_key` or `merge_key`" in w for w in info.warnings)
    assert "cannot replace rows" in caplog.text


# ---- scd2 ------------------------------------------------------------------------------------------------


def _versions(query, dataset: str) -> list[tuple]:
    """(nk, v, version number it started in, version number it ended in or None)."""
    rows = query(f'SELECT nk, v, _dlt_valid_from, _dlt_valid_to FROM "{dataset}".t ORDER BY nk, _dlt_valid_from')
    stamps = sorted({r[2] for r in rows})
    return [(nk, v, stamps.index(start) + 1, None if end is None else stamps.index(end) + 1)
            for nk, v, start, end in rows]


def test_scd2_over_three_loads(dataset, query):
    _run(dataset, [{"nk": 1, "v": "a", "tags": ["x"]}, {"nk": 2, "v": "b", "tags": ["y", "z"]},
                   {"nk": 3, "v": "c"}], "scd2")
    _run(dataset, [{"nk": 1, "v": "a", "tags": ["x"]}, {"nk": 2, "v": "B"}], "scd2")  # 2 changes, 3 is gone
    _run(dataset, [{"nk": 1, "v": "a", "tags": ["x"]}, {"nk": 2, "v": "b", "tags": ["y", "z"]},
                   {"nk": 3, "v": "c2"}], "scd2")  # 2 changes back, 3 returns changed
    assert _versions(query, dataset) == [
        (1, "a", 1, None),
        (2, "b", 1, 2), (2, "B", 2, 3), (2, "b", 3, None),
        (3, "c", 1, 2), (3, "c2", 3, None),
    ]
    # a changed version and its successor share one boundary timestamp: no gap, no overlap
    assert query(f'SELECT old.nk, old.v, new.v FROM "{dataset}".t AS old JOIN "{dataset}".t AS new '
                 f'ON old.nk = new.nk AND old._dlt_valid_to = new._dlt_valid_from ORDER BY 1, 2') == [
        (2, "B", "b"), (2, "b", "B")]
    # child rows are insert-only: version "b" came back with the child rows it already had
    tags = query(f'SELECT value, count(*) FROM "{dataset}".t__tags GROUP BY value ORDER BY value')
    assert tags == [("x", 1), ("y", 1), ("z", 1)]


def test_scd2_merge_key_limits_retirement_to_keys_present(dataset, query):
    _run(dataset, [{"nk": 1, "v": "a"}, {"nk": 2, "v": "b"}], "scd2", merge_key="nk")
    _run(dataset, [{"nk": 1, "v": "A"}], "scd2", merge_key="nk")  # 2 absent but not retired
    assert _versions(query, dataset) == [(1, "a", 1, 2), (1, "A", 2, None), (2, "b", 1, None)]


def test_scd2_same_content_twice_in_a_batch_is_one_version(dataset, query):
    _run(dataset, [{"nk": 1, "v": "a"}, {"nk": 1, "v": "a"}], "scd2")
    _run(dataset, [{"nk": 1, "v": "a"}], "scd2")
    assert _versions(query, dataset) == [(1, "a", 1, None)]


# ---- indexes --------------------------------------------------------------------------------------------


def _indexes(query, dataset: str) -> dict[str, tuple[str, bool]]:
    """index name -> (indexed columns, unique) for the merge table and its child table."""
    rows = query("SELECT i.relname, t.relname, pg_get_indexdef(x.indexrelid), x.indisunique FROM pg_index x "
                 "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                 "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s AND t.relname LIKE 't%%'",
                 (dataset,))
    return {f"{table}:{definition.rsplit('(', 1)[1].rstrip(')')}": unique for _, table, definition, unique in rows}


@pytest.mark.parametrize("strategy, expected", [
    ("delete-insert", {"t:id": True, "t:day": False, "t:_dlt_id": True, "t__kids:_dlt_id": True,
                       "t__kids:_dlt_root_id": False, "t__kids:_dlt_parent_id": False}),
    ("upsert", {"t:id": True, "t:day": False, "t:_dlt_id": True, "t__kids:_dlt_id": True,
                "t__kids:_dlt_root_id": False, "t__kids:_dlt_parent_id": False}),
    # scd2 child rows have no `_dlt_root_id`, as in dlt
    ("scd2", {"t:id": False, "t:day": False, "t__kids:_dlt_id": True, "t__kids:_dlt_parent_id": False}),
])
def test_indexes_of_merge_tables(dataset, query, strategy, expected):
    _run(dataset, [{"id": 1, "day": 1, "kids": [1]}], strategy, primary_key="id", merge_key="day")
    assert _indexes(query, dataset) == expected


@pytest.mark.parametrize("strategy", ["delete-insert", "upsert", "scd2"])
def test_no_indexes_without_create_indexes(dataset, query, strategy):
    _run(dataset, [{"id": 1, "day": 1, "kids": [1]}], strategy, primary_key="id", merge_key="day",
         create_indexes=False)
    _run(dataset, [{"id": 1, "day": 1, "kids": [2]}], strategy, primary_key="id", merge_key="day",
         create_indexes=False)
    assert _indexes(query, dataset) == {}
    assert len(_table(query, dataset, "id, day")) == (2 if strategy == "scd2" else 1)


def test_a_small_merge_looks_keys_up_in_the_index(dataset, query, pg_conn):
    """With the commit's planner setting, 100 keys into 20,000 rows are index lookups, not a scan."""
    _run(dataset, [{"id": i, "v": "x"} for i in range(20_000)], "upsert", primary_key="id")
    query(f'ANALYZE "{dataset}".t')
    pg_conn.autocommit = False
    try:
        with pg_conn.cursor() as cur:
            cur.execute(merge.RANDOM_PAGE_COST)
            cur.execute(f'CREATE TEMP TABLE keep AS SELECT id FROM "{dataset}".t WHERE id % 200 = 0')
            cur.execute("ANALYZE keep")
            cur.execute(f'EXPLAIN UPDATE "{dataset}".t AS d SET v = \'y\' FROM keep AS s WHERE d.id = s.id')
            plan = " ".join(r[0] for r in cur.fetchall())
    finally:
        pg_conn.rollback()
        pg_conn.autocommit = True
    assert "Index Scan using t_id_pk" in plan


# ---- the SQL itself, without a server ----------------------------------------------------------------


def _plan(strategy: str, **keys: tuple[str, ...]) -> tuple[TablePlan, list[Table], dict[str, Staged]]:
    plan = TablePlan(root="t", write_disposition="merge", strategy=strategy, hints={"deleted": {"hard_delete": True}},
                     max_nesting=9, contract={}, row_key=None, root_id_in_children=True, resource="t", **keys)
    cols = ("id", "deleted", "_dlt_load_id", "_dlt_id", "_pg_assets_seq")
    root = Table("t", columns={c: Column(c, "bigint") for c in cols})
    kids = Table("t__kids", parent="t", columns={c: Column(c, "text") for c in ("value", "_dlt_root_id", "_dlt_id")})
    staged = {"t": Staged("s", "t_stg", cols), "t__kids": Staged("s", "k_stg", ("value", "_dlt_root_id", "_dlt_id",
                                                                                 "_pg_assets_seq"))}
    return plan, [root, kids], staged


@pytest.mark.parametrize("strategy, keys", [
    ("delete-insert", {"primary_key": ("id",)}), ("delete-insert", {"merge_key": ("id",)}),
    ("upsert", {"primary_key": ("id",)}), ("insert-only", {"primary_key": ("id",)}), ("scd2", {}),
    ("scd2", {"merge_key": ("id",)}),
], ids=["delete-insert-pk", "delete-insert-mk", "upsert", "insert-only", "scd2", "scd2-mk"])
def test_merge_sql_shape(strategy, keys):
    plan, tables, staged = _plan(strategy, **keys)
    statements = merge.merge_sql("ds", plan, tables, staged, {"t", "t__kids"}, "2024-01-01T00:00:00+00:00")
    assert statements[0] == merge.RANDOM_PAGE_COST
    text = "\n".join(statements)
    # temporary tables are always schema-qualified: a bare DROP could hit a user's table
    assert re.findall(r"(?:TABLE|VIEW|FROM|JOIN|USING|INTO)\s+(pg_assets_\w+)", text) == []
    assert "NOT IN" not in text  # NOT IN over a large batch degrades to a nested loop
    assert "_pg_assets_seq" not in " ".join(s for s in statements if s.startswith('INSERT INTO "ds"."t" ('))


# ---- all or nothing  ---------------------------------------------------------------------------------------


def test_a_failing_table_rolls_back_every_merge_of_the_load(dataset, query):
    p = pg_assets.pipeline("merge", dataset=dataset, workers=2)
    merge = {"disposition": "merge", "strategy": "upsert"}
    p.run([pg_assets.resource([{"id": 1, "v": "a", "kids": [1]}], name="t", write_disposition=merge,
                              primary_key="id"),
           pg_assets.resource([{"code": "x"}], name="other")])
    query(f'CREATE UNIQUE INDEX other_code ON "{dataset}".other (code)')  # the next load breaks it
    with pytest.raises(pg_assets.TerminalLoadError, match="other"):
        p.run([pg_assets.resource([{"id": 1, "v": "A", "kids": [9]}, {"id": 2, "v": "b"}], name="t",
                                  write_disposition=merge, primary_key="id"),
               pg_assets.resource([{"code": "x"}], name="other")])
    assert _table(query, dataset) == [(1, "a")]
    assert _kids(query, dataset) == [(1, 1)]
    assert query(f'SELECT count(*) FROM "{dataset}"._dlt_loads')[0][0] == 1


def test_merge_into_a_table_another_session_reads(dataset, query, pg_credentials):
    """Readers keep seeing the old rows until the commit, then all of the new ones."""
    _run(dataset, [{"id": 1, "v": "a"}], "upsert", primary_key="id")
    reader = psycopg2.connect(**pg_credentials.connect_kwargs())
    try:
        reader.set_session(isolation_level="REPEATABLE READ")
        with reader.cursor() as cur:
            cur.execute(f'SELECT v FROM "{dataset}".t')
            assert cur.fetchall() == [("a",)]
            _run(dataset, [{"id": 1, "v": "b"}], "upsert", primary_key="id")
            cur.execute(f'SELECT v FROM "{dataset}".t')
            assert cur.fetchall() == [("a",)]
        reader.commit()
        with reader.cursor() as cur:
            cur.execute(f'SELECT v FROM "{dataset}".t')
            assert cur.fetchall() == [("b",)]
    finally:
        reader.close()
