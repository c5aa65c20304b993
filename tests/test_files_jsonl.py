"""`kind: files` JSON Lines through pyarrow: the same tables as the dict path, nested files kept as dicts."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pg_assets.errors import TerminalLoadError
from test_files_columnar import load, types_of, zst
from test_sources_files import build

FLAT = [{"id": 1, "name": None, "score": 1.5, "ok": True, "at": "2024-01-31T10:00:00Z", "gone": None},
        {"id": 2, "name": "Ada", "score": 2, "ok": False, "at": "2024-02-01 11:30", "gone": None},
        {"id": 3, "name": "007", "day": "2024-01-31"}]


def jsonl(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


def pages(tmp_path: Path, name: str, data: bytes) -> list[Any]:
    (tmp_path / name).write_bytes(data)
    return list(build(tmp_path, f"r: {{path: {name}}}\n").iter_data())


def column_order(query: Any, dataset: str, table: str) -> list[str]:
    return [name for (name,) in query("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                      "AND table_name = %s AND column_name NOT LIKE '\\_dlt%%' "
                                      "ORDER BY ordinal_position", (dataset, table))]


def same_tables(query: Any, dataset: str, fast: str, reference: str) -> None:
    """Table `fast` has the columns (in order), types and rows of `reference`, which the dict path loaded."""
    assert types_of(query, dataset, fast) == types_of(query, dataset, reference)
    assert column_order(query, dataset, fast) == column_order(query, dataset, reference)
    cols = ", ".join(f'"{c}"' for c in sorted(types_of(query, dataset, reference)))
    assert (query(f'SELECT {cols} FROM "{dataset}".{fast} ORDER BY id')
            == query(f'SELECT {cols} FROM "{dataset}".{reference} ORDER BY id'))


@pytest.mark.parametrize(("name", "pack"), [("d.jsonl", bytes), ("d.jsonl.gz", gzip.compress),
                                            ("d.ndjson.bz2", bz2.compress), ("d.jsonl.zst", zst)],
                         ids=["plain", "gzip", "bzip2", "zstd"])
def test_flat_jsonl_is_read_as_record_batches(name: str, pack: Any, tmp_path: Path) -> None:
    found = pages(tmp_path, name, pack(jsonl(FLAT)))
    assert found and all(isinstance(page, pa.RecordBatch) for page in found)
    batch = found[0]
    # in the order the dict path adds columns (`name` is first set on row 2); `gone` was only ever null
    assert batch.schema.names == ["id", "score", "ok", "at", "name", "day"]
    assert batch.column("at").to_pylist() == [dt.datetime(2024, 1, 31, 10, tzinfo=dt.timezone.utc),
                                              dt.datetime(2024, 2, 1, 11, 30, tzinfo=dt.timezone.utc), None]
    assert batch.column("day").to_pylist() == [None, None, "2024-01-31"]  # a date alone stays text, as in dicts


@pytest.mark.parametrize("items", [
    [{"id": 1, "n": 1}, {"id": 2, "n": 2.5}],                                     # bigint, then a double variant
    [{"id": 1, "at": "2024-01-01T00:00:00Z"}, {"id": 2, "at": "soon"}],         # timestamp, then a text variant
    [{"id": 1, "shipping": {"city": "Oslo"}}],                                    # flattened to shipping__city
    [{"id": 1, "items": [{"sku": "A"}]}],                                         # a child table
    [{"id": 1, "n": 1}, {"id": 2, "n": "x"}],                                     # pyarrow refuses the mix
    [{"id": None}],                                                               # rows of nulls only
], ids=["int-then-float", "timestamp-then-text", "object", "list", "number-then-text", "all-null"])
def test_files_pyarrow_would_type_differently_stay_dicts(items: list[dict[str, Any]], tmp_path: Path) -> None:
    found = pages(tmp_path, "d.jsonl", jsonl(items))
    assert found == [items]


def test_a_later_block_that_changes_a_column_sends_the_file_to_dicts(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.sources import jsonl_columns

    monkeypatch.setattr(jsonl_columns, "BLOCK_SIZE", 64)  # many blocks; the last one brings a new key
    items = [{"id": i, "name": f"n{i}"} for i in range(20)] + [{"id": 20, "extra": True}]
    assert [item for page in pages(tmp_path, "d.jsonl", jsonl(items)) for item in page] == items


def test_jsonl_through_pyarrow_loads_the_tables_the_dict_path_loads(tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / "fast.jsonl.gz").write_bytes(gzip.compress(jsonl(FLAT)))
    (tmp_path / "rows.json").write_text(json.dumps(FLAT))  # a JSON document is always read as dicts
    load(tmp_path, dataset, "fast: {path: fast.jsonl.gz}\nrows: {path: rows.json}\n")
    same_tables(query, dataset, "fast", "rows")
    assert types_of(query, dataset, "fast") == {
        "id": "bigint", "name": "character varying", "score": "double precision", "ok": "boolean",
        "at": "timestamp with time zone", "day": "character varying"}


def test_mixed_jsonl_loads_variants_as_the_dict_path_does(tmp_path: Path, dataset: str, query) -> None:
    items = [{"id": 1, "n": 1, "at": "2024-01-01T00:00:00Z"}, {"id": 2, "n": 2.5, "at": "soon"}]
    (tmp_path / "fast.jsonl").write_bytes(jsonl(items))
    (tmp_path / "rows.json").write_text(json.dumps(items))
    load(tmp_path, dataset, "fast: {path: fast.jsonl}\nrows: {path: rows.json}\n")
    same_tables(query, dataset, "fast", "rows")
    assert {"n__v_double", "at__v_text"} <= set(types_of(query, dataset, "fast"))


def test_a_malformed_line_names_file_line_and_column(tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / "d.jsonl").write_text('{"id": 1}\n{"id": 2,,}\n')
    with pytest.raises(TerminalLoadError, match=r"d.jsonl` line 2, column 10: not JSON .*\{\"id\": 2,,\}"):
        load(tmp_path, dataset, "r: {path: d.jsonl}\n")
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".r',)) == [(None,)]


def test_a_glob_of_flat_and_nested_files_keeps_one_timestamp_cursor(tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1.jsonl").write_bytes(jsonl([{"id": 1, "at": "2024-01-01T00:00:00Z"},
                                                     {"id": 2, "at": "2024-01-02T00:00:00Z"}]))
    (tmp_path / "in" / "2.jsonl").write_bytes(jsonl([{"id": 3, "at": "2024-01-03T00:00:00Z", "tags": [1]}]))
    resource = 'r: {path: "in/*.jsonl", incremental: {cursor_path: at}}\n'
    load(tmp_path, dataset, resource)
    (tmp_path / "in" / "3.jsonl").write_bytes(jsonl([{"id": 4, "at": "2024-01-04T00:00:00Z"},
                                                     {"id": 0, "at": "2023-01-04T00:00:00Z"}]))  # before the cursor
    load(tmp_path, dataset, resource)
    assert query(f'SELECT id FROM "{dataset}".r ORDER BY id') == [(1,), (2,), (3,), (4,)]
    assert types_of(query, dataset, "r")["at"] == "timestamp with time zone"
