"""Merge throughput: every strategy, with `create_indexes` on and off, beside an append.

For each strategy and index setting, one dataset gets a base table of `--rows` rows
(loaded by the same merge resource, so its hints and indexes are the real ones), then
two merges are timed:

- `--changed` rows (10,000 by default), spread over the whole table, change;
- every row of the table changes (`--rows` rows merged into `--rows` rows).

With `--dlt`, dlt 1.31's own delete-insert merge (primary key `id`, its defaults) loads the
same base table and merges every row of it again, in the same run: the ratio against
pg_assets' delete-insert merge of every row is the figure to compare.

The append figure is a plain append of `--rows` rows into a new table in the same run,
so ratios compare like with like on a noisy machine. `commit` is the transaction that
runs the merge SQL (staging the rows is the same work for every strategy).
scd2 merges with `merge_key: id`, so only the keys present are retired. The base table
is ANALYZEd before the merges, as autovacuum does within a minute of a large load: a
table that was loaded a moment ago has no statistics, and the planner would scan it.

    python benchmarks/merge_throughput.py                       # 1,000,000 rows, 10,000 changed
    python benchmarks/merge_throughput.py --rows 200000 --strategies upsert,scd2

Every pipeline runs with pg_assets' defaults (`insert_values`, 20 workers) unless
`--file-format` or `--workers` says otherwise. Without PG_ASSETS_CREDENTIALS it uses the
embedded Postgres.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pg_assets

STRATEGIES = ("delete-insert", "upsert", "insert-only", "scd2")
BASE_DAY = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def rows(ids: range | list[int], revision: int) -> Iterator[dict[str, Any]]:
    """Rows of `ids` at `revision`: every revision changes every non-key column."""
    for i in ids:
        yield {"id": i, "name": f"customer {i} rev {revision}", "score": i * revision % 9973,
               "balance": round(i * 0.37 * revision, 2), "active": (i + revision) % 3 == 0,
               "updated_at": BASE_DAY + dt.timedelta(seconds=i + revision * 10_000_000), "day": i % 365}


def _resource(strategy: str, data: Any) -> pg_assets.Resource:
    key = {"merge_key": "id"} if strategy == "scd2" else {"primary_key": "id"}
    return pg_assets.resource(data, name="customers", write_disposition={"disposition": "merge",
                                                                         "strategy": strategy}, **key)


def _fresh(name: str, dataset: str, args: argparse.Namespace, indexes: bool) -> pg_assets.Pipeline:
    chosen = {k: v for k, v in (("file_format", args.file_format), ("workers", args.workers)) if v is not None}
    p = pg_assets.pipeline(name, dataset=dataset, create_indexes=indexes, **chosen)
    _drop(p)
    return p


def _drop(p: pg_assets.Pipeline) -> None:
    conn = p.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{p.dataset}" CASCADE; '
                        f'DROP SCHEMA IF EXISTS "{p.dataset}_staging" CASCADE')
    finally:
        conn.close()


def _timed(p: pg_assets.Pipeline, resource: pg_assets.Resource) -> dict[str, float]:
    t0 = time.perf_counter()
    info = p.run(resource)
    return {"total": time.perf_counter() - t0, "commit": info.timings["commit"],
            "rows": sum(info.row_counts.values())}


def _analyze(p: pg_assets.Pipeline) -> None:
    conn = p.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'ANALYZE "{p.dataset}".customers')
    finally:
        conn.close()


def _count(p: pg_assets.Pipeline, strategy: str) -> int:
    active = ' WHERE "_dlt_valid_to" IS NULL' if strategy == "scd2" else ""
    conn = p.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'SELECT count(*) FROM "{p.dataset}".customers{active}')
            return cur.fetchone()[0]
    finally:
        conn.close()


def measure(strategy: str, indexes: bool, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    tag = f"{strategy.replace('-', '_')}_{'idx' if indexes else 'noidx'}"
    p = _fresh("bench_merge", f"bench_merge_{tag}", args, indexes)
    n = args.rows
    out = {"base": _timed(p, _resource(strategy, rows(range(n), 1)))}
    _analyze(p)
    step = max(1, n // args.changed)
    out["few"] = _timed(p, _resource(strategy, rows(range(0, n, step)[: args.changed], 2)))
    out["all"] = _timed(p, _resource(strategy, rows(range(n), 3)))
    assert _count(p, strategy) == n, f"{tag}: expected {n} current rows"
    if not args.keep:
        _drop(p)
    return out


def dlt_merge(args: argparse.Namespace) -> dict[str, float]:
    """dlt's delete-insert merge of every row into a table of `--rows` rows (the second run timed)."""
    import dlt

    config = pg_assets.resolve_credentials()
    # dlt insists on a password and a host; a socket directory goes in `?host=`
    uri = config.uri() if not config.host.startswith("/") else (
        f"postgresql://{config.username}:{config.password or 'unused'}@localhost:{config.port}/{config.database}"
        f"?host={config.host}")
    p = dlt.pipeline(pipeline_name="bench_merge_dlt", destination=dlt.destinations.postgres(uri),
                     dataset_name="bench_merge_dlt", pipelines_dir=tempfile.mkdtemp())

    def run(revision: int) -> float:
        res = dlt.resource(rows(range(args.rows), revision), name="customers", primary_key="id",
                           write_disposition={"disposition": "merge", "strategy": "delete-insert"})
        t0 = time.perf_counter()
        p.run(res)
        return time.perf_counter() - t0

    run(1)
    return {"total": run(3)}


def append(indexes: bool, args: argparse.Namespace) -> dict[str, float]:
    p = _fresh("bench_append", f"bench_merge_append_{'idx' if indexes else 'noidx'}", args, indexes)
    result = _timed(p, pg_assets.resource(rows(range(args.rows), 1), name="customers"))
    if not args.keep:
        _drop(p)
    return result


def report(args: argparse.Namespace, appended: dict[bool, dict[str, float]],
           merged: dict[tuple[str, bool], dict[str, dict[str, float]]]) -> None:
    n, few = args.rows, min(args.changed, args.rows)
    on_off = {True: "on", False: "off"}
    print(f"\nmerge throughput: {n:,} rows in the table, file_format={args.file_format or 'default'}, "
          f"workers={args.workers or 'default'}")
    print(f"\n1) {n:,} rows merged into {n:,}, every row changed   (seconds; ratio = total / append total)")
    print(f"{'load':<26}{'indexes':>8}{'total':>9}{'commit':>9}{'rows/s':>11}{'vs append':>11}")
    for indexes in appended:
        a = appended[indexes]
        print(f"{'append (new table)':<26}{on_off[indexes]:>8}{a['total']:>9.1f}{a['commit']:>9.1f}"
              f"{n / a['total']:>11,.0f}{1:>10.2f}x")
    for (strategy, indexes), r in merged.items():
        m = r["all"]
        print(f"{'merge ' + strategy:<26}{on_off[indexes]:>8}{m['total']:>9.1f}{m['commit']:>9.1f}"
              f"{n / m['total']:>11,.0f}{m['total'] / appended[indexes]['total']:>10.2f}x")
    print(f"\n2) {few:,} changed rows merged into {n:,}   (seconds; ratio = without / with indexes)")
    print(f"{'load':<26}{'total on':>10}{'commit on':>11}{'total off':>11}{'commit off':>12}{'off/on':>9}")
    for strategy in args.strategies:
        on, off = merged.get((strategy, True)), merged.get((strategy, False))
        if not on or not off:
            continue
        print(f"{'merge ' + strategy:<26}{on['few']['total']:>10.2f}{on['few']['commit']:>11.2f}"
              f"{off['few']['total']:>11.2f}{off['few']['commit']:>12.2f}"
              f"{off['few']['commit'] / on['few']['commit']:>8.1f}x")
    print("\n(base tables: " + ", ".join(f"{s} {on_off[i]} {r['base']['total']:.1f}s"
                                          for (s, i), r in merged.items()) + ")")


def compare_dlt(args: argparse.Namespace, merged: dict[tuple[str, bool], dict[str, dict[str, float]]]) -> None:
    """dlt's merge of every row beside pg_assets' delete-insert merge of every row, as a ratio."""
    ours = merged.get(("delete-insert", True), merged.get(("delete-insert", False)))
    theirs = dlt_merge(args)["total"]
    mine = ""
    if ours:
        mine = f", pg_assets delete-insert {ours['all']['total']:.1f}s: {theirs / ours['all']['total']:.2f}x"
    print(f"\ndlt 1.31 delete-insert merge of every row: {theirs:.1f}s{mine}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the table (and in the full merge)")
    ap.add_argument("--changed", type=int, default=10_000, help="rows of the small merge")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--indexes", default="on,off", help="`on`, `off` or both")
    ap.add_argument("--file-format", choices=["copy", "insert_values"], help="the pipeline's default unless given")
    ap.add_argument("--workers", type=int, help="the pipeline's default unless given")
    ap.add_argument("--dlt", action="store_true", help="also time dlt's delete-insert merge of every row")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark datasets")
    args = ap.parse_args()
    args.strategies = [s for s in args.strategies.split(",") if s]
    settings = [{"on": True, "off": False}[v] for v in args.indexes.split(",")]
    pg_assets.resolve_credentials()  # start the embedded server outside the timings
    appended = {indexes: append(indexes, args) for indexes in settings}
    merged = {}
    for strategy in args.strategies:
        for indexes in settings:
            merged[(strategy, indexes)] = measure(strategy, indexes, args)
            r = merged[(strategy, indexes)]
            print(f"  {strategy:<14} indexes {'on ' if indexes else 'off'}  base {r['base']['total']:.1f}s  "
                  f"few {r['few']['total']:.2f}s (commit {r['few']['commit']:.2f}s)  all {r['all']['total']:.1f}s "
                  f"(commit {r['all']['commit']:.1f}s)", flush=True)
    report(args, appended, merged)
    if args.dlt:
        compare_dlt(args, merged)

if __name__ == "__main__":
    main()
