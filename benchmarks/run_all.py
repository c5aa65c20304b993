"""Every throughput benchmark in one command: each path's rows/s beside its limit, as JSON and a chart.

Runs `columnar_throughput.py` and `load_throughput.py`, each in its own process (and each of
their variants in a process of its own, as they always do), against the same server, then
writes `results.json` (each path's rows/s, its limit's rows/s, the ratio, the target where
one is set, the time breakdown, and the machine) and `results.png` (each
path's ratio to its limit; the machine in the title):

    python benchmarks/run_all.py                  # 100,000 rows: a few minutes on 2 cores
    python benchmarks/run_all.py --rows 1000000   # the size the targets are set at
    python benchmarks/run_all.py --peers          # also dlt 1.31, and flights x3 with Sling

A path's limit is the server's own COPY of a prepared file that it could at best match:
the binary COPY for the Arrow, Parquet and dict paths, the CSV COPY for CSV and JSON Lines.
The dict paths' targets are against a hand-written psycopg2 text COPY (`baseline`), so
their ratio to it is kept too. Without PG_ASSETS_CREDENTIALS it uses the embedded Postgres.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
COLUMNAR = "server_binary,server_copy,arrow,adbc,parquet,jsonl,jsonl_dicts"
COLUMNAR_PEERS = ",dlt,flights_copy,flights_files,flights_sling"
LOAD = "baseline,server_binary,copy,insert_values,default"

# path -> (benchmark, variant, label, limit variant, baseline variant or None, target or None, target against)
PATHS: dict[str, tuple[str, str, str, str, str | None, float | None, str | None]] = {
    "arrow": ("columnar", "arrow", "Arrow table (pg_assets)", "server_binary", None, 0.9, "limit"),
    "adbc": ("columnar", "adbc", "Arrow table (ADBC adbc_ingest)", "server_binary", None, None, None),
    "parquet": ("columnar", "parquet", "Parquet file (kind: files)", "server_binary", None, 0.8, "limit"),
    "jsonl": ("columnar", "jsonl", "JSON Lines file (kind: files)", "server_copy", None, 0.4, "limit"),
    "jsonl_dicts": ("columnar", "jsonl_dicts", "JSON Lines as dicts", "server_copy", None, None, None),
    "dlt": ("columnar", "dlt", "Arrow table (dlt 1.31)", "server_binary", None, None, None),
    "flights_files": ("columnar", "flights_files", "flights CSV x3 (kind: files)", "flights_copy", None, 0.6,
                      "limit"),
    "flights_sling": ("columnar", "flights_sling", "flights CSV x3 (Sling)", "flights_copy", None, None, None),
    "dicts_copy": ("load", "copy", "dicts, copy", "server_binary", "baseline", 2.0, "baseline"),
    "dicts_insert_values": ("load", "insert_values", "dicts, insert_values", "server_binary", "baseline", None,
                            None),
    "dicts_default": ("load", "default", "dicts, default (indexes)", "server_binary", "baseline", 1.5,
                      "baseline"),
}


def machine() -> dict[str, Any]:
    """What ran the benchmarks: OS, CPU count, the load on it when they started, Postgres' version."""
    import pg_assets

    config = pg_assets.resolve_credentials()
    conn = config.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            version = cur.fetchone()[0]
    finally:
        conn.close()
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "postgres": version,
            "embedded_postgres": not os.environ.get("PG_ASSETS_CREDENTIALS"),
            "load_average_at_start": os.getloadavg()}


def run_benchmark(script: str, args: list[str], out: Path) -> dict[str, Any]:
    """One benchmark in its own process, its table on our stdout, its figures from its `--json` file."""
    proc = subprocess.run([sys.executable, str(HERE / script), *args, "--json", str(out)], check=False)
    if proc.returncode != 0:
        sys.exit(f"{script} failed (exit {proc.returncode}); its output is above")
    return json.loads(out.read_text())["variants"]


def _rate(figures: dict[str, Any]) -> float:
    if "flat_rows" in figures:
        return figures["flat_rows"] / figures["flat_seconds"]
    return figures["rows"] / figures["seconds"]


def paths(variants: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each path measured in this run, beside its limit (and its baseline where its target is against one)."""
    out = []
    for name, (bench, variant, label, limit, baseline, target, against) in PATHS.items():
        figures = variants[bench].get(variant)
        if figures is None or limit not in variants[bench]:
            continue
        rate, limit_rate = _rate(figures), _rate(variants[bench][limit])
        path = {"path": name, "label": label, "benchmark": bench, "rows_per_s": rate, "limit": limit,
                "limit_rows_per_s": limit_rate, "ratio_to_limit": rate / limit_rate,
                "peak_rss_mb": figures["peak_rss_mb"],
                "phases": figures.get("phases") or figures.get("flat_phases") or {}}
        if baseline and baseline in variants[bench]:
            path.update(baseline=baseline, ratio_to_baseline=rate / _rate(variants[bench][baseline]))
        if target is not None:
            ratio = path["ratio_to_limit"] if against == "limit" else path.get("ratio_to_baseline")
            path.update(target=target, target_against=limit if against == "limit" else baseline,
                        target_met=None if ratio is None else ratio >= target)
        out.append(path)
    return out


def chart(results: dict[str, Any], png: Path) -> None:
    """A horizontal bar per path: its ratio to its limit, the target marked where it is against the limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["paths"]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.8), dpi=80)
    labels = [f"{p['label']}  vs {p['limit']}" for p in rows]
    ratios = [p["ratio_to_limit"] for p in rows]
    bars = ax.barh(labels, ratios, color=["tab:blue" if p["benchmark"] == "columnar" else "tab:green" for p in rows])
    for bar, p in zip(bars, rows):
        note = f"{p['ratio_to_limit']:.2f}x  ({p['rows_per_s'] / 1000:,.0f}k rows/s)"
        if "ratio_to_baseline" in p:
            note += f"; {p['ratio_to_baseline']:.2f}x hand COPY"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + note, va="center", fontsize=7)
        if p.get("target_against") == p["limit"]:
            y = bar.get_y()
            ax.plot([p["target"]] * 2, [y, y + bar.get_height()], color="black", linewidth=2)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1.2, max(ratios, default=1) * 1.6))
    ax.set_xlabel("ratio to the server's own COPY of the same rows from a file (1.0 = the limit; black tick = target)",
                  fontsize=8)
    m = results["machine"]
    title = (f"pg_assets throughput, {results['rows']:,} rows\n{m['platform']}, {m['cpu_count']} CPUs, "
             f"PostgreSQL {m['postgres']}, load avg {m['load_average_at_start'][0]:.1f}")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(png, metadata={"Title": title.replace("\n", ": ")})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000, help="flat rows per path (default 100,000)")
    ap.add_argument("--peers", action="store_true", help="also dlt 1.31, and flights x3 with Sling")
    ap.add_argument("--out", type=Path, default=HERE.parent / "docs" / "img",
                    help="folder for results.json and results.png (default: docs/img, the chart the docs show)")
    args = ap.parse_args(argv)
    info = machine()  # also starts the embedded server, outside every timing
    with tempfile.TemporaryDirectory(prefix="pg_assets_run_all_") as tmp:
        columnar = COLUMNAR + (COLUMNAR_PEERS if args.peers else "")
        variants = {
            "columnar": run_benchmark("columnar_throughput.py", ["--rows", str(args.rows), "--variants", columnar],
                                      Path(tmp) / "columnar.json"),
            "load": run_benchmark("load_throughput.py", ["--flat", str(args.rows), "--nested", "0", "--variants",
                                                         LOAD], Path(tmp) / "load.json"),
        }
    results = {"rows": args.rows, "machine": info, "paths": paths(variants), "variants": variants}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    chart(results, args.out / "results.png")
    print(f"\nwrote {args.out / 'results.json'} and {args.out / 'results.png'}")
    for p in results["paths"]:
        met = {True: "met", False: "NOT met", None: "-"}[p.get("target_met")] if "target" in p else ""
        target = f"target {p['target']}x {p['target_against']}: {met}" if "target" in p else ""
        print(f"  {p['label']:<32}{p['ratio_to_limit']:>6.2f}x {p['limit']:<14}{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
