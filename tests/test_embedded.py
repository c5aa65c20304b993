"""The embedded server: outlives its starter, is shared by processes, stops when told.

Each test gets a fresh home (its own server), so these tests start real servers
and cost about a second each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg2
import pytest

from pg_assets import embedded
from pg_assets.cli import main
from pg_assets.errors import EmbeddedServerError

_PRINT_PID = (
    "from pg_assets import embedded; embedded.ensure_running(); print(embedded.status()['pid'])"
)


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home of our own, outside pytest's tmp dir for the reason given in conftest."""
    path = Path(tempfile.mkdtemp(prefix="pg_assets_embedded_"))
    monkeypatch.setenv(embedded.HOME_ENV, str(path))
    try:
        yield path
    finally:
        embedded.stop(path)
        shutil.rmtree(path, ignore_errors=True)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter, with XDG_RUNTIME_DIR unset as in a container or cron job."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def _select_one(uri: str) -> int:
    with psycopg2.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        return cur.fetchone()[0]


def test_status_of_a_fresh_home_starts_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert embedded.status() == {"running": False, "pid": None, "uri": None, "pgdata": str(home / "pgdata")}
    assert main(["embedded", "status"]) == 3
    assert "not running" in capsys.readouterr().out
    assert not (home / "pgdata").exists()


def test_server_outlives_the_process_that_started_it(home: Path) -> None:
    started = _python(_PRINT_PID)
    assert started.returncode == 0, started.stderr
    assert "XDG_RUNTIME_DIR" not in started.stderr, started.stderr  # platformdirs' RuntimeDirWarning
    pid = int(started.stdout)

    assert embedded.status()["pid"] == pid
    assert psutil.Process(pid).is_running()
    config = embedded.ensure_running()
    assert embedded.status()["pid"] == pid
    assert _select_one(config.uri()) == 1

    again = _python(_PRINT_PID)
    assert int(again.stdout) == pid


def test_two_processes_starting_at_once_share_one_server(home: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: _python(_PRINT_PID), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert results[0].stdout == results[1].stdout == f"{embedded.status()['pid']}\n"


def test_cli_uri_starts_the_server_and_stop_stops_it(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "pg_assets.cli", "embedded", "uri"], capture_output=True, text=True, timeout=60
    )
    assert printed.returncode == 0, printed.stderr
    uri = printed.stdout.strip()
    assert uri == f"postgresql://postgres@/postgres?host={home.resolve() / 'pgdata'}"
    assert _select_one(uri) == 1

    pid = embedded.status()["pid"]
    assert main(["embedded", "status"]) == 0
    assert f"running, pid {pid}" in capsys.readouterr().out

    assert main(["embedded", "stop"]) == 0
    assert "stopped" in capsys.readouterr().out
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert main(["embedded", "status"]) == 3
    assert main(["embedded", "stop"]) == 0
    assert "was not running" in capsys.readouterr().out


def test_restart_in_the_same_process_after_stop(home: Path) -> None:
    first = embedded.ensure_running(home)
    first_pid = embedded.status(home)["pid"]
    assert embedded.stop(home) is True
    assert embedded.stop(home) is False

    second = embedded.ensure_running(home)
    assert second == first
    assert embedded.status(home)["pid"] not in (None, first_pid)
    assert _select_one(second.uri()) == 1


def test_a_server_that_cannot_start_shows_its_log(home: Path) -> None:
    embedded.ensure_running(home)
    embedded.stop(home)
    with open(home / "pgdata" / "postgresql.conf", "a") as conf:
        conf.write("\nshared_buffers = 'plenty'\n")

    with pytest.raises(EmbeddedServerError) as caught:
        embedded.ensure_running(home)
    message = str(caught.value)
    assert "could not start the embedded Postgres" in message
    assert 'invalid value for parameter "shared_buffers"' in message  # from the server log
    assert "PG_ASSETS_HOME" in message


def test_home_defaults_to_dot_pg_assets_in_the_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(embedded.HOME_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert embedded.pgdata_dir() == tmp_path.resolve() / ".pg_assets" / "pgdata"


def test_home_env_and_argument(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(embedded.HOME_ENV, str(tmp_path / "from_env"))
    assert embedded.pgdata_dir() == tmp_path.resolve() / "from_env" / "pgdata"
    assert embedded.pgdata_dir(tmp_path / "given") == tmp_path.resolve() / "given" / "pgdata"


def test_embedded_commands_outside_a_project_say_so_and_start_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != embedded.HOME_ENV}
    for action in ("uri", "start", "status"):
        result = subprocess.run([sys.executable, "-m", "pg_assets.cli", "embedded", action], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "is not a pg_assets project" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []  # no `.pg_assets/`, no server


@pytest.mark.parametrize("marker", ["pipelines.yaml", ".pg_assets"], ids=["spec", "data-folder"])
def test_a_project_is_a_folder_with_a_spec_or_a_data_folder(tmp_path: Path, marker: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(embedded.HOME_ENV, raising=False)
    assert not embedded.in_project(tmp_path)
    (tmp_path / marker).mkdir() if marker.startswith(".") else (tmp_path / marker).write_text("sources: {}\n")
    assert embedded.in_project(tmp_path)
