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
from test_sql_database import TYPED, VALUES, Query, _insert, columns_of, spec_for, unique

# the Arrow type of each column of `TYPED`, per dialect
ARROW = {"id": pa.int32(), "amount": pa.decimal128(12, 2), "name": pa.string(), "note": pa.string(),
         "happened": pa.timestamp("us", tz="UTC"), "local_ts": pa.timestamp("us"), "day": pa.date32(),
         "at_time": pa.time64("us"), "uid": pa.string(), "doc": pa.string(), "payload": pa.binary(),
         "flag": pa.bool_(), "tags": pa.string(), "small": pa.int16(), "ratio": pa.float64()}
DIALECT_ARROW = {"sqlite": {"id": pa.int64(), "small": pa.int64(), "happened": pa.timestamp("us")}}


def _batches(db: SourceDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resources: str,
             connectorx: bool = False) -> list[object]:
    """The pages `read` yields for the first resource; through SQLAlchemy unless `connectorx`."""
    monkeypatch.setenv("PG_ASSETS_CONNECTORX", "1" if connectorx else "0")
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


# ---------------------------------------------------------------- ConnectorX


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_connectorx_reads_the_same_batches_as_sqlalchemy(dialect: str, request: pytest.FixtureRequest,
                                                         dataset: str, query: Query, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = {"postgresql": "postgres_source", "mysql": "mariadb_source", "sqlite": "sqlite_source"}[dialect]
    db = request.getfixturevalue(fixture)
    table = unique("typed")
    db.execute(TYPED[dialect].format(t=table))
    _insert(db, table, {**VALUES, "doc": '{"a": [1, 2]}'} if dialect == "mysql" else VALUES)
    merge = ", write_disposition: merge" if dialect == "postgresql" else ""  # not the COPY fast path
    resources = f"typed: {{table: {table}{merge}}}\n"
    native = _batches(db, tmp_path, monkeypatch, resources, connectorx=True)
    [through_sqlalchemy] = _batches(db, tmp_path, monkeypatch, resources)
    assert [b.schema for b in native] == [through_sqlalchemy.schema]
    json_free = [n for n in through_sqlalchemy.schema.names if n != "doc"]  # JSON spacing differs, not values
    assert native[0].select(json_free).to_pylist() == through_sqlalchemy.select(json_free).to_pylist()

    monkeypatch.setenv("PG_ASSETS_CONNECTORX", "1")
    runner.run_source(spec_for(tmp_path, monkeypatch, db, dataset, resources), "src")
    stored = '{"a": [1, 2]}' if dialect == "mysql" else VALUES["doc"]  # MariaDB's JSON is text
    if dialect == "postgresql":
        assert query(f'SELECT tags, uid FROM "{dataset}".typed') == [(VALUES["tags"], VALUES["uid"])]
    assert query(f'SELECT doc FROM "{dataset}".typed') == [(stored,)]


@pytest.mark.parametrize("url, reachable", [
    ("mysql+pymysql://u:pw@127.0.0.1:3306/shop", "mysql://u:pw@127.0.0.1:3306/shop"),
    ("sqlite:////data/app.db", "sqlite:///data/app.db"),
    ("postgresql://u:pw@db:5432/crm", "postgresql://u:pw@db:5432/crm"),
    ("postgresql+psycopg2://u:@/crm?host=/run/postgresql", "postgresql://u:@localhost:5432/crm?host=%2Frun%2Fpostgresql"),
    ("mysql+pymysql://u:pw@/shop?unix_socket=/run/mysqld.sock", None),  # ConnectorX needs a host
    ("sqlite://", None),  # in memory: another process cannot see it
], ids=["mysql", "sqlite", "postgres-tcp", "postgres-socket", "mysql-socket", "sqlite-memory"])
def test_connectorx_connection_strings(url: str, reachable: str | None) -> None:
    from pg_assets.sources.sql_connect import parse_url
    from pg_assets.sources.sql_connectorx import connection_string

    assert connection_string(parse_url(url)) == reachable


def test_a_connectorx_failure_names_the_resource_without_the_password(
        mariadb_source: SourceDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.errors import TerminalLoadError
    from pg_assets.sources.sql_arrow import ArrowColumn
    from pg_assets.sources.sql_connect import parse_url
    from pg_assets.sources.sql_connectorx import batches

    url = parse_url(mariadb_source.url)
    with pytest.raises(TerminalLoadError) as raised:
        batches(url, "SELECT carrier FROM no_such_table", [ArrowColumn("carrier", pa.string())], 10,
                "source `src`, resource `gone`")
    assert "resource `gone`" in str(raised.value) and "no_such_table" in str(raised.value)
    assert url.password not in str(raised.value)


# ---------------------------------------------------------------- query resources


def test_a_query_resource_lands_with_the_types_of_its_table(source_db: SourceDb, dataset: str, query: Query,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("typed")
    source_db.execute(TYPED[source_db.dialect].format(t=table))
    _insert(source_db, table, {**VALUES, "doc": '{"a": [1, 2]}'} if source_db.dialect == "mysql" else VALUES)
    spec = spec_for(tmp_path, monkeypatch, source_db, dataset,
                    f"typed: {{table: {table}}}\nasked: {{query: 'select * from {table}'}}\n")
    runner.run_source(spec, "src")

    from_table, from_query = columns_of(query, dataset, "typed"), columns_of(query, dataset, "asked")
    assert set(from_query) == set(from_table)
    differs = {c: (from_table[c][:4], from_query[c][:4]) for c in from_table if from_table[c][:4] != from_query[c][:4]}
    assert differs == QUERY_DIFFERS[source_db.dialect]
    names = ", ".join(c for c in VALUES if c in from_table)
    rows = [query(f'SELECT {names} FROM "{dataset}".{t}') for t in ("typed", "asked")]
    if source_db.dialect != "sqlite":
        assert rows[0] == rows[1]


# what a query's result cannot tell of its table's types
VARCHAR = ("character varying", None, None, None)
QUERY_DIFFERS = {
    "postgresql": {},
    # pymysql gives a decimal's display length (digits, point and sign) and one field type for every text
    "mysql": {"amount": (("numeric", None, 12, 2), ("numeric", None, 13, 2)),
              "name": (("character varying", 40, None, None), VARCHAR),
              "uid": (("character varying", 36, None, None), VARCHAR)},
    # sqlite3 describes no types: they come from the values, which SQLite keeps as text, REAL and INTEGER
    "sqlite": {"amount": (("numeric", None, 12, 2), ("double precision", None, 53, None)),
               "name": (("character varying", 40, None, None), VARCHAR),
               **{c: ((kind, None, None, None), VARCHAR) for c, kind in (
                   ("happened", "timestamp without time zone"), ("local_ts", "timestamp without time zone"),
                   ("day", "date"), ("at_time", "time without time zone"), ("doc", "jsonb"))},
               "flag": (("boolean", None, None, None), ("bigint", None, 64, 0))},
}
