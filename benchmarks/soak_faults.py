"""A long soak of the fault suite: hundreds of seeded faults against a real PostgreSQL over TCP.

Starts Debian's PostgreSQL (as in `tests/faults/`) behind the fault proxy and runs
trials of each kind, each followed by the invariant (before- or after-state, no
duplicate, `_dlt_loads` and the cursor agreeing with the data, a fault-free rerun
exact):

- `cut`: the connection cut at a random byte of the load (any phase);
- `staging_cut_refuse`: a cut in the staging phase followed by 0-2 s of refused connections;
- `commit_reply`: the COMMIT reaches the server and its reply is lost;
- `kill`: the loading process SIGKILLed at a random moment;
- `restart`: the server shut down fast and started again (down 0-1 s) while the load stages, or at a
  random moment of it (every other trial).

    python benchmarks/soak_faults.py                 # 300 trials, seed 0
    python benchmarks/soak_faults.py --trials 60 --seed 7

Prints per kind: trials, retried to success, finished without noticing, failed cleanly,
and problems (partial, duplicate or lost rows), and exits 1 on any problem or when fewer
than 90% of staging cuts followed by <= 2 s of refusal finished the load.
"""

from __future__ import annotations

import argparse
import collections
import random
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "faults"))

import pg_server  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from fault_trials import Dataset, Trial, check_and_rerun, killed_load, restarted_load  # noqa: E402

KINDS = ("cut", "staging_cut_refuse", "commit_reply", "kill", "restart")
TARGET = 0.90


def _commit_reply(ds: Dataset, proxy: FaultProxy) -> Trial:
    ids = ds._take()
    proxy.drop_commit_reply()
    trial = Trial(seed=0, phase="commit")
    try:
        info = ds.load(ds.through, ids)
        trial.ok, trial.retries = True, info.retries
    except Exception as exc:  # noqa: BLE001 - counted, then the invariant decides
        trial.error = f"{type(exc).__name__}: {exc}"
    proxy.disarm()
    return check_and_rerun(ds, ids, trial)


def run_trial(kind: str, ds: Dataset, proxy: FaultProxy, rng: random.Random, server: pg_server.Server) -> Trial:
    if kind == "cut":
        return ds.faulted_load(proxy, rng)
    if kind == "staging_cut_refuse":
        return ds.faulted_load(proxy, rng, refuse=rng.uniform(0.0, 2.0), phase="staging")
    if kind == "commit_reply":
        ds.clean_load(proxy)
        return _commit_reply(ds, proxy)
    if kind == "restart":
        return restarted_load(ds, server, rng, from_inside=rng.random() < 0.5)
    return killed_load(ds, rng)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300, help="trials in all, spread over the kinds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    server = pg_server.start()
    proxy = FaultProxy(server.port)
    counts: dict[str, collections.Counter] = {k: collections.Counter() for k in KINDS}
    problems: list[str] = []
    started = time.monotonic()
    try:
        datasets = {k: Dataset(server.config, server.at(proxy.port), f"soak_{k}_{secrets.token_hex(3)}")
                    for k in KINDS}
        for i in range(args.trials):
            kind = KINDS[i % len(KINDS)]
            try:
                trial = run_trial(kind, datasets[kind], proxy, rng, server)
            except Exception as exc:  # noqa: BLE001 - a fault-free load or rerun failing is a finding
                trial = Trial(seed=i, phase=kind, problems=[f"a fault-free load failed: {type(exc).__name__}: {exc}"])
            c = counts[kind]
            c["trials"] += 1
            c["retried to success" if trial.ok and trial.retries else "finished, fault unnoticed" if trial.ok
              else "failed cleanly" if not trial.problems else "failed"] += 1
            c["problems"] += len(trial.problems)
            problems += [f"{kind} #{i}: {p}" for p in trial.problems]
            if kind not in ("kill", "restart") and not trial.ok:
                c[f"error: {trial.error.split(':')[0]}"] += 1
    finally:
        proxy.close()
        server.stop()
    print(f"{args.trials} trials in {time.monotonic() - started:.0f}s (seed {args.seed})")
    for kind, c in counts.items():
        print(f"{kind}:")
        for key in ("trials", "retried to success", "finished, fault unnoticed", "failed cleanly", "problems"):
            print(f"  {key:<28} {c[key]}")
        for key in sorted(k for k in c if k.startswith("error: ")):
            print(f"  {key:<28} {c[key]}")
    staging = counts["staging_cut_refuse"]
    finished = (staging["retried to success"] + staging["finished, fault unnoticed"]) / max(1, staging["trials"])
    print(f"staging cuts + <= 2 s refusal that finished the load: {finished:.1%} (target {TARGET:.0%})")
    print(f"partial, duplicate or lost rows: {len(problems)}")
    for p in problems[:20]:
        print("  " + p)
    return 0 if not problems and finished >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
