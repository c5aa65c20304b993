"""Change capture throughput: `kind: pg_replication` beside Postgres's own logical replication.

Starts Debian's PostgreSQL with `wal_level=logical` (as in `tests/faults/`), a source table
of `--rows` rows, and three consumers of the same publication, each with its own slot
created before the burst:

- pg_assets (`kind: pg_replication`, snapshot first, into database `replica`);
- Postgres's own subscription (`CREATE SUBSCRIPTION` into database `native`, disabled during
  the burst): the limit, since it applies changes in C inside the server;
- dlt's `pg_replication` verified source, when `--dlt-sources DIR` points at a checkout of
  dlt-hub/verified-sources' `sources/` folder (it is copied into projects by `dlt init`, not
  installed as a package, so it cannot run without one).

Then a burst of `--changes` mixed changes (50% inserts, 35% updates, 15% deletes, in
transactions of `--txn` changes) is written with every consumer stopped, and each one
catches up in turn: its changes/s is the burst over the time it took, and that time is
its lag after the burst. Every replica is checked against the source at the end.

    python benchmarks/replication_throughput.py                    # 1,000,000 changes
    python benchmarks/replication_throughput.py --changes 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "faults"))

import pg_server  # noqa: E402

from pg_assets.connection import ConnectionConfig  # noqa: E402
from pg_assets.runner import run_source  # noqa: E402
from pg_assets.spec import load_spec  # noqa: E402

TABLE = "public.bench"
CREATE = "CREATE TABLE {t} (id bigint PRIMARY KEY, n int, note text, amount numeric(12,2), at timestamptz)"
ROWS = "SELECT g, 0, md5(g::text), g / 100.0, now() FROM generate_series({a}, {b}) g"
CHECKSUM = "SELECT count(*), md5(coalesce(string_agg(id || ':' || n || ':' || note, ',' ORDER BY id), '')) FROM {t}"


def _config(server: pg_server.Server, database: str) -> ConnectionConfig:
    return ConnectionConfig(database, pg_server.USER, pg_server.PASSWORD, "127.0.0.1", port=server.port)


def _run(config: ConnectionConfig, *statements: str, admin: pg_server.Server | None = None) -> int:
    """Run statements in autocommit; returns the rows the last one touched."""
    import psycopg2

    conn = (psycopg2.connect(host=str(admin.home), port=admin.port, user="admin", dbname=config.database)
            if admin else config.connect())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return cur.rowcount
    finally:
        conn.close()


def _one(config: ConnectionConfig, statement: str) -> Any:
    conn = config.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchone()
    finally:
        conn.close()


def _burst(source: ConnectionConfig, start: int, changes: int, per_txn: int) -> int:
    """`changes` mixed changes in transactions of `per_txn`; returns the changes made."""
    made, next_id, oldest = 0, start, 1
    conn = source.connect()
    try:
        with conn.cursor() as cur:
            while made < changes:
                size = min(per_txn, changes - made)
                inserts, updates = size // 2, size * 35 // 100
                deletes = size - inserts - updates
                cur.execute(f"INSERT INTO {TABLE} " + ROWS.format(a=next_id, b=next_id + inserts - 1))
                middle = oldest + deletes
                cur.execute(f"UPDATE {TABLE} SET n = n + 1, note = md5(note), at = now() "
                            f"WHERE id BETWEEN {middle} AND {middle + updates - 1}")
                touched = cur.rowcount
                cur.execute(f"DELETE FROM {TABLE} WHERE id BETWEEN {oldest} AND {oldest + deletes - 1}")
                conn.commit()
                made += inserts + touched + cur.rowcount
                next_id, oldest = next_id + inserts, oldest + deletes
    finally:
        conn.close()
    return made


def _spec(folder: Path, server: pg_server.Server) -> Path:
    path = folder / "pipelines.yaml"
    path.write_text(textwrap.dedent(f"""\
        destination:
          credentials: "{_config(server, 'replica').uri()}"
        sources:
          app:
            kind: pg_replication
            credentials: "{server.config.uri()}"
            dataset: app_replica
            slot: bench_pg_assets
            publication: bench
            tables: [{TABLE}]
        """))
    return path


def _native_setup(server: pg_server.Server, rows: int) -> None:
    """The subscriber database holding the rows before the burst, and a disabled subscription on its own
    slot (made first: a subscription in the same cluster cannot create its slot)."""
    _run(server.config, "SELECT pg_create_logical_replication_slot('bench_native', 'pgoutput')")
    native = _config(server, "native")
    _run(native, CREATE.format(t=TABLE), f"INSERT INTO {TABLE} " + ROWS.format(a=1, b=rows))
    dsn = f"host=127.0.0.1 port={server.port} dbname={pg_server.DATABASE} user={pg_server.USER} " \
          f"password={pg_server.PASSWORD}"
    _run(native, f"CREATE SUBSCRIPTION bench_native CONNECTION '{dsn}' PUBLICATION bench WITH (create_slot = false, "
                 "slot_name = 'bench_native', copy_data = false, enabled = false)", admin=server)


def _native_catch_up(server: pg_server.Server, target: str) -> float:
    native = _config(server, "native")
    started = time.monotonic()
    _run(native, "ALTER SUBSCRIPTION bench_native ENABLE", admin=server)
    while True:
        (done,) = _one(server.config, "SELECT confirmed_flush_lsn >= '" + target + "'::pg_lsn FROM "
                                      "pg_replication_slots WHERE slot_name = 'bench_native'")
        if done:
            return time.monotonic() - started
        time.sleep(0.05)


def _dlt_setup(server: pg_server.Server, sources: Path | None) -> Any:
    """dlt's verified source, ready to consume its own slot; or the reason it cannot run."""
    if sources is None:
        return ("not run: dlt's pg_replication is a verified source that `dlt init` copies into a project, not an "
                "installable package; pass --dlt-sources <checkout of dlt-hub/verified-sources>/sources")
    sys.path.insert(0, str(sources))
    from pg_replication.helpers import init_replication  # type: ignore[import-not-found]

    from dlt.sources.credentials import ConnectionStringCredentials

    credentials = ConnectionStringCredentials(server.config.uri())
    init_replication(slot_name="bench_dlt", pub_name="bench", schema_name="public", table_names=["bench"],
                     credentials=credentials, persist_snapshots=False)
    return credentials


def _dlt_catch_up(server: pg_server.Server, credentials: Any) -> float:
    import dlt
    from pg_replication import replication_resource  # type: ignore[import-not-found]

    pipeline = dlt.pipeline("bench_dlt", destination=dlt.destinations.postgres(_config(server, "replica").uri()),
                            dataset_name="dlt_replica", pipelines_dir=tempfile.mkdtemp())
    started = time.monotonic()
    pipeline.run(replication_resource("bench_dlt", "bench", credentials=credentials, target_batch_size=50_000))
    return time.monotonic() - started


def _measured(results: dict[str, float | str], name: str, seconds: float | str, made: int) -> None:
    results[name] = seconds
    if isinstance(seconds, str):
        print(f"{name:>22}: {seconds}", flush=True)
    else:
        print(f"{name:>22}: {made / seconds:>10,.0f} changes/s, caught up {seconds:.1f} s after the burst", flush=True)


def _report(server: pg_server.Server, results: dict[str, float | str], made: int) -> int:
    """Print the ratios and check the replicas; 1 when one differs from the source."""
    native, ours, dlt = results["postgres subscription"], results["pg_assets"], results["dlt pg_replication"]
    assert isinstance(native, float) and isinstance(ours, float)
    print(f"pg_assets / native subscription: {native / ours:.2f}x"
          + (f", pg_assets / dlt: {dlt / ours:.2f}x" if isinstance(dlt, float) else ""))
    expected = _one(server.config, CHECKSUM.format(t=TABLE))
    checks = {"pg_assets": _one(_config(server, "replica"), CHECKSUM.format(t="app_replica.bench")),
              "native": _one(_config(server, "native"), CHECKSUM.format(t=TABLE))}
    wrong = [name for name, found in checks.items() if found != expected]
    print(f"replicas equal to the source ({expected[0]:,} rows): {'yes' if not wrong else 'NO: ' + str(wrong)}")
    return 1 if wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the source table before the burst")
    parser.add_argument("--txn", type=int, default=10_000, help="changes per source transaction")
    parser.add_argument("--dlt-sources", type=Path, default=None)
    args = parser.parse_args()
    server = pg_server.start(pg_server.LOGICAL_REPLICATION)
    try:
        pg_server._admin(server, f"CREATE DATABASE replica OWNER {pg_server.USER}",
                         f"CREATE DATABASE native OWNER {pg_server.USER}")
        _run(server.config, CREATE.format(t=TABLE), f"INSERT INTO {TABLE} " + ROWS.format(a=1, b=args.rows),
             f"CREATE PUBLICATION bench FOR TABLE {TABLE}")
        folder = Path(tempfile.mkdtemp(prefix="pg_assets_bench_"))
        spec_path = _spec(folder, server)
        run_source(load_spec(spec_path), "app")  # the snapshot; the slot exists from here on
        _native_setup(server, args.rows)
        dlt_credentials = _dlt_setup(server, args.dlt_sources)

        t0 = time.monotonic()
        made = _burst(server.config, args.rows + 1, args.changes, args.txn)
        (target,) = _one(server.config, "SELECT pg_current_wal_lsn()::text")
        print(f"burst: {made:,} changes in {time.monotonic() - t0:.1f} s (source writes), WAL end {target}",
              flush=True)

        results: dict[str, float | str] = {}
        t0 = time.monotonic()
        run_source(load_spec(spec_path), "app")
        _measured(results, "pg_assets", time.monotonic() - t0, made)
        _measured(results, "postgres subscription", _native_catch_up(server, target), made)
        _measured(results, "dlt pg_replication", dlt_credentials if isinstance(dlt_credentials, str)
                  else _dlt_catch_up(server, dlt_credentials), made)
        return _report(server, results, made)
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
