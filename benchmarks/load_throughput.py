"""Load throughput and memory: pg_assets against a hand-written psycopg2 COPY, in one run.

Generates rows deterministically (flat: 10 columns of ints, short strings, strings
with quotes/newlines/unicode, floats, booleans, aware datetimes, dates, 30% nulls;
nested: a dict and a list of 3 dicts each) and loads them, each variant in its own
process so peak RSS is its own, against the same server:

    python benchmarks/load_throughput.py                 # 1,000,000 flat + 200,000 nested rows
    python benchmarks/load_throughput.py --flat 3000000  # memory must not grow with rows

Variants: `baseline` (a hand-written psycopg2 text COPY FROM STDIN), `server_binary` (the
server's own `COPY ... FROM '<file>' (FORMAT binary)` of the same flat rows, written once
to a file by pgpq before the clock starts: the limit of any client), and pg_assets' `copy`,
`insert_values` and `default` (insert_values with indexes).

Without PG_ASSETS_CREDENTIALS it uses the embedded Postgres. Prints rows/s, peak RSS,
the ratio of each variant to the baseline and to the server's binary COPY measured in the
same run, and where each load's time went (`--json PATH` writes the figures as JSON).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

UTC = dt.timezone.utc
WORDS = ["alpha", "beta", "gamma", "delta", "O'Brien", 'say "hi"', "línea\nnueva", "tab\there", "back\\slash",
         "emoji 😀", "naïve café", "plain"]
FLAT_COLUMNS = [("id", "bigint"), ("qty", "bigint"), ("code", "varchar"), ("note", "varchar"),
                ("price", "double precision"), ("score", "double precision"), ("active", "boolean"),
                ("created_at", "timestamp with time zone"), ("day", "date"), ("label", "varchar")]


def flat_rows(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`n` flat rows; about 30% of the optional values are null."""
    rnd = random.Random(seed)
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    day0 = dt.date(2020, 1, 1)
    for i in range(n):
        nul = rnd.random
        yield {
            "id": i,
            "qty": None if nul() < 0.3 else rnd.randint(0, 10_000),
            "code": None if nul() < 0.3 else f"C{rnd.randint(0, 99999):05d}",
            "note": None if nul() < 0.3 else rnd.choice(WORDS),
            "price": None if nul() < 0.3 else round(rnd.random() * 1000, 2),
            "score": None if nul() < 0.3 else rnd.random(),
            "active": None if nul() < 0.3 else nul() < 0.5,
            "created_at": None if nul() < 0.3 else base + dt.timedelta(seconds=rnd.randint(0, 10**8)),
            "day": None if nul() < 0.3 else day0 + dt.timedelta(days=rnd.randint(0, 2000)),
            "label": None if nul() < 0.3 else rnd.choice(WORDS) + str(i % 97),
        }


def nested_rows(n: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """`n` rows with a dict and a list of 3 dicts each."""
    rnd = random.Random(seed)
    for i in range(n):
        yield {
            "id": i,
            "customer": {"name": rnd.choice(WORDS), "tier": rnd.randint(1, 5)},
            "items": [{"sku": f"S{rnd.randint(0, 999)}", "qty": rnd.randint(1, 9), "price": rnd.random() * 50}
                      for _ in range(3)],
        }


# ---- the baseline: hand-written COPY FROM STDIN (text format) -------------------------------

_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return v.translate(_ESC)
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    return str(v)


def baseline(conn: Any, schema: str, n: int) -> int:
    cur = conn.cursor()
    cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    cols = ", ".join(f"{c} {t}" for c, t in FLAT_COLUMNS)
    cur.execute(f"CREATE TABLE {schema}.flat ({cols})")
    statement = f"COPY {schema}.flat ({', '.join(c for c, _ in FLAT_COLUMNS)}) FROM STDIN"
    buf, count = io.StringIO(), 0
    for row in flat_rows(n):
        buf.write("\t".join(_copy_value(v) for v in row.values()) + "\n")
        count += 1
        if count % 50_000 == 0:
            buf.seek(0)
            cur.copy_expert(statement, buf)
            buf = io.StringIO()
    buf.seek(0)
    cur.copy_expert(statement, buf)
    return count


# ---- the limit: the server's own binary COPY of a prepared file ------------------------------


def write_binary_copy(path: Path, batches: Iterable[Any]) -> None:
    """`batches` (Arrow record batches of one schema) as one file in the server's binary COPY format, by pgpq.

    The Arrow types of the flat rows map one to one onto `FLAT_COLUMNS` (varchar and text share one wire
    form), so the file holds exactly the bytes an ideal client would send; it is made readable by the
    server's own OS user (the embedded server runs as `pgserver`)."""
    from pgpq import ArrowToPostgresBinaryEncoder

    encoder = None
    with path.open("wb") as out:
        for batch in batches:
            if encoder is None:
                encoder = ArrowToPostgresBinaryEncoder(batch.schema)
                out.write(encoder.write_header())
            out.write(encoder.write_batch(batch))
        out.write(encoder.finish())
    os.chmod(path, 0o644)
    os.chmod(path.parent, 0o755)


def flat_batches(n: int, chunk: int = 100_000) -> Iterator[Any]:
    """`flat_rows(n)` as Arrow record batches of `chunk` rows, one schema (the first chunk's)."""
    import pyarrow as pa

    rows, schema = flat_rows(n), None
    while batch := list(islice(rows, chunk)):
        table = pa.Table.from_pylist(batch, schema=schema)
        schema = table.schema
        yield from table.to_batches()


def server_binary_copy(conn: Any, schema: str, path: Path) -> int:
    """A new table of `FLAT_COLUMNS` filled by the server reading `path` itself; the rows it copied."""
    cur = conn.cursor()
    cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    cur.execute(f"CREATE TABLE {schema}.flat ({', '.join(f'{c} {t}' for c, t in FLAT_COLUMNS)})")
    cur.execute(f"COPY {schema}.flat FROM '{path}' (FORMAT binary)")
    return cur.rowcount


# ---- one measurement per process ------------------------------------------------------------


def run_flat_only(variant: str, flat: int) -> dict[str, Any]:
    """The flat rows alone, so every variant loads the same rows as the baseline."""
    import pg_assets
    from breakdown import phases

    fmt, indexes = {"insert_values": ("insert_values", False), "copy": ("copy", False),
                    "default": ("insert_values", True)}[variant]
    p = pg_assets.pipeline("bench", dataset=f"bench_{variant}", file_format=fmt, create_indexes=indexes)
    with p.connect() as conn:
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS bench_{variant} CASCADE")
    t0 = time.perf_counter()
    info = p.run(flat_rows(flat), table_name="flat")
    seconds = time.perf_counter() - t0
    return {"rows": info.row_counts["flat"], "seconds": seconds, "phases": phases(info, None, seconds)}


def run_nested_only(variant: str, nested: int) -> dict[str, Any]:
    import pg_assets

    fmt, indexes = {"insert_values": ("insert_values", False), "copy": ("copy", False),
                    "default": ("insert_values", True)}[variant]
    p = pg_assets.pipeline("bench_nested", dataset=f"bench_{variant}_nested", file_format=fmt,
                           create_indexes=indexes)
    with p.connect() as conn:
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS bench_{variant}_nested CASCADE")
    t0 = time.perf_counter()
    info = p.run(nested_rows(nested), table_name="nested")
    return {"rows": sum(info.row_counts.values()), "seconds": time.perf_counter() - t0}


def _dropped(schema: str) -> Any:
    """An autocommit connection, `schema` dropped before the clock starts (the last run's table goes unpaid)."""
    import pg_assets

    conn = pg_assets.resolve_credentials().connect()
    conn.autocommit = True
    conn.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return conn


def child(variant: str, flat: int, nested: int) -> None:
    """Run one variant in this process and print its figures as JSON."""
    import pg_assets

    out: dict[str, Any] = {"variant": variant}
    if variant == "server_binary":
        with tempfile.TemporaryDirectory(prefix="pg_assets_binary_") as tmp:
            path = Path(tmp) / "flat.pgcopy"
            write_binary_copy(path, flat_batches(flat))
            conn = _dropped("bench_server_binary")
            t0 = time.perf_counter()
            out["flat_rows"] = server_binary_copy(conn, "bench_server_binary", path)
            out["flat_seconds"] = time.perf_counter() - t0
    elif variant == "baseline":
        conn = _dropped("bench_baseline")
        t0 = time.perf_counter()
        out["flat_rows"] = baseline(conn, "bench_baseline", flat)
        out["flat_seconds"] = time.perf_counter() - t0
    else:
        f = run_flat_only(variant, flat)
        n = run_nested_only(variant, nested) if nested else {"rows": 0, "seconds": 0.0}
        out.update(flat_rows=f["rows"], flat_seconds=f["seconds"], flat_phases=f["phases"], nested_rows=n["rows"],
                   nested_seconds=n["seconds"])
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flat", type=int, default=1_000_000)
    ap.add_argument("--nested", type=int, default=200_000)
    ap.add_argument("--variants", default="baseline,server_binary,copy,insert_values,default")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.flat, args.nested)
        return
    import pg_assets

    pg_assets.resolve_credentials()  # start the embedded server once, outside the timings
    results = {}
    for variant in args.variants.split(","):
        proc = subprocess.run([sys.executable, __file__, "--child", variant, "--flat", str(args.flat),
                               "--nested", str(args.nested)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"{variant} failed:\n{proc.stderr}")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    _report(results, args.flat, args.nested)
    if args.json:
        args.json.write_text(json.dumps({"flat": args.flat, "nested": args.nested, "variants": results}, indent=2))


def _report(results: dict[str, dict[str, Any]], flat: int, nested: int) -> None:
    rate = {v: r["flat_rows"] / r["flat_seconds"] for v, r in results.items()}
    print(f"\nflat: {flat:,} rows (10 columns); nested: {nested:,} rows (+{3 * nested:,} child rows)")
    print(f"{'variant':<28}{'flat rows/s':>14}{'vs baseline':>13}{'vs server binary':>18}{'nested rows/s':>16}"
          f"{'peak RSS MB':>13}")
    names = {"baseline": "psycopg2 COPY (baseline)", "server_binary": "server binary COPY (limit)",
             "copy": "pg_assets copy", "insert_values": "pg_assets insert_values",
             "default": "pg_assets default config"}
    for variant, r in results.items():
        vs = "".join(f"{rate[variant] / rate[a]:>{w - 1}.2f}x" if a in rate else f"{'-':>{w}}"
                     for a, w in (("baseline", 13), ("server_binary", 18)))
        nested_rate = f"{r['nested_rows'] / r['nested_seconds']:,.0f}" if r.get("nested_seconds") else "-"
        print(f"{names.get(variant, variant):<28}{rate[variant]:>14,.0f}{vs}{nested_rate:>16}{r['peak_rss_mb']:>13.0f}")
    print("(copy and insert_values with create_indexes=false, the baseline's table shape; "
          "default = insert_values with create_indexes=true)")
    _report_phases(results)


def _report_phases(results: dict[str, dict[str, Any]]) -> None:
    """Each load's phases; the index build is what `default`'s commit spends beyond `insert_values`'."""
    from breakdown import format_phases

    loads = {v: r["flat_phases"] for v, r in results.items() if "flat_phases" in r}
    if not loads:
        return
    print("\nwhere each flat load's time went (see benchmarks/breakdown.py; the dict paths encode per value "
          "inside the stream, so their client encode is not timed apart from it)")
    for variant, parts in loads.items():
        print(format_phases(variant, parts))
    if "default" in loads and "insert_values" in loads:
        build = loads["default"]["commit"] - loads["insert_values"]["commit"]
        print(f"  index build    about {build:.2f}s (default's commit minus insert_values' commit)")


if __name__ == "__main__":
    main()
