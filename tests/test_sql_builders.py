"""Every public builder of the `sql` package, with hostile identifiers, parsed by sqlglot (postgres).

The case table below names each public function and statement constant of `sql.ddl`,
`sql.dml`, `sql.reads` and `sql.merge`; `test_every_builder_has_a_case` fails when a new
builder arrives without one. The merge strategies are parsed whole, as `merge_sql` emits
them, with child tables, hard deletes, dedup sort, merge keys and scd2 options. The
statements outside the merge then run on the server with the same hostile names (the
merge's run in `test_merge.py`).
"""

from __future__ import annotations

import inspect
import re
from types import ModuleType

import pytest
import sqlglot
from sqlglot import exp

from pg_assets import sql
from pg_assets.load import merge
from pg_assets.load.dispositions import Staged
from pg_assets.table_plan import Scd2Options, TablePlan
from pg_assets.schema import Column, Table
from pg_assets.sql import ddl, dml, reads

# identifiers that break hand-written quoting: inner quotes, a statement terminator, a comment
S, T, C, V = 'sch"ema; --', 'ta"ble', 'co"l; DROP TABLE x', 'v"al'
SM = sql.merge
# the merge's kept rows (the root's staging table) and delete-insert's replaced ids, beside them
KEPT, DOOMED = sql.qualified(S + "_staging", T + "__stg_1"), sql.qualified(S + "_staging", T + "__stg_1-doomed")

CASES: dict[str, list[str]] = {
    # ddl
    "create_schema": [ddl.create_schema(S)],
    "create_schema_for": [ddl.create_schema_for(S, 'lo"ader')],
    "drop_schema_if_empty": [ddl.drop_schema_if_empty(S)],
    "column_def": [ddl.create_table(S, T, [ddl.column_def(C, "bigint", nullable=False)])],
    "create_table": [ddl.create_table(S, T, [ddl.column_def(C, "text")], unlogged=True)],
    "create_ledger": [ddl.create_ledger(S, T)],
    "add_columns": [ddl.add_columns(S, T, [ddl.column_def(C, "jsonb"), ddl.column_def("b", "numeric(38,9)")])],
    "drop_columns": [ddl.drop_columns(S, T, [C, "b"])],
    "renew_not_null": [ddl.renew_not_null(S, T, [C, "b"])],
    "drop_view": [ddl.drop_view(S, T), ddl.drop_view(S, T, if_exists=False, materialized=True)],
    "create_view": [ddl.create_view(S, T, f"SELECT 1 AS {sql.ident(C)};"),
                    ddl.create_view(S, T, " SELECT 1", options=[("security_barrier", "true"), (C, "it's")])],
    "alter_owner": [ddl.alter_owner(S, T, 'ro"le'), ddl.alter_owner(S, T, 'ro"le', kind="MATERIALIZED VIEW"),
                    ddl.alter_owner(S, T, 'ro"le', kind="TABLE")],
    "grant": [ddl.grant(["USAGE", "CREATE"], "SCHEMA", sql.ident(S), 'lo"ader'),
              ddl.grant(["CREATE"], "DATABASE", sql.ident('d"b'), 'lo"ader'),
              ddl.grant(["SELECT", "INSERT"], "TABLE", sql.qualified(S, T), 'lo"ader'),
              ddl.grant(["UPDATE"], "TABLE", sql.qualified(S, T), None, grant_option=True)],
    "revoke": [ddl.revoke(["TRUNCATE"], "TABLE", sql.qualified(S, T), 'ro"le'),
               ddl.revoke(["SELECT"], "TABLE", sql.qualified(S, T), None)],
    "comment_on_view": [ddl.comment_on_view(S, T, "it's"), ddl.comment_on_view(S, T, "x", materialized=True)],
    "comment_on_column": [ddl.comment_on_column(S, T, C, "it's; --")],
    "create_index": [ddl.create_index(S, T, 'i"x', [C, "b"], unique=True), ddl.create_index(S, T, "i", [C],
                                                                                             unique=False)],
    "add_unique": [ddl.add_unique(S, T, [C])],
    "drop_table": [ddl.drop_table(S, T), ddl.drop_table(S, T, if_exists=False)],
    "truncate": [ddl.truncate(S, [T, T + "__kids"])],
    "set_schema": [ddl.set_schema(S, T, 'new"schema')],
    "rename_table": [ddl.rename_table(S, T, 'new"name')],
    "comment_on_table": [ddl.comment_on_table(S, T, "it's; -- a marker")],
    "create_database": [ddl.create_database('da"ta')],
    "analyze": [ddl.analyze(sql.qualified(S, T))],
    # dml
    "delete_all": [dml.delete_all(S, T)],
    "insert_select": [dml.insert_select(S, T, sql.qualified(S, "stg"), [C, "b"]),
                      dml.insert_select(S, T, KEPT, [C], f"s.{sql.ident(C)} > 1", alias="s")],
    "copy_from_stdin": [dml.copy_from_stdin(S, T, [C]), dml.copy_from_stdin(S, T, [C], binary=True)],
    "insert_values_head": [dml.insert_values_head(S, T, [C, "b"]) + "(1, 'x')"],
    "insert_row": [dml.insert_row(S, T, {C: "it's", "n": float("nan"), "b": b"\x00", "j": {"k": [1]}})],
    "copy_select_out": [dml.copy_select_out(S, T, [sql.ident(C), dml.as_jsonb(C), sql.text_literal("1.5"),
                                                   dml.local_row_id('a1')]), dml.copy_select_out(None, T, ["1"])],
    "as_jsonb": [f"SELECT {dml.as_jsonb(C)} FROM {sql.qualified(S, T)}"],
    "ledger_has": [dml.ledger_has(sql.qualified(S, T))],
    "ledger_add": [dml.ledger_add(sql.qualified(S, T))],
    "backfill_root_ids": [dml.backfill_root_ids(S, T + "__a", T, parent_is_root=True),
                          dml.backfill_root_ids(S, T + "__a__b", T + "__a", parent_is_root=False)],
    "local_row_id": [f"SELECT {dml.local_row_id('a1')} FROM t", f"SELECT {dml.local_row_id('x''; --')}"],
    # reads
    **{name: [getattr(reads, name)] for name in (
        "REGCLASS", "REGCLASSES", "ALL_REGCLASSES", "DATABASE_EXISTS", "SCHEMA_EXISTS", "EXISTING_SCHEMAS",
        "EXISTING_TABLES", "SESSION_FACTS", "SET_SESSION_SETTINGS", "BACKEND_PID", "LACKING_PRIVILEGES", "MARKED_TABLES", "TRY_ADVISORY_LOCK",
        "LOCK_HOLDER", "HOLDS_ADVISORY_LOCK", "INFORMATION_SCHEMA_COLUMNS", "CHILD_TABLES",
        "CHILD_TABLES_OF_SCHEMAS", "TABLE_COLUMNS", "ROW_ESTIMATE", "SCHEMA_HAS_RELATIONS", "CAN_CREATE_SCHEMAS",
        "DEPENDENT_VIEWS", "SWAP_BLOCKERS", "TABLE_ACCESS")},
    "advisory_xact_lock": [reads.advisory_xact_lock(2**63 - 1), reads.advisory_xact_lock(-1, shared=True)],
    "load_committed": [reads.load_committed(S, T)],
    "newest_state": [reads.newest_state(S, T, "_dlt_loads")],
    "newest_schema_hash": [reads.newest_schema_hash(S, T)],
    "newest_per_group": [reads.newest_per_group(S, T, [C, "b"], group=C, newest_first=["b", "c"])],
    "count_rows": [reads.count_rows(S, T)],
    "count_nulls": [reads.count_nulls(S, T, C)],
    "count_duplicates": [reads.count_duplicates(S, T, [C, "b"]), reads.count_duplicates(S, T, [C], current="v")],
    # merge: each builder alone (the strategies as a whole follow below)
    **{name: [getattr(SM, name)] for name in ("RANDOM_PAGE_COST", "WORK_MEM")},
    "deleted": [f"SELECT 1 FROM {KEPT} AS s WHERE {SM.deleted(C, is_bool=True)}",
                f"SELECT 1 FROM {KEPT} AS s WHERE {SM.deleted(C, is_bool=False)}"],
    "alive": [f"SELECT 1 WHERE {SM.alive(None)}", f"SELECT 1 FROM {KEPT} AS s WHERE "
                                                   f"{SM.alive(SM.deleted(C, is_bool=True))}"],
    "match": [f"SELECT 1 FROM {sql.qualified(S, T)} AS d, {KEPT} AS s WHERE {SM.match([C, 'b'])}"],
    "not_in_destination": [SM.insert_kept(KEPT, S, T, [C], SM.not_in_destination(S, T, [C]))],
    "both": [SM.insert_kept(KEPT, S, T, [C], SM.both("TRUE", SM.not_in_destination(S, T, [C])))],
    "dedup_order": [SM.drop_duplicates(sql.qualified(S, "stg"), [C], SM.dedup_order(C, "asc", last_wins=False)),
                    SM.drop_duplicates(sql.qualified(S, "stg"), [C], SM.dedup_order(None, None, last_wins=True))],
    "drop_duplicates": [SM.drop_duplicates(sql.qualified(S, "stg"), [C, "b"], "1")],
    "kept_roots": [f"SELECT 1 WHERE (1, 2) IN ({SM.kept_roots(KEPT, 'TRUE')})"],
    "insert_kept": [SM.insert_kept(KEPT, S, T, [C, "b"], "TRUE")],
    "forget_kept_in_destination": [SM.forget_kept_in_destination(KEPT, S, T, [C, "b"])],
    "insert_children": [SM.insert_children(S, T, sql.qualified(S, "k"), [C], SM.kept_roots(KEPT, "TRUE")),
                        SM.insert_children(S, T, sql.qualified(S, "k"), [C], SM.kept_roots(KEPT, "TRUE"),
                                           new_only=True)],
    "delete_children": [SM.delete_children(S, T, SM.doomed_ids(DOOMED))],
    "doomed_ids": [SM.doomed_ids(DOOMED)],
    "matched_by_primary_key": [SM.create_doomed(DOOMED, [SM.matched_by_primary_key(KEPT, S, T, [C])])],
    "matched_by_merge_key": [SM.create_doomed(DOOMED, [SM.matched_by_merge_key(S, T, [C, "b"], KEPT)])],
    "create_doomed": [SM.create_doomed(DOOMED, [SM.matched_by_primary_key(KEPT, S, T, [C]),
                                                SM.matched_by_merge_key(S, T, ["b"], KEPT)])],
    "delete_doomed": [SM.delete_doomed(DOOMED, S, T)],
    "delete_matched": [SM.delete_matched(KEPT, S, T, [C], SM.deleted("x", is_bool=True))],
    "update_matched": [SM.update_matched(KEPT, S, T, [C, "b"], [C], "TRUE")],
    "current": [SM.retire(KEPT, S, T, valid_to=C, at="'2024-01-01'", is_current=SM.current(C, "NULL"), version="v"),
                SM.retire(KEPT, S, T, valid_to=C, at="'2024-01-01'", is_current=SM.current(C, "'9999-12-31'"),
                          version="v")],
    "drop_repeated_versions": [SM.drop_repeated_versions(KEPT, C)],
    "retire": [SM.retire(KEPT, S, T, valid_to="to", at="'2024-01-01'", is_current="TRUE", version=C,
                         merge_key=[C, "b"])],
    "forget_current_twins": [SM.forget_current_twins(KEPT, S, T, version=C, keys=[C, "b"], is_current="TRUE")],
    "insert_versions": [SM.insert_versions(KEPT, S, T, [C, "b"], valid_from="from", valid_to="to",
                                           at="'2024-01-01'", active="NULL")],
}
# parsed, but only as an opaque command: sqlglot has no grammar for `ALTER TABLE ... SET SCHEMA`,
# `ALTER COLUMN ... DROP NOT NULL` (both run on the server in the tests below), `ALTER ... OWNER TO`
# (run by `test_views_swap.py` and tests/server/), `CREATE SCHEMA ... AUTHORIZATION` or
# `DROP SCHEMA ... RESTRICT`
OPAQUE = {"set_schema", "renew_not_null", "create_schema_for", "alter_owner", "drop_schema_if_empty"}
# sqlglot cannot parse `COMMENT ON [MATERIALIZED] VIEW` nor `DROP SCHEMA ... RESTRICT` at all: checked on
# the server only (below)
SERVER_ONLY = {"comment_on_view", "drop_schema_if_empty"}
# builders that return several statements in one string, on purpose
STATEMENT_COUNT: dict[str, int] = {}


def _public(module: ModuleType) -> set[str]:
    """The module's own public functions and statement constants."""
    imported = {*vars(sql.names), *vars(sql.quoting)}
    return {n for n, v in vars(module).items() if not n.startswith("_") and n not in imported and (
        (inspect.isfunction(v) and v.__module__ == module.__name__) or (n.isupper() and isinstance(v, str)))}


def test_every_builder_has_a_case() -> None:
    assert set().union(*map(_public, (ddl, dml, reads, sql.merge))) == set(CASES)


def _parse(statement: str, count: int = 1, *, opaque: bool = False) -> list[exp.Expression]:
    # psycopg2's placeholders: sqlglot reads `%s` as a parameter already, nothing to replace
    parsed = sqlglot.parse(statement, read="postgres", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(parsed) == count and all(p is not None for p in parsed)
    assert opaque or not any(isinstance(p, exp.Command) for p in parsed), statement
    return parsed


@pytest.mark.parametrize(("name", "statement"), [(n, s) for n, ss in CASES.items() if n not in SERVER_ONLY
                                                  for s in ss],
                         ids=[f"{n}-{i}" for n, ss in CASES.items() if n not in SERVER_ONLY for i in range(len(ss))])
def test_builder_output_parses(name: str, statement: str) -> None:
    _parse(statement, STATEMENT_COUNT.get(name, 1), opaque=name in OPAQUE)


def test_hostile_identifiers_stay_identifiers() -> None:
    """The hostile table name comes back from the parse as one table, not as a second statement."""
    (parsed,) = _parse(ddl.drop_table(S, T))
    table = parsed.find(exp.Table)
    assert (table.db, table.name) == (S, T)


# ---- the merge strategies, whole ----------------------------------------------------------------------


def _chain(hints: dict[str, dict[str, object]]) -> tuple[list[Table], dict[str, Staged]]:
    cols = (C, "deleted", "updated", "_dlt_load_id", "_dlt_id", "_pg_assets_seq")
    root = Table(T, columns={c: Column(c, "bool" if c == "deleted" else "bigint") for c in cols})
    kid_cols = ("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_id", "_pg_assets_seq")
    kids = Table(T + "__kids", parent=T, columns={c: Column(c, "text") for c in kid_cols})
    staged = {T: Staged(S, "t_stg", cols), T + "__kids": Staged(S, "k_stg", kid_cols)}
    return [root, kids], staged


HINTS = {"none": {}, "hard_delete": {"deleted": {"hard_delete": True}},
         "dedup_sort": {"updated": {"dedup_sort": "desc"}},
         "both": {"deleted": {"hard_delete": True}, "updated": {"dedup_sort": "asc"}}}
KEYS = {"pk": {"primary_key": (C,)}, "mk": {"merge_key": (C,)},
        "pk+mk": {"primary_key": (C,), "merge_key": ("updated",)}}
SCD2 = {"default": None,
        "options": Scd2Options(valid_from='fr"om', valid_to='t"o', active_record_timestamp="9999-12-31",
                               boundary_timestamp="2024-01-01", row_version_column="updated")}


def _merge(strategy: str, hints: str, keys: dict[str, tuple[str, ...]], scd2: Scd2Options | None = None,
           existing: frozenset[str] = frozenset({T, T + "__kids"})) -> list[str]:
    tables, staged = _chain(HINTS[hints])
    plan = TablePlan(root=T, write_disposition="merge", strategy=strategy, hints=HINTS[hints], max_nesting=9,
                     contract={}, row_key=None, root_id_in_children=True, resource="r", scd2=scd2, **keys)
    return merge.merge_sql(S, plan, tables, staged, set(existing), "2024-01-01T00:00:00+00:00")


# upsert and insert-only require a primary key (the spec rejects them without one)
MERGES = [(s, k) for s in ("delete-insert", "upsert", "insert-only") for k in KEYS
          if s == "delete-insert" or "primary_key" in KEYS[k]]


@pytest.mark.parametrize("existing", [frozenset(), frozenset({T, T + "__kids"})], ids=["first-load", "existing"])
@pytest.mark.parametrize("hints", list(HINTS), ids=list(HINTS))
@pytest.mark.parametrize(("strategy", "keys"), MERGES, ids=[f"{s}-{k}" for s, k in MERGES])
def test_merge_strategy_statements_parse(strategy: str, keys: str, hints: str, existing: frozenset[str]) -> None:
    statements = _merge(strategy, hints, KEYS[keys], existing=existing)
    assert len(statements) > 4
    for statement in statements:
        _parse(statement)


@pytest.mark.parametrize("existing", [frozenset(), frozenset({T, T + "__kids"})], ids=["first-load", "existing"])
@pytest.mark.parametrize("keys", [{}, KEYS["mk"], KEYS["pk"]], ids=["no-key", "mk", "pk"])
@pytest.mark.parametrize("options", list(SCD2), ids=list(SCD2))
def test_scd2_statements_parse(options: str, keys: dict[str, tuple[str, ...]], existing: frozenset[str]) -> None:
    statements = _merge("scd2", "none", keys, SCD2[options], existing)
    for statement in statements:
        _parse(statement)
    if options == "options":  # the hostile validity columns are quoted, never spliced in
        assert all('t"o' not in s for s in statements) and any('"t""o"' in s for s in statements)


def test_merge_without_a_key_appends_parseable_inserts() -> None:
    statements = _merge("delete-insert", "none", {})
    assert statements and all(re.match(r"INSERT INTO ", s) for s in statements)
    for statement in statements:
        _parse(statement)


def test_the_package_re_exports_every_builder() -> None:
    """`from pg_assets import sql; sql.create_table(...)` reaches every builder but the merge's."""
    assert set().union(*map(_public, (ddl, dml, reads))) <= set(sql.__all__)


# ---- and on the server --------------------------------------------------------------------------------


def test_ddl_and_dml_run_with_hostile_names(dataset: str, query) -> None:
    query(ddl.create_schema(dataset + 'x"; --'))
    query(ddl.drop_schema_if_empty(dataset + 'x"; --'))
    assert query(reads.SCHEMA_EXISTS, (dataset + 'x"; --',)) == [(False,)]
    query(ddl.create_schema(dataset))
    query(ddl.create_table(dataset, T, [ddl.column_def(C, "bigint", nullable=False),
                                        ddl.column_def("_dlt_id", "text")]))
    query(ddl.add_columns(dataset, T, [ddl.column_def(V, "text")]))
    query(ddl.create_index(dataset, T, 'i"x', [C], unique=True))
    query(ddl.renew_not_null(dataset, T, [C]))
    query(dml.insert_row(dataset, T, {C: 1, "_dlt_id": "a", V: "it's"}))
    query(dml.insert_values_head(dataset, T, [C, "_dlt_id", V]) + "(2, 'b', NULL)")
    query(ddl.create_table(dataset, "copy", [ddl.column_def(C, "bigint"), ddl.column_def("_dlt_id", "text"),
                                             ddl.column_def(V, "text")]))
    query(dml.insert_select(dataset, "copy", sql.qualified(dataset, T), [C, "_dlt_id", V], "s._dlt_id = 'a'",
                            alias="s"))
    assert query(f"SELECT {sql.ident_list([C, V])} FROM {sql.qualified(dataset, 'copy')}") == [(1, "it's")]
    assert query(reads.count_rows(dataset, T)) == [(2,)]
    assert query(reads.count_nulls(dataset, T, V)) == [(1,)]
    query(ddl.comment_on_table(dataset, T, "marker; it's"))
    assert query(reads.MARKED_TABLES, (dataset, "marker; it's")) == [(T,)]
    query(ddl.rename_table(dataset, "copy", 'co"py'))
    query(dml.delete_all(dataset, 'co"py'))
    query(ddl.truncate(dataset, [T]))
    assert query(reads.count_rows(dataset, T)) == [(0,)] == query(reads.count_rows(dataset, 'co"py'))
    query(ddl.drop_table(dataset, 'co"py'))
    assert query(reads.REGCLASS, (sql.qualified(dataset, 'co"py'),)) == [(None,)]


def test_reads_find_child_tables_columns_and_duplicates(dataset: str, query) -> None:
    query(ddl.create_schema(dataset))
    kid = T + "__kids"
    query(ddl.create_table(dataset, T, [ddl.column_def(C, "bigint"), ddl.column_def("_dlt_id", "text"),
                                        ddl.column_def("_dlt_valid_to", "text")]))
    query(ddl.create_table(dataset, kid, [ddl.column_def("_dlt_id", "text"), ddl.column_def("_dlt_parent_id", "text"),
                                          ddl.column_def("_dlt_root_id", "text")]))
    query(ddl.add_unique(dataset, kid, ["_dlt_id"]))
    for row in ({C: 1, "_dlt_id": "a", "_dlt_valid_to": "x"}, {C: 1, "_dlt_id": "b", "_dlt_valid_to": None},
                {C: 2, "_dlt_id": "c", "_dlt_valid_to": None}):
        query(dml.insert_row(dataset, T, row))
    assert query(reads.count_duplicates(dataset, T, [C])) == [(2,)]
    assert query(reads.count_duplicates(dataset, T, [C], current="_dlt_valid_to")) == [(0,)]
    query(dml.insert_row(dataset, kid, {"_dlt_id": "k", "_dlt_parent_id": "a", "_dlt_root_id": None}))
    query(dml.backfill_root_ids(dataset, kid, T, parent_is_root=True))
    assert query(f"SELECT _dlt_root_id FROM {sql.qualified(dataset, kid)}") == [("a",)]
    assert query(reads.CHILD_TABLES, (dataset, T + "__")) == [(kid,)]
    assert query(reads.CHILD_TABLES_OF_SCHEMAS, ([dataset],)) == [(dataset, kid)]
    columns = query(reads.TABLE_COLUMNS, (dataset, [kid]))
    assert [(c[1], c[4]) for c in columns] == [("_dlt_id", True), ("_dlt_parent_id", False), ("_dlt_root_id", False)]
    assert [r[:2] for r in query(reads.INFORMATION_SCHEMA_COLUMNS, (dataset,))][:3] == [
        (T, C), (T, "_dlt_id"), (T, "_dlt_valid_to")]
    assert query(reads.newest_per_group(dataset, T, [C, "_dlt_id"], group=C, newest_first=["_dlt_id"])) == [
        (1, "b"), (2, "c")]


def test_the_ledger_and_locks_run(dataset: str, query) -> None:
    query(ddl.create_schema(dataset))
    query(ddl.create_ledger(dataset, T))
    ledger = sql.qualified(dataset, T)
    assert query(dml.ledger_has(ledger), (7,)) == []
    query(dml.ledger_add(ledger), (7,))
    assert query(dml.ledger_has(ledger), (7,)) == [(1,)]
    assert query(reads.TRY_ADVISORY_LOCK, (5, 6)) == [(True,)]
    assert query(reads.HOLDS_ADVISORY_LOCK, (5, 6)) == [(True,)]
    assert query(reads.LOCK_HOLDER, (5, 6))[0][1] == query("SELECT pg_backend_pid()")[0][0]
    query("SELECT pg_advisory_unlock(5, 6)")
    assert query(reads.HOLDS_ADVISORY_LOCK, (5, 6)) == [(False,)]
    assert query(reads.LOCK_HOLDER, (5, 6)) == []


def test_server_made_row_keys_are_unique_and_come_in_runs(query) -> None:
    key = dml.local_row_id("5eed")
    rows = query(f"SELECT count(DISTINCT k), min(length(k)), max(length(k)), count(DISTINCT substr(k, 1, 10)) "
                 f"FROM (SELECT {key} AS k FROM generate_series(1, 200000)) AS keys")
    assert rows == [(200000, 14, 14, 4)]  # 200,000 keys in runs of 65,536: four prefixes


def test_view_builders_run_with_hostile_names(dataset: str, query) -> None:
    """Views, materialized views, owners, privileges and comments, as a swap recreates them."""
    query(ddl.create_schema(dataset))
    query(ddl.create_table(dataset, T, [ddl.column_def(C, "bigint")]))
    query(f"INSERT INTO {sql.qualified(dataset, T)} VALUES (7)")
    body = f"SELECT {sql.ident(C)} FROM {sql.qualified(dataset, T)};"
    query(ddl.create_view(dataset, 'v"w', body, options=[("security_barrier", "true")]))
    query(ddl.create_view(dataset, 'm"v', body, materialized=True))
    query(ddl.create_view(dataset, 'e"mpty', body, materialized=True, with_data=False))
    (me,), = query("SELECT current_user")
    query(ddl.alter_owner(dataset, 'v"w', me))
    query(ddl.alter_owner(dataset, 'm"v', me, kind="MATERIALIZED VIEW"))
    query(ddl.alter_owner(dataset, T, me, kind="TABLE"))
    query(ddl.grant(["SELECT"], "TABLE", sql.qualified(dataset, 'v"w'), None, grant_option=False))
    query(ddl.revoke(["TRUNCATE"], "TABLE", sql.qualified(dataset, 'v"w'), me))
    query(ddl.comment_on_view(dataset, 'v"w', "it's; --"))
    query(ddl.comment_on_view(dataset, 'm"v', "mat", materialized=True))
    query(ddl.comment_on_column(dataset, 'v"w', C, "col's"))
    assert query("SELECT * FROM " + sql.qualified(dataset, 'm"v')) == [(7,)]
    assert query("SELECT obj_description(%s::regclass, 'pg_class'), col_description(%s::regclass, 1), "
                 "'=r/' || current_user = ANY(relacl::text[]), reloptions FROM pg_class WHERE oid = %s::regclass",
                 (sql.qualified(dataset, 'v"w'),) * 3) == [("it's; --", "col's", True, ["security_barrier=true"])]
    assert query("SELECT relispopulated FROM pg_class WHERE oid = %s::regclass",
                 (sql.qualified(dataset, 'e"mpty'),)) == [(False,)]
    for name, materialized in (('v"w', False), ('m"v', True), ('e"mpty', True)):
        query(ddl.drop_view(dataset, name, if_exists=False, materialized=materialized))
