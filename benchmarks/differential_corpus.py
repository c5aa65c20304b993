"""The differential harness on a larger corpus: dlt 1.31 and pg_assets, twin datasets and hand-overs.

Loads the explicit example and `--examples` generated ones (hypothesis, `--seed`) with every
disposition and strategy of `tests/differential/diff_harness.py`, compares each dataset with
dlt's own, and prints how many examples were compared, how many dlt itself refused, every
difference no waiver explains (with its example), and how many each waiver hid.

    python benchmarks/differential_corpus.py --examples 50 --seed 7

Exits 1 when a difference is left unexplained or a load fails. Without PG_ASSETS_CREDENTIALS
it uses the embedded Postgres. Each example takes 5-25 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "differential"))

import diff_harness  # noqa: E402
from diff_harness import COMPARISONS, CASES  # noqa: E402
from diff_snapshot import DATASET  # noqa: E402
from diff_waivers import waiver_of  # noqa: E402
from pg_assets import embedded  # noqa: E402
from pg_assets.destination import resolve_credentials  # noqa: E402
from pg_assets.errors import PgAssetsError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20, help="generated examples (beside the explicit one)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    started = time.perf_counter()
    was_running = embedded.running_config() is not None
    try:
        with tempfile.TemporaryDirectory(prefix="dlt_pipelines_") as workdir:
            harness = diff_harness.Harness(resolve_credentials(None), Path(workdir))
            findings = diff_harness.run_corpus(harness, args.examples, seed=args.seed)
        return _summary(findings, time.perf_counter() - started)
    finally:
        if not was_running:  # an embedded server this run started is stopped again
            try:
                embedded.stop()
            except PgAssetsError as exc:
                print(f"warning: {exc}", file=sys.stderr)


def _summary(findings: list[diff_harness.Finding], seconds: float) -> int:
    refused = [f for f in findings if f.outcome.refused]
    failed = [f for f in findings if f.outcome.failures]
    waived: collections.Counter[str] = collections.Counter()
    left = 0
    for comparison in COMPARISONS:
        for case in [*CASES, DATASET]:
            found = diff_harness.unexplained(findings, comparison, case, waiver_of)
            if found:
                left += sum(len(ds) for _, ds in found)
                print(f"== {comparison}, {case}\n{diff_harness.report(found)}")
    for finding in findings:
        waived.update(flag for c in COMPARISONS for d in finding.outcome.differences[c] if (flag := waiver_of(c, d)))
    for finding in failed:
        print("load failed:", *finding.outcome.failures, f"  example: {diff_harness._shown_batches(finding.batches)}",
              sep="\n  ")
    compared = len(findings) - len(refused)
    print(f"corpus: {len(findings)} examples ({compared} compared, {len(refused)} refused by dlt itself), "
          f"{len(failed)} failed loads, {left} unexplained differences, in {seconds:.0f} s")
    for flag, count in sorted(waived.items()):
        print(f"  waived `{flag}`: {count} differences")
    return 1 if left or failed else 0


if __name__ == "__main__":
    sys.exit(main())
