"""snake_case naming and the 63-character shortening, checked against dlt itself.

Every expectation comes from the installed dlt: its naming convention with
Postgres' limit for single names, and a full `dlt.pipeline(...).normalize()` for
the names of flattened columns, child tables and variant columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.common.typing import VARIANT_FIELD_FORMAT

from pg_assets.normalize.encode import FORMATS
from pg_assets.normalize.naming import (
    EMPTY_KEY,
    join_path,
    make_path,
    normalize_dataset_name,
    normalize_identifier,
    shorten,
)
from pg_assets.normalize.rows import Normalizer
from pg_assets.table_plan import plan_resource
from pg_assets.resource import resource

DLT = NamingConvention(max_length=63)

# (test id, raw identifier): names that stress every rule of the convention
HOSTILE: list[tuple[str, str]] = [
    ("camel", "CamelCase"),
    ("camel-acronym-tail", "camelCaseID"),
    ("acronym-head", "HTTPServerError"),
    ("space", "with space"),
    ("padded", "  padded  "),
    ("tab", "tab\tname"),
    ("newline", "new\nline"),
    ("nul-byte", "nul\x00byte"),
    ("accents", "Ünïcödé"),
    ("cjk", "日本語の列"),
    ("emoji-tail", "emoji😀"),
    ("emoji-only", "😀"),
    ("digit-head", "1starts_digit"),
    ("digits-only", "2024"),
    ("arabic-digits", "٣٣ arabic"),
    ("fullwidth-digits", "１２３"),
    ("superscript", "x²"),
    ("punctuation", "a-b.c"),
    ("dollar", "$price"),
    ("reduced-alphabet", "a+b*c@d|e-f"),
    ("double-quotes", 'has "quotes"'),
    ("single-quote", "it's"),
    ("backtick", "`tick`"),
    ("sql", "DROP TABLE x; --"),
    ("dunder", "__dunder__"),
    ("one-underscore", "_"),
    ("three-underscores", "___"),
    ("trailing-separator", "x__"),
    ("leading-separator", "__y"),
    ("four-underscores", "a____b"),
    ("blank-fragment", "a__ __b"),
    ("path", "Ab_Cd__Ef"),
    ("mixed-path", "UPPER__lower__MiXeD"),
    ("trailing-underscores", "trailing___"),
    ("sharp-s", "straße"),
    ("dotted-i", "İstanbul"),
    ("x63", "x" * 63),
    ("x64", "x" * 64),
    ("x200", "x" * 200),
    ("T70", "T" * 70),
    ("padded-long", "  " + "y" * 70 + "  "),
    ("long-words", "Some Very Long Name " * 5),
    ("long-camel", "ThisIsAnExtremelyLongCamelCaseIdentifierThatKeepsGoingAndGoingOnAndOn"),
    ("accents-long", "é" * 70),
    ("multibyte-digits-62", "٣" * 62),
    ("multibyte-digits-70", "٣" * 70),
    ("multibyte-mixed-long", "Größe des Lagerbestands in Kilogramm pro Regal ٣٣٣ und Fach ٤٤٤"),
    ("path-over-limit", "a" * 40 + "__" + "b" * 40),
    ("fragments-over-limit", "a" * 70 + "__" + "b" * 70),
    ("path-63", "a" * 30 + "__" + "b" * 31),
    ("path-64", "a" * 30 + "__" + "b" * 32),
    ("path-empty-fragments-long", "__" + "c" * 40 + "____" + "d" * 40 + "__"),
    ("child-like", "orders__line_items_with_an_exceptionally_long_name_for_the_grandchild"),
]

# (test id, normalised fragments): paths as the normalizer joins them
FRAGMENTS: list[tuple[str, tuple[str, ...]]] = [
    ("child", ("orders", "items")),
    ("empty-fragment", ("orders", "", "items")),
    ("blank-fragment", ("orders", " ", "items")),
    ("exactly-63", ("a" * 30, "b" * 31)),
    ("64", ("a" * 30, "b" * 32)),
    ("long-root", ("t" * 63, "children")),
    ("grandchild", ("orders", "items", "line_items_with_an_exceptionally_long_name_for_the_grandchild")),
    ("deep", ("orders", "customer", "addresses", "geo", "coordinates", "history", "entries", "values")),
    ("single-long", ("z" * 100,)),
]

VARIANT_TYPES = ["text", "bigint", "double", "bool", "decimal", "timestamp", "json", "binary"]
VARIANT_COLUMNS = [("short", "price"), ("57", "c" * 57), ("58", "c" * 58), ("63", "c" * 63),
                   ("nested", "a" * 30 + "__" + "b" * 25)]


def _ids(cases: list[tuple[str, Any]]) -> list[str]:
    return [case_id for case_id, _ in cases]


def _values(cases: list[tuple[str, Any]]) -> list[Any]:
    return [value for _, value in cases]


# ---- single names ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", _values(HOSTILE), ids=_ids(HOSTILE))
def test_identifier_matches_dlt_path_normalization(raw: str) -> None:
    """Keys, column hints and table names: dlt breaks them into fragments at `__`."""
    assert normalize_identifier(raw) == DLT.normalize_path(raw)


@pytest.mark.parametrize("raw", _values(HOSTILE), ids=_ids(HOSTILE))
def test_identifier_matches_dlt_table_path_normalization(raw: str) -> None:
    assert normalize_identifier(raw) == DLT.normalize_tables_path(raw)


@pytest.mark.parametrize("raw", _values(HOSTILE), ids=_ids(HOSTILE))
def test_dataset_name_matches_dlt(raw: str) -> None:
    """dlt's destination normalises a dataset name as one identifier, without breaking the path."""
    assert normalize_dataset_name(raw) == DLT.normalize_table_identifier(raw)


@pytest.mark.parametrize("raw", ["", " ", "\t", "__", " __ ", "____"], ids=["empty", "space", "tab", "separator",
                                                                        "padded-separator", "two-separators"])
def test_names_without_fragments_become_the_empty_key(raw: str) -> None:
    """dlt gives blank keys `_empty`; a bare separator has no name in dlt, pg_assets uses the same one."""
    assert normalize_identifier(raw) == EMPTY_KEY


def test_empty_dataset_name_is_refused() -> None:
    with pytest.raises(ValueError):
        normalize_dataset_name("  ")


@pytest.mark.parametrize("raw", _values(HOSTILE), ids=_ids(HOSTILE))
def test_identifiers_fit_in_63_characters_and_are_stable(raw: str) -> None:
    name = normalize_identifier(raw)
    assert len(name) <= 63
    assert normalize_identifier(name) == name


def test_distinct_long_names_stay_distinct() -> None:
    a, b = normalize_identifier("p" * 70 + "a"), normalize_identifier("p" * 70 + "b")
    assert a != b and len(a) == len(b) == 63


def test_known_tags() -> None:
    """Pinned values, so a change in dlt's tag would show up here as well as in the comparisons."""
    assert normalize_identifier("x" * 80) == "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxuw6xmwxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    assert join_path(normalize_identifier("T" * 70), "children") == (
        "tttttttttttttttttttttttttttttajiy6atttttttttttttttttt__children")


# ---- paths and variants ---------------------------------------------------------------


@pytest.mark.parametrize("fragments", _values(FRAGMENTS), ids=_ids(FRAGMENTS))
def test_join_path_matches_dlt_shorten_fragments(fragments: tuple[str, ...]) -> None:
    assert join_path(*fragments) == DLT.shorten_fragments(*fragments)


@pytest.mark.parametrize("fragments", _values(FRAGMENTS), ids=_ids(FRAGMENTS))
def test_make_path_matches_dlt(fragments: tuple[str, ...]) -> None:
    assert make_path(*fragments) == DLT.make_path(*fragments)


@pytest.mark.parametrize("fragments", _values(FRAGMENTS), ids=_ids(FRAGMENTS))
def test_join_path_of_a_joined_prefix_is_the_same(fragments: tuple[str, ...]) -> None:
    """The normalizer passes the full, unshortened path of the parent as one part."""
    assert join_path(make_path(*fragments[:-1]), fragments[-1]) == join_path(*fragments)


@pytest.mark.parametrize("data_type", VARIANT_TYPES)
@pytest.mark.parametrize("column", _values(VARIANT_COLUMNS), ids=_ids(VARIANT_COLUMNS))
def test_variant_column_matches_dlt(column: str, data_type: str) -> None:
    assert join_path(column, f"v_{data_type}") == DLT.shorten_fragments(column, VARIANT_FIELD_FORMAT % data_type)


@pytest.mark.parametrize("raw", ["x" * 64, "orders__" + "y" * 70, "é" * 80],
                         ids=["x64", "path", "multibyte"])
def test_shorten_matches_dlt(raw: str) -> None:
    assert shorten(raw, tag_of=raw + "!") == NamingConvention.shorten_identifier(raw, raw + "!", 63)


# ---- a whole record, normalised by dlt and by pg_assets -------------------------------

CHILD = "Line Items With An Exceptionally Long Name For The Child Table!"
GRANDCHILD = "line_items_with_an_exceptionally_long_name_for_the_grandchild"
DEEP_DICT = "Customer Details With A Remarkably Long Attribute Name For Tests"
QUANTITY = "Quantity Ordered By The Customer In Units Of Measure, Long Name"

RECORDS: list[dict[str, Any]] = [
    {
        "id": 1,
        DEEP_DICT: {
            "Shipping Address Information Block": {"Street Name And House Number Of The Recipient": "x", "zip": "1"},
            "Previous Delivery Addresses Of This Customer": [{"city": "Berlin", "Geo Position": {"lat": 1.5}}],
        },
        CHILD: [{
            "sku": "a",
            "Pricing Information For This Line": {"Net Amount In Euro Cents Excluding Taxes And Fees": 5},
            GRANDCHILD: [{"qty": 1, "Warehouse Location Identifier That Is Long Enough": {"shelf": "a"}}],
            "Tags Given By Customers As A Plain List Of Strings, Long Enough": ["a", "b"],
            "meta": {"Notes Written By The Support Team About This Particular Line": ["n1"]},
            "matrix": [[1, 2], [3]],
        }],
        QUANTITY: 5,
        "": "empty key",  # (a `" "` key as well would also become `_empty`: refused, see test_hostile_values.py)
        "emoji😀": 1,
        "٣٣": 2,
        "__dunder__": 3,
        "a____b": 4,
        "x__": 5,
        "x" * 200: 6,
        "a" * 40 + "__" + "b" * 40: 7,
    },
    {"id": 2, QUANTITY: "five", CHILD: [{"sku": 7, GRANDCHILD: [{"qty": "many"}]}]},
]


def _dlt_tables(tmp_path: Path) -> dict[str, tuple[str | None, set[str]]]:
    """Tables dlt's normalizer makes of `RECORDS`, with their parents and column names.

    The Postgres destination only lends its capabilities (the 63-character limit);
    nothing is loaded, so the unreachable address is never dialled.
    """
    p = dlt.pipeline(pipeline_name="naming_e2e", pipelines_dir=str(tmp_path),
                     destination=dlt.destinations.postgres("postgresql://u:p@127.0.0.1:1/db"))
    p.extract(RECORDS, table_name="orders")
    p.normalize()
    return {name: (t.get("parent"), set(t["columns"])) for name, t in p.default_schema.tables.items()
            if not name.startswith("_dlt")}


def _pg_assets_tables() -> dict[str, tuple[str | None, set[str]]]:
    tables: dict[str, Any] = {}
    normalizer = Normalizer(tables, {}, FORMATS["copy"], "1", lambda batch: None)
    plan = plan_resource(resource(RECORDS, name="orders"), "truncate-and-insert")
    for item in RECORDS:
        normalizer.add(plan, item)
    normalizer.flush_all()
    return {name: (t.parent, set(t.columns)) for name, t in tables.items()}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    return _dlt_tables(tmp_path_factory.mktemp("dlt")), _pg_assets_tables()


def test_same_tables_as_dlt(both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expected, actual = both
    assert sorted(actual) == sorted(expected)


def test_same_parents_as_dlt(both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expected, actual = both
    assert {t: parent for t, (parent, _) in actual.items()} == {t: parent for t, (parent, _) in expected.items()}


def test_same_columns_as_dlt(both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expected, actual = both
    assert {t: cols for t, (_, cols) in actual.items()} == {t: cols for t, (_, cols) in expected.items()}


def test_the_record_exercises_shortening_at_every_level(both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Guards the fixture: a long child, grandchild, flattened and variant name must all appear."""
    expected, _ = both
    long_tables = [t for t in expected if len(t) == 63]
    long_columns = [c for _, cols in expected.values() for c in cols if len(c) == 63]
    assert any(t.count("__") >= 2 for t in long_tables), long_tables
    assert any("__" in c for c in long_columns), long_columns
    assert any("v_text" in c or "v_bigint" in c for c in long_columns), long_columns
