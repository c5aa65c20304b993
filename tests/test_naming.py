"""snake_case naming, as dlt names tables and columns, and the 63-byte shortening."""

from __future__ import annotations

import pytest

from pg_assets.normalize.naming import join_path, normalize_identifier

CASES = [
    ("CamelCase", "camel_case"),
    ("camelCaseID", "camel_case_id"),
    ("with space", "with_space"),
    ("Ünïcödé", "_n_c_dx"),
    ("1starts_digit", "_1starts_digit"),
    ("a-b.c", "a_b_c"),
    ("$price", "_price"),
    ("a+b", "axb"),
    ("tab\tname", "tab_name"),
    ("__dunder__", "dunder"),
    ("Ab_Cd__Ef", "ab_cd__ef"),
    ("My Table-Name", "my_table_name"),
    ('has "quotes"', "has_quotesx"),
    ("x" * 80, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxuw6xmwxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("T" * 70, "tttttttttttttttttttttttttttttmipidqtttttttttttttttttttttttttttt"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES, ids=[c[1][:30] for c in CASES])
def test_normalize_identifier_matches_dlt(raw: str, expected: str) -> None:
    assert normalize_identifier(raw) == expected


def test_child_of_a_long_table_is_shortened_with_a_tag() -> None:
    root = normalize_identifier("T" * 70)
    assert join_path(root, "children") == "tttttttttttttttttttttttttttttajiy6atttttttttttttttttt__children"


@pytest.mark.parametrize("raw", ["é" * 40, "a" * 63, "b" * 64, "Some Very Long Name " * 5])
def test_identifiers_fit_in_63_bytes_and_are_deterministic(raw: str) -> None:
    name = normalize_identifier(raw)
    assert len(name.encode()) <= 63
    assert name == normalize_identifier(raw)


def test_distinct_long_names_stay_distinct() -> None:
    a, b = normalize_identifier("p" * 70 + "a"), normalize_identifier("p" * 70 + "b")
    assert a != b and len(a) == len(b) == 63
