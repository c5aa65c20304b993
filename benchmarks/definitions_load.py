"""How long Dagster definitions take to load from a large pipelines.yaml.

Writes a spec with `--resources` resources (200 by default) spread over sources of
20, with column hints (so asset checks), tags, schedules and partitioned sources,
then times, in this process: reading and validating the spec, building the
definitions, Dagster resolving them into a repository and taking the snapshot the
UI is served (what `dagster dev` does on every load and "Reload definitions").
Nothing connects to a database.

    python benchmarks/definitions_load.py              # 200 resources, best of 5
    python benchmarks/definitions_load.py --check 1.0  # exit 1 if slower than 1 s

The budget, one second for 200 resources, is on `total`: read, build and resolve.
Reported beside it, not in it: the import of Dagster (paid once per process whatever
the spec) and the snapshot the code server then serialises for the UI, which is
Dagster's own work and grows with the number of schedules (each one is a job).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

PER_SOURCE = 20
MODULE = "bench_defs_source"
T = TypeVar("T")


def spec_text(resources: int) -> str:
    lines = ["sources:"]
    for s in range((resources + PER_SOURCE - 1) // PER_SOURCE):
        lines += [f"  source_{s}:", "    kind: python", f"    dataset: dataset_{s}", "    owners: [team:data]"]
        if s % 3 == 1:
            lines.append("    partitions: {type: daily, start: '2024-01-01'}")
        lines.append("    resources:")
        for r in range(min(PER_SOURCE, resources - s * PER_SOURCE)):
            lines += [
                f"      table_{r}:",
                f"        function: {MODULE}:rows",
                "        write_disposition: merge",
                "        primary_key: id",
                "        columns: {email: {data_type: text, unique: true}, name: {nullable: false}}",
                f"        tags: {{tier: t{r % 4}}}",
            ]
            if r % 5 == 0:
                lines.append("        schedule: '0 6 * * *'")
    return "\n".join(lines) + "\n"


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(path: Path) -> dict[str, float]:
    from pg_assets.dagster import build_definitions
    from pg_assets.spec import load_spec

    spec, read = _timed(lambda: load_spec(path))
    defs, build = _timed(lambda: build_definitions(spec))
    repository, resolve = _timed(defs.get_repository_def)
    # What the code server sends the UI: private API, so measured when present.
    from dagster._core.remote_representation import external_data

    _, snapshot = _timed(lambda: external_data.RepositorySnap.from_def(repository))
    return {"read spec": read, "build definitions": build, "resolve repository": resolve,
            "total": read + build + resolve, "snapshot for the UI": snapshot}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--check", type=float, default=None, metavar="SECONDS",
                        help="exit 1 when the best total exceeds this")
    args = parser.parse_args(argv)

    _, imports = _timed(lambda: __import__("pg_assets.dagster"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / f"{MODULE}.py").write_text("def rows():\n    return [{'id': 1}]\n")
        path = folder / "pipelines.yaml"
        path.write_text(spec_text(args.resources))
        runs = [measure(path) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r["total"])
    print(f"definitions for {args.resources} resources (best of {args.repeat}; import of dagster + "
          f"pg_assets.dagster once: {imports:.2f}s)")
    for name, seconds in best.items():
        print(f"  {name:<20} {seconds * 1000:8.1f} ms")
    if args.check is not None and best["total"] > args.check:
        print(f"FAILED: {best['total']:.3f}s > {args.check:.3f}s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
