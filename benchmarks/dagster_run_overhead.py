"""What a run costs under `dagster dev` against the same selection from `pg-assets materialize`.

Both run the repository's project (`pipelines.yaml` and `dbt_project/`) on one
embedded Postgres, for the sources `shop` and `events` and every dbt model on top
(staging and marts); `chess`, which needs the internet, is left out of both.

1. the CLI: `pg-assets materialize --exclude chess`, timed from start to exit;
2. `dagster dev` is started in the repository root and, once its GraphQL answers, the
   same asset keys are launched through GraphQL (`launchRun` on the implicit asset
   job) and timed from the launch until the run succeeds.

The first of each warms the embedded server, dbt's partial parse and the import
caches; the best of `--repeat` runs is reported, with the ratio to the CLI.

    python benchmarks/dagster_run_overhead.py            # best of 2 each
    python benchmarks/dagster_run_overhead.py --check 2  # exit 1 above 2x the CLI
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXCLUDED = "chess"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_cli() -> float:
    started = time.monotonic()
    subprocess.run([str(BIN / "pg-assets"), "materialize", "--exclude", EXCLUDED], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"})
    return time.monotonic() - started


def selection() -> list[list[str]]:
    """Every asset key of the project but the excluded source's, as `pg-assets materialize` selects."""
    import dagster as dg

    from pg_assets.dagster.materialize import _keys_of_sources
    from pg_assets.dagster.project import project_definitions
    from pg_assets.spec import load_spec

    skipped = set(_keys_of_sources(load_spec(REPO / "pipelines.yaml"), [EXCLUDED]))
    keys = project_definitions(REPO / "pipelines.yaml").resolve_asset_graph().get_all_asset_keys()
    return [list(k.path) for k in sorted(keys, key=dg.AssetKey.to_user_string) if k not in skipped]


_LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


def _wait_for_code_location(client: Any, process: subprocess.Popen, timeout: float = 600.0) -> None:
    """Until the UI answers and the code location has loaded (a run launched earlier can be refused)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            entries = client._execute(_LOCATIONS)["workspaceOrError"]["locationEntries"]  # noqa: SLF001
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except Exception:  # not up yet
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("dagster dev did not come up")
        time.sleep(0.5)


def time_dagster_dev_runs(keys: list[list[str]], repeat: int) -> list[float]:
    from dagster_graphql import DagsterGraphQLClient

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    process = subprocess.Popen([str(BIN / "dagster"), "dev", "--port", str(port)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        _wait_for_code_location(client, process)
        time.sleep(5)  # the code server settles after its first load
        return [_one_run(client, keys) for _ in range(repeat + 1)][1:]  # the first warms the code server
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)


def _one_run(client: Any, keys: list[list[str]]) -> float:
    from dagster_graphql import DagsterGraphQLClientError

    started = time.monotonic()
    run_id = client.submit_job_execution("__ASSET_JOB", asset_selection=keys)
    while True:
        try:
            status = client.get_run_status(run_id).value
        except DagsterGraphQLClientError:
            status = "STARTING"
        if status == "SUCCESS":
            return time.monotonic() - started
        if status in {"FAILURE", "CANCELED"}:
            raise RuntimeError(f"run {run_id} ended {status}")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each, after one warm-up")
    parser.add_argument("--check", type=float, default=None, help="exit 1 when dagster dev is slower than this x")
    args = parser.parse_args()

    time_cli()  # warm-up: server, dbt partial parse, import caches
    cli = min(time_cli() for _ in range(args.repeat))
    keys = selection()
    dev = min(time_dagster_dev_runs(keys, args.repeat))
    ratio = dev / cli
    print(f"selection: {len(keys)} assets (sources shop, events; dbt staging and marts)")
    print(f"pg-assets materialize: {cli:6.1f} s")
    print(f"dagster dev (GraphQL): {dev:6.1f} s   {ratio:.2f}x the CLI")
    return 1 if args.check is not None and ratio > args.check else 0


if __name__ == "__main__":
    sys.exit(main())
