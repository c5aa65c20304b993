"""SQL builders and the literal encoder: parsed by sqlglot as an oracle, then run on the server."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
import sqlglot

from pg_assets import sql


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("plain", '"plain"'), ('has "quotes"', '"has ""quotes"""'), ("Mixed Case", '"Mixed Case"'),
     ("ünï", '"ünï"'), ("semi;colon", '"semi;colon"')],
    ids=["plain", "quotes", "mixed-case", "unicode", "semicolon"],
)
def test_ident_quotes_and_doubles_inner_quotes(name: str, quoted: str) -> None:
    assert sql.ident(name) == quoted


def test_ident_rejects_nul() -> None:
    with pytest.raises(ValueError):
        sql.ident("a\x00b")


@pytest.mark.parametrize(
    "statement",
    [
        sql.create_table("ds", 'we"ird', [sql.column_def("a", "bigint", nullable=False), sql.column_def("b", "varchar")]),
        sql.add_columns("ds", "t", [sql.column_def("x y", "jsonb")]),
        sql.create_index("ds", "t", "t_id_key", ["id"], unique=True),
        sql.insert_select("ds", "t", sql.qualified("ds_staging", "t_stg"), ["a", "b"]),
        sql.truncate("ds", ["t", "t__kids"]),
        sql.insert_row("ds", "_dlt_loads", {"load_id": "1.5", "status": 0, "schema_name": "it's"}),
    ],
    ids=["create-table", "add-columns", "create-index", "insert-select", "truncate", "insert-row"],
)
def test_builders_emit_one_parseable_statement(statement: str) -> None:
    parsed = sqlglot.parse(statement, read="postgres")
    assert len(parsed) == 1 and parsed[0] is not None


LITERAL_CASES = [
    ("it's a \"q\" back\\slash", "text"),
    ("line\nbreak\r\ttab", "text"),
    ("emoji 😀 é ß 中文", "text"),
    (12345678901234, "bigint"),
    (-0.000001, "double precision"),
    (True, "boolean"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone.utc), "timestamptz"),
    (dt.date(2024, 2, 29), "date"),
    (dt.time(23, 59, 1), "time"),
    (decimal.Decimal("123.456000001"), "numeric"),
    (b"\x00\x01binary\xff", "bytea"),
]


@pytest.mark.parametrize(("value", "pg_type"), LITERAL_CASES, ids=[c[1] + str(i) for i, c in enumerate(LITERAL_CASES)])
def test_literal_round_trips_through_the_server(value: object, pg_type: str, query) -> None:
    (back,) = query(f"SELECT {sql.literal(value)}::{pg_type}")[0]
    assert (bytes(back) if isinstance(back, memoryview) else back) == value


def test_literal_drops_nul_and_keeps_the_rest(query) -> None:
    assert query(f"SELECT {sql.literal('a' + chr(0) + 'b')}::text")[0][0] == "ab"


def test_literal_json_is_valid_jsonb(query) -> None:
    value = {"a": "it's", "b": [1, None, "x\\y"], "c": "ü\n"}
    assert query(f"SELECT {sql.literal(value)}::jsonb")[0][0] == value
