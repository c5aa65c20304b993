"""`kind: sql_database` throughput: one table copied from a source database on the same server,
against a server-to-server COPY pipe and dlt 1.31's `sql_table(backend="pyarrow")`, in one run.

The source is a database `pg_assets_bench_src` on the destination's server (the embedded one
unless PG_ASSETS_CREDENTIALS is set) holding one table of `--rows` rows and 10 columns: ids,
texts, a float, an int, a bool, a timestamptz, a date and a nullable bigint. Each variant
runs in its own process, so its peak RSS is its own:

    python benchmarks/sql_database_throughput.py                 # 1,000,000 rows
    python benchmarks/sql_database_throughput.py --rows 200000 --variants pipe,pg_assets

- `pipe`: `COPY (SELECT ...) TO STDOUT` on one connection streamed into `COPY ... FROM STDIN` on another;
- `pg_assets`: a `sql_database` source into a fresh dataset (`file_format: copy`);
- `pg_assets_insert`: the same with the default `insert_values`;
- `pg_assets_noidx`: the fast path with `create_indexes: false` (no unique index on `_dlt_id`);
- `pg_assets_rows`: the row path (a `schema_contract` turns the fast path off): Arrow batches, read by
  ConnectorX when it is installed, the path MySQL and SQLite sources take;
- `pg_assets_rows_sqlalchemy`: the same with `PG_ASSETS_CONNECTORX=0`: rows fetched by psycopg2 through
  SQLAlchemy, made into Arrow batches;
- `dlt`: dlt's `sql_table(backend="pyarrow")` into the same server (needs pyarrow; skipped without it);
- `sling`: Sling's own database-to-database copy (`pip install sling sling-linux-amd64`, offline).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

SOURCE_DB = "pg_assets_bench_src"
TABLE = "bench_rows"
COLUMNS = ("id bigint PRIMARY KEY, name text NOT NULL, code text, price double precision, qty integer, "
           "active boolean, created_at timestamptz, day date, parent_id bigint, note text")
FILL = f"""
INSERT INTO {TABLE}
SELECT i, 'name ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'C' || lpad((i % 99991)::text, 5, '0') END,
       (i % 100000) / 100.0, (i * 7) % 10000, i % 2 = 0,
       timestamptz '2024-01-01 00:00:00+00' + (i * interval '17 seconds'), date '2020-01-01' + (i % 2000),
       CASE WHEN i % 4 = 0 THEN NULL ELSE i / 2 END, CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ''' || (i % 97) END
FROM generate_series(1, {{rows}}) AS i
"""


def _config() -> Any:
    import pg_assets

    return pg_assets.resolve_credentials()


def _source_config(config: Any) -> Any:
    import dataclasses

    return dataclasses.replace(config, database=SOURCE_DB)


def _source_url(config: Any) -> str:
    from sqlalchemy.engine import URL

    socket = config.host.startswith("/")
    return URL.create("postgresql+psycopg2", username=config.username, password=config.password,
                      host=None if socket else config.host, port=None if socket else config.port,
                      database=SOURCE_DB,
                      query={"host": config.host, "port": str(config.port)} if socket else {}
                      ).render_as_string(hide_password=False)


def prepare_source(rows: int) -> None:
    """(Re)create the source database and its table when it does not hold `rows` rows."""
    config = _config()
    admin = config.connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (SOURCE_DB,))
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{SOURCE_DB}"')
    admin.close()
    conn = _source_config(config).connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE tablename = %s", (TABLE,))
        if cur.fetchone()[0]:
            cur.execute(f"SELECT count(*) FROM {TABLE}")
            if cur.fetchone()[0] == rows:
                conn.close()
                return
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(f"CREATE TABLE {TABLE} ({COLUMNS})")
        cur.execute(FILL.format(rows=int(rows)))
        cur.execute(f"VACUUM ANALYZE {TABLE}")
    conn.close()


# ---------------------------------------------------------------- variants (each in a child process)


def run_pipe(schema: str) -> int:
    """The baseline: the server's own text COPY out, piped through this process into COPY in."""
    config = _config()
    source, dest = _source_config(config).connect(), config.connect()
    with dest.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
        cur.execute(f'CREATE TABLE "{schema}".{TABLE} ({COLUMNS})')
    read_fd, write_fd = os.pipe()
    reader, writer = os.fdopen(read_fd, "rb"), os.fdopen(write_fd, "wb")

    def produce() -> None:
        with writer, source.cursor() as cur:
            cur.copy_expert(f"COPY (SELECT * FROM {TABLE}) TO STDOUT", writer, size=1 << 16)

    thread = threading.Thread(target=produce)
    thread.start()
    with dest.cursor() as cur:
        cur.copy_expert(f'COPY "{schema}".{TABLE} FROM STDIN', reader, size=1 << 16)
        thread.join()
        dest.commit()
    source.close()
    dest.close()
    return _count(config, schema)


def run_pg_assets(schema: str, file_format: str, resource_options: str = "", indexes: bool = True) -> int:
    from pg_assets import runner
    from pg_assets.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipelines.yaml"
        path.write_text(textwrap.dedent(f"""\
            destination: {{file_format: {file_format}, create_indexes: {str(indexes).lower()}}}
            sources:
              src:
                kind: sql_database
                credentials: ${{BENCH_SOURCE_URL}}
                dataset: {schema}
                resources:
                  {TABLE}: {{{resource_options}}}
            """))
        os.environ["BENCH_SOURCE_URL"] = _source_url(_config())
        info = runner.run_source(load_spec(path), "src", credentials=_config())
    return info.row_counts[TABLE]


def run_dlt(schema: str) -> int:
    import dlt
    from dlt.sources.sql_database import sql_table

    config = _config()
    # dlt insists on a password and a host; a socket directory goes in `?host=` (the server trusts local sockets)
    uri = config.uri() if not config.host.startswith("/") else (
        f"postgresql://{config.username}:{config.password or 'unused'}@localhost:{config.port}/{config.database}"
        f"?host={config.host}")
    pipeline = dlt.pipeline(pipeline_name=f"bench_{schema}", destination=dlt.destinations.postgres(uri),
                            dataset_name=schema, pipelines_dir=tempfile.mkdtemp())
    table = sql_table(credentials=_source_url(config), table=TABLE, backend="pyarrow", chunk_size=50_000)
    pipeline.run(table)
    return _count(config, schema)


def run_sling(schema: str) -> int:
    """Sling's database-to-database copy, its offline binary (`pip install sling sling-linux-amd64`)."""
    import sling_linux_amd64

    config = _config()
    binary = Path(sling_linux_amd64.__file__).parent / "bin" / "sling-linux-amd64"

    def url(database: str) -> str:  # Sling reaches a unix socket as `?host=DIR`
        socket = config.host.startswith("/")
        where = f"/{database}?host={config.host}&" if socket else f"{config.host}:{config.port}/{database}?"
        return f"postgresql://{config.username}@{where}sslmode=disable"

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PG_SOURCE": url(SOURCE_DB), "PG_TARGET": url(config.database),
               "SLING_HOME_DIR": home, "DISABLE_TELEMETRY": "1"}
        if config.password:
            env["PGPASSWORD"] = config.password
        subprocess.run([str(binary), "run", "--src-conn", "PG_SOURCE", "--src-stream", f"public.{TABLE}",
                        "--tgt-conn", "PG_TARGET", "--tgt-object", f"{schema}.{TABLE}"], env=env, check=True,
                       capture_output=True)
    return _count(config, schema)


def _count(config: Any, schema: str) -> int:
    conn = config.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'SELECT count(*) FROM "{schema}".{TABLE}')
            return cur.fetchone()[0]
    finally:
        conn.close()


def _through_sqlalchemy(schema: str) -> int:
    os.environ["PG_ASSETS_CONNECTORX"] = "0"  # the Arrow path, rows fetched by psycopg2
    return run_pg_assets(schema, "copy", "schema_contract: evolve")


VARIANTS = {"pipe": run_pipe, "pg_assets": lambda s: run_pg_assets(s, "copy"),
            "pg_assets_insert": lambda s: run_pg_assets(s, "insert_values"),
            # any `schema_contract` takes the row path: Python values through the normalizer
            "pg_assets_rows": lambda s: run_pg_assets(s, "copy", "schema_contract: evolve"),
            "pg_assets_noidx": lambda s: run_pg_assets(s, "copy", indexes=False),
            "pg_assets_rows_sqlalchemy": _through_sqlalchemy, "dlt": run_dlt,
            "sling": run_sling}


def child(variant: str) -> None:
    schema = f"bench_sql_{variant}_{os.getpid()}"
    started = time.perf_counter()
    rows = VARIANTS[variant](schema)
    seconds = time.perf_counter() - started
    conn = _config().connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}_staging" CASCADE')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak}))


def _available(variant: str) -> str | None:
    if variant == "sling" and importlib.util.find_spec("sling_linux_amd64") is None:
        return "not run: pip install sling sling-linux-amd64"
    if variant == "dlt":
        try:
            import pyarrow  # noqa: F401
            from dlt.sources.sql_database import sql_table  # noqa: F401
        except ImportError as exc:
            return f"not run: {exc}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--variants", default="pipe,pg_assets,pg_assets_rows,dlt,sling")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    prepare_source(args.rows)
    results: dict[str, dict[str, Any]] = {}
    for variant in args.variants.split(","):
        skipped = _available(variant)
        if skipped:
            results[variant] = {"skipped": skipped}
            continue
        proc = subprocess.run([sys.executable, __file__, "--child", variant], capture_output=True, text=True)
        if proc.returncode:
            results[variant] = {"skipped": f"failed: {proc.stderr.strip().splitlines()[-1:]}"}
            continue
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    _report(results, args.rows)


def _report(results: dict[str, dict[str, Any]], rows: int) -> None:
    base = results.get("pipe", {}).get("seconds")
    dlt_seconds = results.get("dlt", {}).get("seconds")
    print(f"{rows:,} rows x 10 columns, one table, source database on the destination's server")
    print(f"{'variant':<26} {'seconds':>8} {'rows/s':>10} {'vs pipe':>8} {'vs dlt':>7} {'peak RSS':>9}")
    for name, r in results.items():
        if "skipped" in r:
            print(f"{name:<26} {r['skipped']}")
            continue
        ratio = f"{base / r['seconds']:.2f}x" if base else "-"
        vs_dlt = f"{dlt_seconds / r['seconds']:.2f}x" if dlt_seconds else "-"
        assert r["rows"] == rows, f"{name} loaded {r['rows']} rows, not {rows}"
        print(f"{name:<26} {r['seconds']:>8.1f} {rows / r['seconds']:>10,.0f} {ratio:>8} {vs_dlt:>7} "
              f"{r['peak_rss_mb']:>7.0f} MB")


if __name__ == "__main__":
    main()
