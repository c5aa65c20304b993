"""Columnar load throughput and memory: an Arrow table and a Parquet file, against the server's own COPY
and dlt 1.31, in one run.

The rows are the 10 flat columns of `load_throughput.py` (30% nulls). The parent builds
them once as an Arrow IPC file, and from it a Parquet file and a CSV file; each variant
then runs in its own process, so its peak RSS is its own, against the same server:

    python benchmarks/columnar_throughput.py                  # 1,000,000 rows
    python benchmarks/columnar_throughput.py --rows 5000000   # memory must stay flat

Variants:
    server_copy  the server's own `COPY ... FROM '<file>' (FORMAT csv)` of the prepared CSV (the ceiling)
    arrow        pg_assets loading the Arrow table (`copy`, `create_indexes: false`)
    parquet      pg_assets `kind: files` reading the Parquet file (same settings)
    dlt          dlt 1.31 loading the same Arrow table into Postgres (its defaults)

Without PG_ASSETS_CREDENTIALS it uses the embedded Postgres. Prints rows/s, the ratio of
each variant to the ceiling and to dlt, and peak RSS.
"""

from __future__ import annotations

import argparse
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
from load_throughput import FLAT_COLUMNS, flat_rows  # noqa: E402

CHUNK = 100_000


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
    for name in ("rows.arrow", "rows.parquet", "rows.csv"):
        os.chmod(folder / name, 0o644)  # the server reads the CSV as its own user
    os.chmod(folder, 0o755)


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


def run_arrow(folder: Path) -> int:
    import pg_assets

    _fresh("bench_arrow")
    p = pg_assets.pipeline("bench", dataset="bench_arrow", file_format="copy", create_indexes=False)
    return p.run(arrow_table(folder), table_name="flat").row_counts["flat"]


def run_parquet(folder: Path) -> int:
    import pg_assets
    from pg_assets import runner
    from pg_assets.spec import load_spec

    _fresh("bench_parquet")
    spec_path = folder / "pipelines.yaml"
    spec_path.write_text("sources:\n  bench:\n    kind: files\n    dataset: bench_parquet\n"
                         f"    resources:\n      flat: {{path: {folder / 'rows.parquet'}}}\n")
    resources = runner.build_resources(load_spec(spec_path), "bench")
    p = pg_assets.pipeline("bench", dataset="bench_parquet", file_format="copy", create_indexes=False)
    return p.run(resources).row_counts["flat"]


def run_dlt(folder: Path) -> int:
    import dlt
    import pg_assets

    _fresh("bench_dlt")
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


VARIANTS = {"server_copy": run_server_copy, "arrow": run_arrow, "parquet": run_parquet, "dlt": run_dlt}


def child(variant: str, folder: Path) -> None:
    t0 = time.perf_counter()
    rows = VARIANTS[variant](folder)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "rows": rows, "seconds": seconds, "peak_rss_mb": peak}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "prepare":
        prepare(Path(args.folder), args.rows)
        return
    if args.child:
        child(args.child, Path(args.folder))
        return
    import pg_assets

    pg_assets.resolve_credentials()  # start the embedded server once, outside the timings
    with tempfile.TemporaryDirectory(prefix="pg_assets_columnar_") as tmp:
        # prepared in a process of its own: Linux keeps a parent's peak RSS in the children it starts
        subprocess.run([sys.executable, __file__, "--child", "prepare", "--folder", tmp, "--rows", str(args.rows)],
                       check=True)
        results = {}
        for variant in args.variants.split(","):
            proc = subprocess.run([sys.executable, __file__, "--child", variant, "--folder", tmp],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"{variant} failed:\n{proc.stderr}")
            results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    _report(results, args.rows)


def _report(results: dict[str, dict[str, Any]], n: int) -> None:
    rate = {v: r["rows"] / r["seconds"] for v, r in results.items()}
    print(f"\n{n:,} rows x 10 columns")
    print(f"{'variant':<14}{'rows':>11}{'seconds':>9}{'rows/s':>12}{'vs server COPY':>16}{'vs dlt':>9}"
          f"{'peak RSS MB':>13}")
    for variant, r in results.items():
        ceiling = f"{rate[variant] / rate['server_copy']:.2f}x" if "server_copy" in rate else "-"
        vs_dlt = f"{rate[variant] / rate['dlt']:.2f}x" if "dlt" in rate else "-"
        print(f"{variant:<14}{r['rows']:>11,}{r['seconds']:>9.2f}{rate[variant]:>12,.0f}{ceiling:>16}{vs_dlt:>9}"
              f"{r['peak_rss_mb']:>13.0f}")


if __name__ == "__main__":
    main()
