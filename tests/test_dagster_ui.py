"""The real UI path: `dagster dev -m pg_assets.definitions`, driven through its GraphQL API.

One `dagster dev` (webserver and daemon) on a free local port, started in a temp folder
holding a `pipelines.yaml`, with its own DAGSTER_HOME; loads go to the session's embedded
Postgres. The test checks the asset graph, materializes a table through
`launchRun`, then breaks the YAML, reloads the code location (the UI's "Reload
definitions") and reads the located validation error, then fixes it and sees the
new table. The process group is ended afterwards, whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dagster_projects import write_project

SPEC = """
sources:
  shop:
    kind: python
    dataset: {dataset}
    resources:
      customers:
        function: {module}:rows
        args: {{rows: [{{id: 1, name: ann}}, {{id: 2, name: bob}}]}}
        primary_key: id
"""
MORE = """
      orders:
        function: {module}:rows
        args: {{rows: [{{id: 7}}]}}
"""
# Generous: on a busy 2-core machine `dagster dev` alone can take half a minute to come up.
STARTUP_SECONDS = 90
RUN_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dagit:
    """A GraphQL client for one local `dagster dev`."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=20) as response:
            payload = json.load(response)
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False


def _wait_for(what: str, probe: Callable[[], Any], seconds: float, process: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"dagster dev exited with {process.returncode} while waiting for {what}")
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


@pytest.fixture
def dagster_dev(tmp_path: Path, dataset: str) -> Iterator[tuple[Dagit, Path, subprocess.Popen]]:
    spec = write_project(tmp_path / "project", SPEC, dataset)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # No PG_ASSETS_SPEC: `dagster dev -m pg_assets.definitions` finds ./pipelines.yaml, as a user's would.
    env = {k: v for k, v in os.environ.items() if k != "PG_ASSETS_SPEC"} | {"DAGSTER_HOME": str(home)}
    port = _free_port()
    log = (tmp_path / "dagster_dev.log").open("w")
    command = [sys.executable, "-m", "dagster", "dev", "-m", "pg_assets.definitions", "-h", "127.0.0.1",
               "-p", str(port)]
    process = subprocess.Popen(command, cwd=spec.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        dagit = Dagit(port)
        _wait_for("the webserver", dagit.up, STARTUP_SECONDS, process)
        yield dagit, spec, process
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=3)  # a graceful stop is nice, not needed: everything lives in tmp_path
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message causes { message } } } } } } }"""
ASSETS = "{ assetNodes { assetKey { path } groupName kinds opNames } }"
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
RUNS = "{ runsOrError { ... on Runs { results { runId jobName status } } } }"
RELOAD = """mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { __typename } }"""


def _location(dagit: Dagit) -> dict[str, Any] | None:
    entries = dagit.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
    loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
    return loaded[0] if loaded else None


def _reload(dagit: Dagit, name: str) -> dict[str, Any]:
    dagit.graphql(RELOAD, name=name)
    return _wait_for("the reload", lambda: _location(dagit), STARTUP_SECONDS)


def _launch(dagit: Dagit, location: str, key: list[str]) -> str:
    params = {"selector": {"repositoryLocationName": location, "repositoryName": "__repository__",
                           "jobName": "__ASSET_JOB", "assetSelection": [{"path": key}]},
              # The project's executor runs steps in the run worker's process (the multiprocess
              # executor has its own test, tests/test_dagster_executors.py).
              "runConfigData": {},
              "mode": "default"}
    result = dagit.graphql(LAUNCH, params=params)["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _finished(dagit: Dagit, run_id: str) -> str | None:
    status = dagit.graphql(RUN, id=run_id)["runOrError"]["status"]
    return status if status in {"SUCCESS", "FAILURE", "CANCELED"} else None


def test_dagster_dev_shows_the_graph_materializes_and_reloads_yaml_edits(
        dagster_dev: tuple[Dagit, Path, subprocess.Popen], dataset: str, query: Callable[..., list[tuple]]) -> None:
    dagit, spec, process = dagster_dev
    location = _wait_for("the code location", lambda: _location(dagit), STARTUP_SECONDS, process)
    assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation"
    nodes = {tuple(n["assetKey"]["path"]): n for n in dagit.graphql(ASSETS)["assetNodes"]}
    customers = nodes[(dataset, "customers")]
    assert customers["groupName"] == "shop" and set(customers["kinds"]) == {"postgres", "python"}

    run_id = _launch(dagit, location["name"], [dataset, "customers"])
    assert _wait_for("the run", lambda: _finished(dagit, run_id), RUN_SECONDS) == "SUCCESS"
    assert query(f'SELECT count(*) FROM "{dataset}".customers') == [(2,)]

    good = spec.read_text()
    spec.write_text(good.replace("primary_key: id", "primary_key: id\n        write_disposition: mrege"))
    broken = _reload(dagit, location["name"])["locationOrLoadError"]
    assert broken["__typename"] == "PythonError"
    # The dialog leads with our located message, not Dagster's "Error occurred during the loading ...".
    message = broken["message"]
    assert message.startswith(f"pg_assets.dagster.project.DefinitionsSpecError: {spec} has 1 error:"), message
    assert broken["causes"] == [] and "Error occurred during the loading" not in message
    line = spec.read_text().splitlines().index("        write_disposition: mrege") + 1
    assert f"{spec}:{line}:28:" in message and "Did you mean `merge`?" in message
    assert "or a mapping with `disposition` (optional: `strategy`," in message and ", ...," not in message

    module = good.split("function: ")[1].split(":")[0]
    spec.write_text(good + MORE.format(module=module))
    assert _reload(dagit, location["name"])["locationOrLoadError"]["__typename"] == "RepositoryLocation"
    keys = {tuple(n["assetKey"]["path"]) for n in dagit.graphql(ASSETS)["assetNodes"]}
    assert (dataset, "orders") in keys


def test_a_cli_run_shows_in_the_ui_named_after_what_it_ran(
        dagster_dev: tuple[Dagit, Path, subprocess.Popen], tmp_path: Path, dataset: str,
        query: Callable[..., list[tuple]]) -> None:
    dagit, spec, process = dagster_dev
    _wait_for("the code location", lambda: _location(dagit), STARTUP_SECONDS, process)
    # The user's command, in the project, against the instance `dagster dev` runs on (its DAGSTER_HOME).
    env = {k: v for k, v in os.environ.items() if k != "PG_ASSETS_SPEC"} | {"DAGSTER_HOME": str(tmp_path / "dagster_home")}
    done = subprocess.run([sys.executable, "-m", "pg_assets.cli", "materialize"], cwd=spec.parent, env=env,
                          capture_output=True, text=True, timeout=RUN_SECONDS * 2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert query(f'SELECT count(*) FROM "{dataset}".customers') == [(2,)]
    runs = dagit.graphql(RUNS)["runsOrError"]["results"]
    assert [(r["jobName"], r["status"]) for r in runs] == [("materialize_all", "SUCCESS")]
