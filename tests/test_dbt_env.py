"""The dbt profile's environment and the dbt executable: what dbt is told, and that nothing leaks."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from pg_assets.connection import ConnectionConfig
from pg_assets.cli.dbt import cmd_dbt_env
from pg_assets.dbt.env import PASSWORD_VAR, dbt_environment, dbt_executable, profile_env
from pg_assets.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
SECRET = "Zq9:p@ss/w%rd"


def _config(**changes: object) -> ConnectionConfig:
    fields = dict(database="dw", username="loader", password=SECRET, host="db.internal", port=6543)
    return ConnectionConfig(**{**fields, **changes})  # type: ignore[arg-type]


def test_profile_env_names_every_field() -> None:
    assert profile_env(_config()) == {
        "PG_ASSETS_DBT_HOST": "db.internal",
        "PG_ASSETS_DBT_PORT": "6543",
        "PG_ASSETS_DBT_USER": "loader",
        "PG_ASSETS_DBT_PASSWORD": SECRET,
        "PG_ASSETS_DBT_DBNAME": "dw",
    }


def test_no_password_is_set_empty_so_a_stale_one_cannot_win() -> None:
    assert profile_env(_config(password=None))[PASSWORD_VAR] == ""


def test_socket_directory_is_the_host() -> None:
    env = profile_env(_config(host="/tmp/pg_assets/pgdata", password=None))
    assert env["PG_ASSETS_DBT_HOST"] == "/tmp/pg_assets/pgdata"


def test_libpq_parameters_travel_as_libpq_variables() -> None:
    env = profile_env(_config(query={"sslmode": "require", "options": "-c statement_timeout=5s"}))
    assert env["PGSSLMODE"] == "require"
    assert env["PGOPTIONS"] == "-c statement_timeout=5s"


def test_a_parameter_dbt_cannot_take_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="`hostaddr`") as caught:
        profile_env(_config(query={"hostaddr": "10.0.0.1"}))
    assert SECRET not in str(caught.value)


def test_environment_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_ASSETS_DBT_HOST", "users-own-host")
    monkeypatch.delenv("PG_ASSETS_DBT_DBNAME", raising=False)
    with dbt_environment(_config()):
        assert os.environ["PG_ASSETS_DBT_HOST"] == "db.internal"
        assert os.environ["PG_ASSETS_DBT_DBNAME"] == "dw"
    assert os.environ["PG_ASSETS_DBT_HOST"] == "users-own-host"
    assert "PG_ASSETS_DBT_DBNAME" not in os.environ


def test_environment_is_restored_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    with pytest.raises(RuntimeError), dbt_environment(_config()):
        raise RuntimeError("dbt failed")
    assert PASSWORD_VAR not in os.environ


def test_dbt_is_found_next_to_python_without_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    found = Path(dbt_executable())
    assert found.parent == Path(sys.executable).parent
    assert subprocess.run([str(found), "--version"], capture_output=True, text=True, timeout=60).returncode == 0


def test_dbt_env_command_prints_exports_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PG_ASSETS_CREDENTIALS", f"postgresql://loader:{quote(SECRET, safe='')}@db.internal/dw")
    assert cmd_dbt_env(argparse.Namespace(file=str(tmp_path / "none.yaml"))) == 0
    out = capsys.readouterr().out
    assert "export PG_ASSETS_DBT_HOST=db.internal" in out
    assert "export PG_ASSETS_DBT_DBNAME=dw" in out
    assert SECRET not in out
    assert f"export {PASSWORD_VAR}=..." in out


def test_dbt_env_command_follows_the_spec_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rows.py").write_text("def f():\n    return []\n")
    spec = tmp_path / "pipelines.yaml"
    spec.write_text(
        "destination: {credentials: 'postgresql://loader@warehouse.internal:6000/dw'}\n"
        "sources:\n  s: {kind: python, dataset: d, resources: {r: {function: 'rows:f'}}}\n"
    )
    monkeypatch.delenv("PG_ASSETS_CREDENTIALS", raising=False)
    assert cmd_dbt_env(argparse.Namespace(file=str(spec))) == 0
    out = capsys.readouterr().out
    assert "export PG_ASSETS_DBT_HOST=warehouse.internal" in out and "export PG_ASSETS_DBT_PORT=6000" in out


def test_plain_dbt_defaults_to_the_embedded_server(pg_credentials: ConnectionConfig,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing set but PG_ASSETS_HOME (as after `pg-assets run`): `dbt debug` reaches the embedded server.
    for name in list(os.environ):
        if name.startswith("PG_ASSETS_DBT_"):
            monkeypatch.delenv(name)
    done = subprocess.run([dbt_executable(), "debug"], cwd=REPO / "dbt_project", capture_output=True, text=True,
                          timeout=120, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    assert done.returncode == 0, done.stdout[-2000:]
    assert f"host: {pg_credentials.host}" in done.stdout
