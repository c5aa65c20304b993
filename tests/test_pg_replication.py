"""`kind: pg_replication` against Debian's PostgreSQL 15 with `wal_level=logical`: a snapshot, then
the changes, compared table to table with the source after every run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replication_support import replication_server  # noqa: F401 - the module's server fixture
from replication_support import Setup, as_admin, assert_same, execute, fetch, slots

from pg_assets.cli import main
from pg_assets.errors import ConfigError, LockTimeoutError, PgAssetsError
from pg_assets.runner import run_source
from pg_assets.sources.pg_replication.catalog import LOCK_CLASS
from pg_assets.spec import load_spec

COLUMNS = ["id", "amount", "note", "tags", "scores", "created", "day", "doc", "raw", "ok", "uid", "ratio"]
ORDERS = """CREATE TABLE {t} (
    id bigint PRIMARY KEY, amount numeric(12,2), note text, tags text[], scores int[], created timestamptz,
    day date, doc jsonb, raw bytea, ok boolean, uid uuid, ratio double precision)"""
ROW = ("({id}, {id}.25, 'note ' || {id} || E'\\ttab\\\\slash\\nline', ARRAY['a', 'b c', NULL, '\"q\"'], "
       "ARRAY[{id}, -1], '2024-05-01 10:00:00+02'::timestamptz + ({id} || ' min')::interval, DATE '2024-02-29', "
       "'{{\"k\": {id}, \"n\": [1, null]}}', '\\x00ff'::bytea, {id} % 2 = 0, md5({id}::text)::uuid, {id} / 3.0)")


@pytest.fixture(scope="module")
def server(replication_server: object) -> object:
    return replication_server


@pytest.fixture
def setup(server: object, tmp_path: Path, request: pytest.FixtureRequest) -> Setup:
    name = ("r_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]).rstrip("_")
    return Setup(server, name, tmp_path)  # type: ignore[arg-type]


def _orders(setup: Setup, rows: range) -> str:
    table = f"public.{setup.name}_orders"
    execute(setup.source, ORDERS.format(t=table))
    _insert(setup, table, rows)
    return table


def _insert(setup: Setup, table: str, ids: range) -> None:
    execute(setup.source, f"INSERT INTO {table} VALUES " + ", ".join(ROW.format(id=i) for i in ids))


def _replica(setup: Setup) -> str:
    return f"{setup.name}.{setup.name}_orders"


def test_snapshot_then_changes(setup: Setup) -> None:
    table = _orders(setup, range(1, 201))
    spec = setup.spec([table])
    info = run_source(spec, "app")
    assert info.row_counts[f"{setup.name}_orders"] == 200
    assert assert_same(setup, table, _replica(setup), COLUMNS, "id") == 200
    assert slots(setup.source).count(setup.name) == 1

    _insert(setup, table, range(201, 251))
    execute(setup.source, f"UPDATE {table} SET amount = amount * 2, tags = ARRAY['x'] WHERE id % 3 = 0",
            f"DELETE FROM {table} WHERE id % 7 = 0",
            f"UPDATE {table} SET id = id + 1000 WHERE id = 10",  # a key that changes
            f"INSERT INTO {table} VALUES " + ROW.format(id=7),  # deleted, then back in the same run
            f"UPDATE {table} SET note = NULL, doc = NULL WHERE id = 7")
    run_source(spec, "app")
    assert assert_same(setup, table, _replica(setup), COLUMNS, "id") == 250 - 35 + 1

    again = run_source(spec, "app")  # nothing new: nothing changes, nothing doubles
    assert sum(t.rows for t in again.tables.values()) == 0
    assert assert_same(setup, table, _replica(setup), COLUMNS, "id") == 216


def test_truncate_between_changes(setup: Setup) -> None:
    table = _orders(setup, range(1, 51))
    spec = setup.spec([table])
    run_source(spec, "app")
    execute(setup.source, f"UPDATE {table} SET amount = 1 WHERE id < 10",
            f"BEGIN; INSERT INTO {table} VALUES {ROW.format(id=100)}; TRUNCATE {table}; "
            f"INSERT INTO {table} VALUES {ROW.format(id=101)}; COMMIT",
            f"INSERT INTO {table} VALUES {ROW.format(id=102)}")
    run_source(spec, "app")
    assert assert_same(setup, table, _replica(setup), COLUMNS, "id") == 2


def test_unchanged_toasted_values_keep_the_stored_value(setup: Setup) -> None:
    table = f"public.{setup.name}_docs"
    big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400))"  # 12.8 kB, incompressible
    execute(setup.source, f"CREATE TABLE {table} (id int PRIMARY KEY, n int, body text, blob bytea)",
            f"INSERT INTO {table} SELECT g, 0, {big}, convert_to({big}, 'UTF8') FROM generate_series(1, 5) g")
    spec = setup.spec([table])
    run_source(spec, "app")
    replica = f"{setup.name}.{setup.name}_docs"
    columns = ["id", "n", "body", "blob"]
    # across runs: the value comes from the replica
    execute(setup.source, f"UPDATE {table} SET n = n + 1 WHERE id <= 3")
    run_source(spec, "app")
    assert assert_same(setup, table, replica, columns, "id") == 5
    # within one run: inserted, then updated without touching it
    execute(setup.source, f"INSERT INTO {table} SELECT 6, 0, {big}, NULL",
            f"UPDATE {table} SET n = 9 WHERE id IN (1, 6)", f"UPDATE {table} SET n = 10 WHERE id = 6")
    run_source(spec, "app")
    assert assert_same(setup, table, replica, columns, "id") == 6


def test_toasted_values_under_full_identity(setup: Setup) -> None:
    table = f"public.{setup.name}_fulldocs"
    big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400))"
    execute(setup.source, f"CREATE TABLE {table} (id int NOT NULL, n int NOT NULL, body text NOT NULL)",
            f"ALTER TABLE {table} REPLICA IDENTITY FULL",
            f"INSERT INTO {table} SELECT g, 0, {big} FROM generate_series(1, 3) g")
    spec = setup.spec([table])
    run_source(spec, "app")
    execute(setup.source, f"UPDATE {table} SET n = 1 WHERE id <= 2")
    run_source(spec, "app")
    assert assert_same(setup, table, f"{setup.name}.{setup.name}_fulldocs", ["id", "n", "body"], "id") == 3


def test_a_column_added_mid_stream(setup: Setup) -> None:
    table = _orders(setup, range(1, 11))
    spec = setup.spec([table])
    run_source(spec, "app")
    _insert(setup, table, range(11, 13))
    execute(setup.source, f"ALTER TABLE {table} ADD COLUMN region varchar(20)",
            f"UPDATE {table} SET region = 'eu-' || id WHERE id > 5",
            f"ALTER TABLE {table} DROP COLUMN note")
    _insert_without_note = f"INSERT INTO {table} (id, amount, region) VALUES (50, 1.5, 'us')"
    execute(setup.source, _insert_without_note)
    run_source(spec, "app")
    columns = [c for c in COLUMNS if c != "note"] + ["region"]
    assert assert_same(setup, table, _replica(setup), columns, "id") == 13
    kinds = dict(fetch(setup.replica, "SELECT column_name, data_type FROM information_schema.columns "
                                      "WHERE table_schema = %s AND table_name = %s",
                       (setup.name, f"{setup.name}_orders")))
    assert kinds["region"] == "character varying" and kinds["amount"] == "numeric"


def test_soft_deletes_keep_the_row(setup: Setup) -> None:
    table = _orders(setup, range(1, 6))
    spec = setup.spec([table], deletes="soft")
    run_source(spec, "app")
    execute(setup.source, f"DELETE FROM {table} WHERE id = 2")
    run_source(spec, "app")
    flagged = fetch(setup.replica, f"SELECT id FROM {_replica(setup)} WHERE deleted_ts IS NOT NULL")
    assert flagged == [(2,)]
    assert len(fetch(setup.replica, f"SELECT 1 FROM {_replica(setup)}")) == 5


def test_a_table_without_key_is_refused(setup: Setup) -> None:
    table = f"public.{setup.name}_loose"
    execute(setup.source, f"CREATE TABLE {table} (a int, b text)")
    with pytest.raises(ConfigError, match="REPLICA IDENTITY FULL"):
        run_source(setup.spec([table]), "app")
    assert setup.name not in slots(setup.source)


def test_replica_identity_full_without_key(setup: Setup) -> None:
    table = f"public.{setup.name}_full"
    execute(setup.source, f"CREATE TABLE {table} (a int NOT NULL, b text NOT NULL)",
            f"ALTER TABLE {table} REPLICA IDENTITY FULL", f"INSERT INTO {table} VALUES (1, 'x'), (2, 'y')")
    spec = setup.spec([table])
    run_source(spec, "app")
    execute(setup.source, f"UPDATE {table} SET b = 'z' WHERE a = 1", f"DELETE FROM {table} WHERE a = 2",
            f"INSERT INTO {table} VALUES (3, 'w')")
    run_source(spec, "app")
    assert assert_same(setup, table, f"{setup.name}.{setup.name}_full", ["a", "b"], "a, b") == 2


def test_a_failed_first_run_leaves_no_slot(setup: Setup, server: object) -> None:
    table = f"public.{setup.name}_secret"  # the loader may not read it: the snapshot fails after the slot exists
    as_admin(server, f"CREATE TABLE {table} (id int PRIMARY KEY)",  # type: ignore[arg-type]
             f"CREATE PUBLICATION {setup.name} FOR TABLE {table}")
    with pytest.raises(PgAssetsError, match="permission denied"):
        run_source(setup.spec([table]), "app")
    assert setup.name not in slots(setup.source)


def test_status_and_drop(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    table = _orders(setup, range(1, 21))
    path = setup.write_spec([table])
    run_source(load_spec(path), "app")
    _insert(setup, table, range(21, 31))
    assert main(["replication", "status", "app", "-f", str(path), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["slot_exists"] and found["committed"] and found["lag_bytes"] > 0
    assert 0 <= found["lag_seconds"] < 600
    run_source(load_spec(path), "app")
    assert main(["replication", "status", "app", "-f", str(path)]) == 0
    assert "committed position:" in capsys.readouterr().out

    assert main(["replication", "drop", "app", "-f", str(path), "--yes"]) == 0
    assert "Dropped slot" in capsys.readouterr().out
    assert setup.name not in slots(setup.source)
    execute(setup.source, f"DELETE FROM {table} WHERE id <= 5")  # made while no slot exists
    run_source(load_spec(path), "app")  # a new snapshot: the replica is whole again
    assert assert_same(setup, table, _replica(setup), COLUMNS, "id") == 25


def test_a_run_waits_for_the_source_lock(setup: Setup) -> None:
    table = _orders(setup, range(1, 3))
    spec = setup.spec([table])
    holder = setup.source.connect()
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, setup.name))
        with pytest.raises(LockTimeoutError, match="holds the lock of slot"):
            run_source(spec, "app", lock_timeout=1.0)
    finally:
        holder.close()
    run_source(spec, "app")
    assert assert_same(setup, table, _replica(setup), COLUMNS, "id") == 2


def test_dagster_one_asset_per_table_with_the_lag(setup: Setup) -> None:
    import dagster as dg

    from pg_assets.dagster import PgAssetsResource, definitions_from_spec

    orders = _orders(setup, range(1, 11))
    customers = f"public.{setup.name}_customers"
    execute(setup.source, f"CREATE TABLE {customers} (id int PRIMARY KEY, name text)",
            f"INSERT INTO {customers} VALUES (1, 'a'), (2, 'b')")
    defs = definitions_from_spec(setup.write_spec([orders, customers], schedule='"*/5 * * * *"'))
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    keys = {k.path[-1] for a in assets for k in a.keys}
    assert keys == {f"{setup.name}_orders", f"{setup.name}_customers"} and len(assets) == 1
    assert [s.cron_schedule for s in defs.schedules] == ["*/5 * * * *"]
    _insert(setup, orders, range(11, 13))
    with dg.instance_for_test() as instance:
        for _ in range(2):  # the snapshot, then the changes
            result = dg.materialize(assets, instance=instance, resources={"pg_assets": PgAssetsResource()})
            execute(setup.source, f"UPDATE {customers} SET name = 'c' WHERE id = 1")
    events = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    metadata = events[f"{setup.name}_customers"]
    assert metadata["replication_position"].value and metadata["replication_lag_bytes"].value >= 0
    assert metadata["write_disposition"].value.startswith("merge")
    assert fetch(setup.replica, f"SELECT name FROM {setup.name}.{setup.name}_customers ORDER BY id") == \
        [("c",), ("b",)]


MORE_TYPES = ["s", "i", "r", "v", "c", "t", "ts", "j", "nums", "flags"]


def test_more_types_through_snapshot_and_changes(setup: Setup) -> None:
    table = f"public.{setup.name}_types"
    execute(setup.source, f"CREATE TABLE {table} (id int PRIMARY KEY, s smallint, i integer, r real, v varchar(20), "
                          "c char(3), t time, ts timestamp, j json, nums numeric(6,2)[], flags boolean[], "
                          "money_like numeric)")
    row = ("({id}, -{id}, {id} * 1000, {id} / 7.0, 'v{id}''q', 'ab', '23:59:59.5', '2024-01-01 12:00:00.123456', "
           "'{{\"a\": [{id}, \"x\"]}}', ARRAY[1.5, NULL, -{id}], ARRAY[true, false], 1e20 + {id})")
    execute(setup.source, f"INSERT INTO {table} VALUES " + ", ".join(row.format(id=i) for i in range(1, 4)))
    spec = setup.spec([table])
    run_source(spec, "app")
    execute(setup.source, f"INSERT INTO {table} VALUES " + ", ".join(row.format(id=i) for i in range(4, 7)),
            f"UPDATE {table} SET nums = ARRAY[{{}}]::numeric[], j = 'null', v = E'a\\\\b\\tc' WHERE id = 1"
            .replace("{}", ""))
    run_source(spec, "app")
    replica = f"{setup.name}.{setup.name}_types"
    assert assert_same(setup, table, replica, ["id", *MORE_TYPES], "id") == 6
    # an unconstrained numeric lands as the sql_database kind's default decimal: equal values, another scale
    numbers = f"SELECT trim_scale(money_like)::text FROM {{}} ORDER BY id"
    assert fetch(setup.source, numbers.format(table)) == fetch(setup.replica, numbers.format(replica))


def test_a_whole_schema_with_env_credentials(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    execute(setup.source, f"CREATE SCHEMA {setup.name}",
            f"CREATE TABLE {setup.name}.a (id int PRIMARY KEY, x text)",
            f"CREATE TABLE {setup.name}.b (k text PRIMARY KEY, y int)",
            f"INSERT INTO {setup.name}.a VALUES (1, 'one')", f"INSERT INTO {setup.name}.b VALUES ('k', 1)")
    monkeypatch.setenv("APP_DB_URL", setup.source.uri())
    path = setup.write_spec([])
    text = path.read_text().replace("tables: []", f"schema: {setup.name}")
    path.write_text(text.replace(f'credentials: "{setup.source.uri()}"', "credentials: {env: APP_DB_URL}"))
    run_source(load_spec(path), "app")
    execute(setup.source, f"INSERT INTO {setup.name}.a VALUES (2, 'two')", f"DELETE FROM {setup.name}.b")
    run_source(load_spec(path), "app")
    assert assert_same(setup, f"{setup.name}.a", f"{setup.name}.a", ["id", "x"], "id") == 2
    assert fetch(setup.replica, f"SELECT count(*) FROM {setup.name}.b") == [(0,)]


def test_a_change_budget_ends_runs_at_a_commit(setup: Setup) -> None:
    table = _orders(setup, range(1, 3))
    spec = setup.spec([table], max_changes=10)
    run_source(spec, "app")
    for start in (100, 200, 300):  # three transactions of 20 changes
        _insert(setup, table, range(start, start + 20))
    counts = []
    for _ in range(4):
        counts.append(run_source(spec, "app").row_counts.get(f"{setup.name}_orders", 0))
    assert counts == [20, 20, 20, 0]
    assert assert_same(setup, table, _replica(setup), COLUMNS, "id") == 62


def test_a_table_added_to_the_source_starts_from_a_snapshot(setup: Setup) -> None:
    orders = _orders(setup, range(1, 6))
    later = f"public.{setup.name}_later"
    execute(setup.source, f"CREATE TABLE {later} (id int PRIMARY KEY, x text)", f"INSERT INTO {later} VALUES (1, 'a')")
    run_source(setup.spec([orders]), "app")
    execute(setup.source, f"DROP PUBLICATION {setup.name}", f"INSERT INTO {later} VALUES (2, 'b')")
    _insert(setup, orders, range(6, 8))
    run_source(setup.spec([orders, later]), "app")  # pg_assets creates the publication again, for both
    assert assert_same(setup, later, f"{setup.name}.{setup.name}_later", ["id", "x"], "id") == 2
    assert assert_same(setup, orders, _replica(setup), COLUMNS, "id") == 7
