"""How long `pg-assets validate` takes on very large specs: nothing may grow faster than the file.

Two specs, written to a temporary folder and validated in this process as
`pg-assets validate` does (read, check every option, report):

- `partition_keys`: one resource with `--keys` static partition keys (100,000 by default);
- `resources`: `--resources` resources (20,000 by default) over sources of 100.

Beside each, a spec a tenth the size, so the ratio shows the growth (10x the input
should cost about 10x, not 100x).

    python benchmarks/spec_validate.py               # best of 3
    python benchmarks/spec_validate.py --check 2.0   # exit 1 if either takes over 2 s
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from pg_assets.spec.document import read_spec


def partition_spec(keys: int) -> str:
    listed = "\n".join(f"          - k{i}" for i in range(keys))
    return ("sources:\n  s:\n    kind: files\n    dataset: raw\n    resources:\n      r:\n        path: data.csv\n"
            f"        partitions:\n          type: static\n          keys:\n{listed}\n").replace(
        "          keys:\n          -", "          keys:\n            -").replace("\n          - ", "\n            - ")


def resources_spec(resources: int, per_source: int = 100) -> str:
    out = ["sources:"]
    for s in range(0, resources, per_source):
        out += [f"  s{s}:", "    kind: files", f"    dataset: raw_{s}", "    resources:"]
        out += [f"      r{r}: {{path: data.csv, write_disposition: append}}" for r in range(s, min(resources, s + per_source))]
    return "\n".join(out) + "\n"


def best(path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        spec, issues = read_spec(path)
        times.append(time.perf_counter() - started)
        assert spec is not None and not issues, issues[:3]
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", type=float, default=None, help="exit 1 if a full-size case takes longer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "data.csv").write_text("id\n1\n")
        slow = False
        for name, build, size in (("partition_keys", partition_spec, args.keys),
                                  ("resources", resources_spec, args.resources)):
            seconds = {}
            for n in (size // 10, size):
                path = folder / f"{name}_{n}.yaml"
                path.write_text(build(n))
                seconds[n] = best(path, args.repeat)
            ratio = seconds[size] / max(seconds[size // 10], 1e-9)
            print(f"{name:<15} {size // 10:>7}: {seconds[size // 10]:6.3f}s   {size:>7}: {seconds[size]:6.3f}s   "
                  f"ratio {ratio:4.1f} for 10x the input")
            slow |= args.check is not None and seconds[size] > args.check
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
