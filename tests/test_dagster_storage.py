"""Runs that persist: `pg-assets materialize` and `dagster dev` in one project share one Dagster instance."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from pg_assets.dagster import definitions_from_spec
from pg_assets.dagster.storage import ensure_project_config, project_instance
from dagster_projects import SHOP, write_project

# What `dagster dev` does in a project root without DAGSTER_HOME: a temporary home whose
# configuration is the `dagster.yaml` of the working directory.
_AS_DAGSTER_DEV = """
import logging
from dagster._cli.utils import get_possibly_temporary_instance_for_cli

with get_possibly_temporary_instance_for_cli("dagster dev", logger=logging.getLogger("x")) as instance:
    print(type(instance.get_ref().storage_data.class_name), len(instance.get_run_records()))
    print(sorted(r.dagster_run.run_id for r in instance.get_run_records()))
"""


def _as_dagster_dev(project: Path) -> str:
    env = {k: v for k, v in __import__("os").environ.items() if k != "DAGSTER_HOME"}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(_AS_DAGSTER_DEV)], cwd=project, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _materialize_once(project: Path) -> str:
    defs = definitions_from_spec(project / "pipelines.yaml")
    key = next(k for k in defs.resolve_all_asset_specs() if k.key.path[-1] == "customers").key
    result = dg.materialize(list(defs.assets), selection=[key], resources=defs.resources,
                            instance=project_instance(project))
    assert result.success
    return result.run_id


def test_the_embedded_destination_keeps_runs_in_its_postgres_and_dagster_dev_sees_them(
        tmp_path: Path, dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    write_project(tmp_path, SHOP, dataset)
    assert ensure_project_config(tmp_path) and not ensure_project_config(tmp_path)
    instance = project_instance(tmp_path)
    assert type(instance.run_storage).__module__.startswith("dagster_postgres")
    run_id = _materialize_once(tmp_path)
    assert run_id in _as_dagster_dev(tmp_path)


def test_a_remote_destination_never_starts_the_embedded_server_for_dagster(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("PG_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PG_ASSETS_CREDENTIALS", "postgresql://loader:secret@db.invalid:5432/analytics")
    write_project(tmp_path, SHOP)
    ensure_project_config(tmp_path)
    instance = project_instance(tmp_path)
    assert type(instance.run_storage).__module__.startswith("dagster._core.storage")
    assert (tmp_path / "home" / "dagster" / "storage").is_dir()
    assert not (tmp_path / "home" / "pgdata").exists()
