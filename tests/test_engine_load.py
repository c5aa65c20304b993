"""The engine end to end against the embedded Postgres: types, names, nesting, evolution, escaping."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest

import pg_assets

UTC = dt.timezone.utc
FORMATS = ["insert_values", "copy"]


def columns(query, schema: str, table: str) -> dict[str, str]:
    rows = query("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
                 "AND table_name = %s ORDER BY ordinal_position", (schema, table))
    return dict(rows)


@pytest.mark.parametrize("file_format", FORMATS)
def test_types_inferred_and_round_tripped(file_format: str, dataset: str, query) -> None:
    row = {
        "s": "text", "i": 2**62, "f": 1.25, "b": True,
        "ts_aware": dt.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "ts_naive": dt.datetime(2024, 1, 2, 3, 4, 5), "ts_str": "2024-05-06T07:08:09Z",
        "d": dt.date(2024, 2, 29), "t": dt.time(12, 30), "dec": decimal.Decimal("1.23"), "by": b"\x00\x01\xff",
        "u": uuid.UUID(int=5), "date_str": "2024-01-02",
    }
    p = pg_assets.pipeline("types", dataset=dataset, file_format=file_format)
    p.run([row], table_name="t", columns={"j": {"data_type": "json"}})
    p.run([{"j": {"k": [1, "x"]}}], table_name="t")
    cols = columns(query, dataset, "t")
    assert cols["s"] == "character varying" and cols["i"] == "bigint" and cols["f"] == "double precision"
    assert cols["b"] == "boolean" and cols["ts_aware"] == cols["ts_naive"] == cols["ts_str"] == "timestamp with time zone"
    assert cols["d"] == "date" and cols["t"] == "time without time zone" and cols["dec"] == "numeric"
    assert cols["by"] == "bytea" and cols["u"] == "character varying" and cols["date_str"] == "character varying"
    assert cols["j"] == "jsonb"
    got = query(f'SELECT s, i, f, b, ts_aware, ts_naive, ts_str, d, t, dec, by, u, date_str FROM "{dataset}".t '
                f"WHERE s IS NOT NULL")[0]
    assert got[:4] == ("text", 2**62, 1.25, True)
    assert got[4] == row["ts_aware"] and got[5] == row["ts_naive"].replace(tzinfo=UTC)
    assert got[6] == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert got[7:10] == (row["d"], row["t"], decimal.Decimal("1.230000000"))
    assert bytes(got[10]) == row["by"] and got[11] == str(row["u"]) and got[12] == "2024-01-02"
    assert query(f'SELECT j FROM "{dataset}".t WHERE j IS NOT NULL') == [({"k": [1, "x"]},)]


@pytest.mark.parametrize("file_format", FORMATS)
def test_hints_set_types_and_modifiers(file_format: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("hints", dataset=dataset, file_format=file_format)
    hints = {"code": {"data_type": "text", "precision": 5}, "n": {"data_type": "bigint", "precision": 16},
             "amount": {"data_type": "decimal", "precision": 10, "scale": 2},
             "at": {"data_type": "timestamp", "timezone": False}, "req": {"nullable": False}}
    p.run([{"code": "ab", "n": "7", "amount": 1.5, "at": "2024-01-01T10:00:00+02:00", "req": 1}],
          table_name="h", columns=hints)
    rows = query("SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, "
                 "is_nullable FROM information_schema.columns WHERE table_schema = %s AND table_name = 'h'",
                 (dataset,))
    by_name = {r[0]: r[1:] for r in rows}
    assert by_name["code"][:2] == ("character varying", 5)
    assert by_name["n"][0] == "smallint"
    assert by_name["amount"][0] == "numeric" and by_name["amount"][2:4] == (10, 2)
    assert by_name["at"][0] == "timestamp without time zone"
    assert by_name["req"][4] == "NO"
    assert query(f'SELECT n, amount, at FROM "{dataset}".h') == [
        (7, decimal.Decimal("1.50"), dt.datetime(2024, 1, 1, 8, 0))]


def test_names_are_normalised_in_the_database(dataset: str, query) -> None:
    long_name = "A Very Long Column Name That Goes On And On Past The Postgres Limit Of 63"
    p = pg_assets.pipeline("names", dataset="Mixed-" + dataset)
    p.run([{"CamelCase": 1, "with space": 2, "ünï": 3, long_name: 4, 'quo"te': 5}], table_name="My Table")
    schema = pg_assets.normalize_identifier("Mixed-" + dataset)
    try:
        cols = columns(query, schema, "my_table")
        assert {"camel_case", "with_space", "_nx", "quo_te"} <= set(cols)
        assert pg_assets.normalize_identifier(long_name) in cols
        assert all(len(c.encode()) <= 63 for c in cols)
        assert query(f'SELECT camel_case, with_space FROM "{schema}".my_table') == [(1, 2)]
    finally:
        query(f'DROP SCHEMA "{schema}" CASCADE')
        query(f'DROP SCHEMA IF EXISTS "{schema}_staging" CASCADE')


def test_nested_dicts_flatten_and_lists_become_child_tables(dataset: str, query) -> None:
    p = pg_assets.pipeline("nest", dataset=dataset)
    item = {"id": 1, "a": {"b": 2, "c": {"d": "deep"}}, "tags": ["x", "y"],
            "items": [{"sku": "s1", "parts": [{"n": 1}, {"n": 2}]}, {"sku": "s2"}], "empty": [], "nothing": {}}
    info = p.run([item], table_name="t")
    assert info.row_counts == {"t": 1, "t__tags": 2, "t__items": 2, "t__items__parts": 2}
    assert {"id", "a__b", "a__c__d", "_dlt_load_id", "_dlt_id"} <= set(columns(query, dataset, "t"))
    assert list(columns(query, dataset, "t__tags")) == ["value", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]
    (root_id,) = query(f'SELECT _dlt_id FROM "{dataset}".t')[0]
    assert query(f'SELECT value, _dlt_list_idx FROM "{dataset}".t__tags WHERE _dlt_parent_id = %s ORDER BY 2',
                 (root_id,)) == [("x", 0), ("y", 1)]
    assert query(f'SELECT count(*) FROM "{dataset}".t__items__parts p JOIN "{dataset}".t__items i '
                 f"ON p._dlt_parent_id = i._dlt_id WHERE i.sku = 's1'") == [(2,)]
    assert info.tables["t__items__parts"].root == "t" and info.tables["t__items__parts"].parent == "t__items"


@pytest.mark.parametrize(("nesting", "json_cols"), [(0, {"a", "items"}), (1, {"a__c"})], ids=["zero", "one"])
def test_max_table_nesting_turns_deeper_data_into_jsonb(nesting: int, json_cols: set, dataset: str, query) -> None:
    p = pg_assets.pipeline("nesting", dataset=dataset)
    p.run([{"id": 1, "a": {"b": 1, "c": {"d": 1}}, "items": [{"x": {"y": 1}}]}], table_name="t",
          max_table_nesting=nesting)
    cols = columns(query, dataset, "t")
    assert {c for c, t in cols.items() if t == "jsonb"} == json_cols
    if nesting == 1:
        assert columns(query, dataset, "t__items")["x"] == "jsonb"


def test_schema_evolves_in_a_later_batch_and_a_later_run(dataset: str, query) -> None:
    p = pg_assets.pipeline("evo", dataset=dataset, batch_bytes=200)
    rows = [{"id": i} for i in range(50)] + [{"id": 50, "late": "x"}]
    p.run(rows, table_name="t")
    p.run([{"id": 51, "later": 1.5}], table_name="t")
    assert list(columns(query, dataset, "t")) == ["id", "_dlt_load_id", "_dlt_id", "late", "later"]
    assert query(f'SELECT count(*), count(late), count(later) FROM "{dataset}".t') == [(52, 1, 1)]


def test_no_ddl_when_the_schema_did_not_change(dataset: str, query) -> None:
    p = pg_assets.pipeline("noddl", dataset=dataset)
    p.run([{"id": 1}], table_name="t")
    versions = query(f'SELECT count(*) FROM "{dataset}"._dlt_version')
    p.run([{"id": 2}], table_name="t")
    assert query(f'SELECT count(*) FROM "{dataset}"._dlt_version') == versions
    p.run([{"id": 3, "new": 1}], table_name="t")
    assert query(f'SELECT count(*) FROM "{dataset}"._dlt_version')[0][0] == versions[0][0] + 1


@pytest.mark.parametrize("file_format", FORMATS)
def test_values_that_do_not_fit_go_to_variant_columns(file_format: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("var", dataset=dataset, file_format=file_format)
    p.run([{"v": 1}, {"v": "11"}, {"v": "abc"}, {"v": 1.5}, {"v": True}, {"v": 2**64}], table_name="t")
    cols = columns(query, dataset, "t")
    assert cols["v__v_text"] == "character varying" and cols["v__v_double"] == "double precision"
    assert cols["v__v_bool"] == "boolean" and cols["v__v_decimal"] == "numeric"
    got = query(f'SELECT v, v__v_text, v__v_double, v__v_bool, v__v_decimal FROM "{dataset}".t ORDER BY _dlt_id')
    assert sorted(r[0] for r in got if r[0] is not None) == [1, 11]
    assert {r[1] for r in got} - {None} == {"abc"} and {r[2] for r in got} - {None} == {1.5}
    assert {r[3] for r in got} - {None} == {True} and {r[4] for r in got} - {None} == {decimal.Decimal(2**64)}


NASTY = ["it's", 'a "quoted" word', "back\\slash \\N \\x", "new\nline", "cr\rlf\r\n", "tab\tsep", "nul\x00byte",
         "emoji 😀", "ünïcödé ß 中文", "", " ", "NULL", "\\", "'; DROP TABLE x; --", "{\"json\": true}"]


@pytest.mark.parametrize("file_format", FORMATS)
def test_escaping_round_trips(file_format: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("esc", dataset=dataset, file_format=file_format)
    rows = [{"i": i, "s": s, "j": {"s": s, "l": [s]}, "b": s.encode()} for i, s in enumerate(NASTY)]
    p.run(rows, table_name="t", columns={"j": {"data_type": "json"}})
    got = query(f'SELECT i, s, j, b FROM "{dataset}".t ORDER BY i')
    for (i, s, j, b), original in zip(got, NASTY):
        clean = original.replace("\x00", "")
        assert s == clean, i
        assert j == {"s": clean, "l": [clean]}, i
        assert bytes(b) == original.encode(), i


def test_system_tables_have_dlt_columns(dataset: str, query) -> None:
    pg_assets.pipeline("sys", dataset=dataset).run([{"id": 1}], table_name="t")
    expect = {
        "_dlt_loads": ["load_id", "schema_name", "status", "inserted_at", "schema_version_hash"],
        "_dlt_version": ["version", "engine_version", "inserted_at", "schema_name", "version_hash", "schema"],
        "_dlt_pipeline_state": ["version", "engine_version", "pipeline_name", "state", "created_at", "version_hash",
                                "_dlt_load_id", "_dlt_id"],
    }
    for table, cols in expect.items():
        assert list(columns(query, dataset, table)) == cols
    (load_id, status, schema_name), = query(f'SELECT load_id, status, schema_name FROM "{dataset}"._dlt_loads')
    assert status == 0 and schema_name == "sys"
    assert query(f'SELECT DISTINCT _dlt_load_id FROM "{dataset}".t') == [(load_id,)]
    assert query(f'SELECT length(_dlt_id) FROM "{dataset}".t') == [(14,)]


def test_pages_generators_and_load_info(dataset: str, query) -> None:
    def pages():
        for start in range(0, 30, 10):
            yield [{"id": i} for i in range(start, start + 10)]

    p = pg_assets.pipeline("pages", dataset=dataset, workers=3)
    info = p.run([pg_assets.resource(pages(), name="a"), pg_assets.resource(({"n": i} for i in range(5)), name="b")])
    assert info.row_counts == {"a": 30, "b": 5}
    assert info.dataset == dataset and info.pipeline_name == "pages" and info.load_id
    assert set(info.timings) >= {"total", "commit"} and info.database
    assert query(f'SELECT count(*) FROM "{dataset}".a') == [(30,)]
