"""`kind: files`: CSV edge cases, JSON Lines with nested data, JSON selectors, file skipping.

The resources are built from a spec and their data iterated directly: no database.
"""

from __future__ import annotations

import gzip
import os
import textwrap
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pg_assets import runner
from pg_assets.errors import ConfigError, TerminalLoadError
from pg_assets.sources.text_values import infer_column
from pg_assets.spec import load_spec


def build(tmp_path: Path, resource_yaml: str, name: str = "r") -> Any:
    spec_path = tmp_path / "pipelines.yaml"
    spec_path.write_text("sources:\n  s:\n    kind: files\n    dataset: d\n    resources:\n"
                         + textwrap.indent(textwrap.dedent(resource_yaml), "      "))
    return runner.build_resources(load_spec(spec_path), "s", [name])[0]


def rows(resource: Any) -> list[dict[str, Any]]:
    """The items as dicts; CSV and Parquet come as record batches, one dict per row."""
    found = []
    for page in resource.iter_data():
        if isinstance(page, pa.RecordBatch):
            found.extend(page.to_pylist())
        else:
            found.extend(page if isinstance(page, list) else [page])
    return found


def csv_rows(tmp_path: Path, text: str | bytes, options: str = "", name: str = "data.csv") -> list[dict[str, Any]]:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return rows(build(tmp_path, f"r: {{path: {name}{', ' + options if options else ''}}}\n"))


def test_csv_quoted_comma_newline_and_quotes(tmp_path: Path) -> None:
    text = 'id,name,notes\n1,"Lovelace, Ada","line one\nline two"\n2,Alan,"said ""hi"""\n'
    assert csv_rows(tmp_path, text) == [
        {"id": 1, "name": "Lovelace, Ada", "notes": "line one\nline two"},
        {"id": 2, "name": "Alan", "notes": 'said "hi"'},
    ]


@pytest.mark.parametrize(("options", "expected"), [
    ("", [{"id": 1, "score": "NA"}, {"id": 2, "score": "3"}, {"id": 3, "score": None}]),
    ('null_values: ["NA", ""]', [{"id": 1, "score": None}, {"id": 2, "score": 3}, {"id": 3, "score": None}]),
], ids=["default-only-empty-is-null", "r-style-na"])
def test_csv_null_values(tmp_path: Path, options: str, expected: list[dict[str, Any]]) -> None:
    assert csv_rows(tmp_path, "id,score\n1,NA\n2,3\n3,\n", options) == expected


def test_csv_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    assert csv_rows(tmp_path, b"\xef\xbb\xbfid,name\n1,a\n") == [{"id": 1, "name": "a"}]


def test_csv_gzip_is_read_transparently(tmp_path: Path) -> None:
    (tmp_path / "data.csv.gz").write_bytes(gzip.compress(b"id,name\n1,\"a\nb\"\n"))
    assert rows(build(tmp_path, "r: {path: data.csv.gz}\n")) == [{"id": 1, "name": "a\nb"}]


def test_csv_types_are_inferred_per_column(tmp_path: Path) -> None:
    text = ("i,f,b,d,ts,zip,mixed\n"
            "1,1,true,2024-01-31,2024-01-31T10:00:00Z,007,1\n"
            "-2,2.5,FALSE,2024-02-01,2024-02-01 11:30,123,x\n")
    first, second = csv_rows(tmp_path, text)
    assert first == {"i": 1, "f": 1.0, "b": True, "d": date(2024, 1, 31),
                     "ts": datetime(2024, 1, 31, 10, tzinfo=timezone.utc), "zip": "007", "mixed": "1"}
    assert second == {"i": -2, "f": 2.5, "b": False, "d": date(2024, 2, 1),
                      "ts": datetime(2024, 2, 1, 11, 30, tzinfo=timezone.utc), "zip": "123", "mixed": "x"}


def test_csv_column_hints_override_inference(tmp_path: Path) -> None:
    found = csv_rows(tmp_path, "zip,amount\n007,1.10\n",
                     "columns: {zip: {data_type: bigint}, amount: {data_type: decimal}}")
    assert [(r["zip"], str(r["amount"])) for r in found] == [(7, "1.10")]
    found = csv_rows(tmp_path, "code\n1\n", "columns: {code: {data_type: text}}")
    assert found == [{"code": "1"}]
    with pytest.raises(TerminalLoadError, match=r"data.csv` line 2, column `n`: `x` does not fit"):
        csv_rows(tmp_path, "n\nx\n", "columns: {n: {data_type: bigint}}")


def test_csv_delimiter_encoding_and_tsv(tmp_path: Path) -> None:
    assert csv_rows(tmp_path, "id;name\n1;Zoë\n".encode("latin-1"), "delimiter: ';', encoding: latin-1") == [
        {"id": 1, "name": "Zoë"}]
    assert csv_rows(tmp_path, "id\tname\n1\ta,b\n", name="data.tsv") == [{"id": 1, "name": "a,b"}]


def test_csv_short_rows_get_nulls_and_long_rows_fail_with_the_line(tmp_path: Path) -> None:
    assert csv_rows(tmp_path, "a,b,c\n1,2\n") == [{"a": 1, "b": 2}]
    with pytest.raises(TerminalLoadError, match=r"data.csv` line 3: 3 fields, but the header has 2"):
        csv_rows(tmp_path, "a,b\n1,2\n1,2,3\n")


def test_csv_header_problems(tmp_path: Path) -> None:
    with pytest.raises(TerminalLoadError, match="column `a` appears twice"):
        csv_rows(tmp_path, "a,b,a\n1,2,3\n")


@pytest.mark.parametrize(("values", "expected"), [
    (["1", "-2", "+3"], "bigint"),
    (["1", "2.5"], "double"),
    (["1e3", ".5"], "double"),
    (["007"], "text"),
    (["true", "False"], "bool"),
    (["0", "1"], "bigint"),
    (["2024-01-01"], "date"),
    (["2024-01-01", "2024-01-01T10:00:00+02:00"], "timestamp"),
    (["2024-13-01"], "text"),
    (["1", "x"], "text"),
    (["nan", "inf"], "text"),
], ids=["ints", "int-and-float", "exponent", "leading-zero", "bools", "zero-one-is-int", "date",
        "date-and-timestamp", "impossible-date", "int-and-text", "nan-inf"])
def test_inference_truth_table(values: list[str], expected: str) -> None:
    assert infer_column(values) == expected


def test_jsonl_keeps_nested_data_and_skips_blank_lines(tmp_path: Path) -> None:
    lines = ('{"id": 1, "shipping": {"city": "Oslo"}, "items": [{"sku": "A", "quantity": 2}]}\n\n'
             '{"id": 2, "shipping": null, "items": []}\n')
    (tmp_path / "o.jsonl.gz").write_bytes(gzip.compress(lines.encode()))
    assert rows(build(tmp_path, "r: {path: o.jsonl.gz}\n")) == [
        {"id": 1, "shipping": {"city": "Oslo"}, "items": [{"sku": "A", "quantity": 2}]},
        {"id": 2, "shipping": None, "items": []},
    ]


def test_jsonl_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "o.jsonl").write_text('{"id": 1}\n{"id": 2,,}\n')
    with pytest.raises(TerminalLoadError, match=r"o.jsonl` line 2, column 10: not JSON .*\{\"id\": 2,,\}"):
        rows(build(tmp_path, "r: {path: o.jsonl}\n"))


def test_json_data_selector(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"data": {"products": [{"sku": "A", "tags": ["x", "y"]}, "B"]}}')
    assert rows(build(tmp_path, "r: {path: p.json, data_selector: data.products}\n")) == [
        {"sku": "A", "tags": ["x", "y"]}, {"value": "B"}]
    with pytest.raises(TerminalLoadError, match="nothing at `data_selector: data.missing`"):
        rows(build(tmp_path, "r: {path: p.json, data_selector: data.missing}\n"))


def test_glob_reads_files_in_order_and_empty_glob_fails(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for month in ("2024-02", "2024-01"):
        (tmp_path / "in" / f"{month}.jsonl").write_text(f'{{"month": "{month}"}}\n')
    assert [r["month"] for r in rows(build(tmp_path, 'r: {path: "in/*.jsonl"}\n'))] == ["2024-01", "2024-02"]
    with pytest.raises(ConfigError, match=r"no file matches `none/\*.jsonl`"):
        rows(build(tmp_path, 'r: {path: "none/*.jsonl"}\n'))


def test_incremental_skips_files_already_loaded_and_unchanged(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for n in (1, 2):
        (tmp_path / "in" / f"{n}.jsonl").write_text(f'{{"id": {n}, "at": "2024-01-0{n}"}}\n')
    resource = build(tmp_path, 'r: {path: "in/*.jsonl", incremental: {cursor_path: at}}\n')
    assert [r["id"] for r in rows(resource)] == [1, 2]
    assert sorted(resource.incremental.resource_state["files"]) == ["in/1.jsonl", "in/2.jsonl"]
    assert rows(resource) == []                                            # nothing new

    os.utime(tmp_path / "in" / "1.jsonl", ns=(1, 1))                       # touched, same content
    (tmp_path / "in" / "2.jsonl").write_text('{"id": 2, "at": "2024-01-02"}\n{"id": 3, "at": "2024-01-03"}\n')
    (tmp_path / "in" / "4.jsonl").write_text('{"id": 4, "at": "2024-01-04"}\n')
    assert [r["id"] for r in rows(resource)] == [2, 3, 4]                  # the engine drops id 2 by cursor


def test_a_file_is_recorded_only_once_read_to_its_end(tmp_path: Path) -> None:
    (tmp_path / "1.jsonl").write_text('{"id": 1}\n{"id": 2,,}\n')
    resource = build(tmp_path, 'r: {path: "*.jsonl", incremental: {cursor_path: id}}\n')
    with pytest.raises(TerminalLoadError):
        rows(resource)
    assert resource.incremental.resource_state.get("files") == {}
