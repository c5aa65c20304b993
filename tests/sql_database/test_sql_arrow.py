"""A source table's rows as Arrow record batches: the reflected types decide the Arrow types,
values Arrow cannot hold take the dict path; real source databases, loads into the embedded
Postgres."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pg_assets import runner
from pg_assets.sources import SourceContext, get_kind
from sql_sources import SourceDb
from test_sql_database import TYPED, VALUES, Query, _insert, spec_for, unique

# the Arrow type of each column of `TYPED`, per dialect
ARROW = {"id": pa.int32(), "amount": pa.decimal128(12, 2), "name": pa.string(), "note": pa.string(),
         "happened": pa.timestamp("us", tz="UTC"), "local_ts": pa.timestamp("us"), "day": pa.date32(),
         "at_time": pa.time64("us"), "uid": pa.string(), "doc": pa.string(), "payload": pa.binary(),
         "flag": pa.bool_(), "tags": pa.string(), "small": pa.int16(), "ratio": pa.float64()}
DIALECT_ARROW = {"sqlite": {"id": pa.int64(), "small": pa.int64(), "happened": pa.timestamp("us")}}


def _batches(db: SourceDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resources: str) -> list[object]:
    spec = spec_for(tmp_path, monkeypatch, db, "d", resources)
    source, kind = spec.sources["src"], get_kind("sql_database")
    name = next(iter(source.resources))
    context = SourceContext("src", name, tmp_path)
    return list(kind.read(source, kind.prepare(source, source.resolved(name), context), context))


@pytest.mark.parametrize("dialect", ["mysql", "sqlite"])
def test_rows_are_record_batches_of_the_reflected_types(dialect: str, request: pytest.FixtureRequest,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = request.getfixturevalue({"mysql": "mariadb_source", "sqlite": "sqlite_source"}[dialect])
    table = unique("typed")
    db.execute(TYPED[dialect].format(t=table))
    _insert(db, table, {**VALUES, "doc": '{"a": [1, 2]}'} if dialect == "mysql" else VALUES)
    [batch] = _batches(db, tmp_path, monkeypatch, f"typed: {{table: {table}}}\n")
    assert isinstance(batch, pa.RecordBatch)
    expected = {**ARROW, **DIALECT_ARROW.get(dialect, {})}
    assert {f.name: f.type for f in batch.schema} == {n: expected[n] for n in batch.schema.names}
    row = batch.to_pylist()[0]
    assert row["flag"] is True and row["amount"] == VALUES["amount"] and row["payload"] == VALUES["payload"]
    if dialect == "sqlite":
        assert row["doc"] == '{"a":[1,2],"b":null}'  # JSON text, as the dict path encodes it


def test_postgres_json_arrays_and_uuids_become_text(postgres_source: SourceDb, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("typed")
    postgres_source.execute(TYPED["postgresql"].format(t=table))
    _insert(postgres_source, table, VALUES)
    [batch] = _batches(postgres_source, tmp_path, monkeypatch,  # merge: not the COPY fast path
                       f"typed: {{table: {table}, write_disposition: merge}}\n")
    assert {f.name: f.type for f in batch.schema} == ARROW
    row = batch.to_pylist()[0]
    assert (row["uid"], row["tags"], row["doc"]) == (VALUES["uid"], '["x","y"]', '{"a":[1,2],"b":null}')


def test_a_value_its_arrow_type_cannot_hold_goes_to_a_variant_column(
        sqlite_source: SourceDb, dataset: str, query: Query, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("loose")  # SQLite keeps a text in an INTEGER column
    sqlite_source.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, code INTEGER)",
                          f"INSERT INTO {table} VALUES (1, 7), (2, 'x')")
    pages = _batches(sqlite_source, tmp_path, monkeypatch, f"loose: {{table: {table}}}\n")
    assert [type(p) for p in pages] == [list]  # that chunk went as dict items
    spec = spec_for(tmp_path, monkeypatch, sqlite_source, dataset, f"loose: {{table: {table}}}\n")
    runner.run_source(spec, "src")
    assert query(f'SELECT id, code, code__v_text FROM "{dataset}".loose ORDER BY id') == [(1, 7, None),
                                                                                         (2, None, "x")]


def test_a_hint_that_changes_a_type_keeps_the_dict_path(sqlite_source: SourceDb, dataset: str, query: Query,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("hinted")
    sqlite_source.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, code TEXT)",
                          f"INSERT INTO {table} VALUES (1, '7'), (2, 'x')")
    resources = f"hinted: {{table: {table}, columns: {{code: {{data_type: bigint}}}}}}\n"
    assert [type(p) for p in _batches(sqlite_source, tmp_path, monkeypatch, resources)] == [list]
    runner.run_source(spec_for(tmp_path, monkeypatch, sqlite_source, dataset, resources), "src")
    assert query(f'SELECT id, code, code__v_text FROM "{dataset}".hinted ORDER BY id') == [(1, 7, None),
                                                                                          (2, None, "x")]
