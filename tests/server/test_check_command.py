"""`pg-assets check`: the destination's privileges for a spec, checked in a subprocess, loading nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SPEC = """\
sources:
  people_src:
    kind: files
    dataset: own
    resources:
      checked_people: {path: people.csv, write_disposition: merge, primary_key: id}
"""


def _check(tmp_path: Path, uri: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "people.csv").write_text("id,name\n1,Ada\n")
    (tmp_path / "pipelines.yaml").write_text(textwrap.dedent(SPEC))
    env = {**os.environ, "PG_ASSETS_CREDENTIALS": uri}
    return subprocess.run([sys.executable, "-m", "pg_assets.cli", "check", "-f", str(tmp_path / "pipelines.yaml"),
                           *args], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_check_passes_for_the_schema_owner_and_loads_nothing(cluster, tmp_path: Path) -> None:
    done = _check(tmp_path, cluster.config("owner").uri(), "people_src")
    assert done.returncode == 0, done.stderr
    assert "people_src -> own: ok (role `owner` on database `rel`" in done.stdout
    assert "1 of 1 sources can load" in done.stdout
    assert cluster.admin("SELECT to_regclass('own.checked_people')") == [(None,)]
    assert cluster.admin("SELECT count(*) FROM pg_tables WHERE schemaname = 'own_staging' "
                         "AND tablename <> '_dlt_version'") == [(0,)]


def test_check_names_what_a_read_only_role_lacks_with_the_grants(cluster, tmp_path: Path) -> None:
    config = cluster.config("reader")
    done = _check(tmp_path, config.uri())
    assert done.returncode == 2
    assert "people_src -> own: cannot load: Role `reader` lacks privileges" in done.stderr
    assert 'GRANT USAGE, CREATE ON SCHEMA "own_staging" TO "reader";' in done.stderr
    assert "CREATE on schema `own`: to create new tables in it" in done.stderr
    assert config.password not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_check_is_a_command_with_help() -> None:
    done = subprocess.run([sys.executable, "-m", "pg_assets.cli", "check", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "loading nothing" in done.stdout
    top = subprocess.run([sys.executable, "-m", "pg_assets.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert "check" in top.stdout
