"""A newcomer's way in, from the built wheel: a fresh virtualenv, `pg-assets init` in an empty folder,
`pg-assets materialize`, and the data queried, with nothing of this repository on the path.

The wheel is built from a copy of the package's sources, installed with its dependencies
by pip as a user installs it (from pip's cache when it holds them; byte-compiled, as pip
does by default, which also puts `__pycache__/` among the templates); the project gets its
own embedded Postgres (`PG_ASSETS_HOME`), stopped at the end.
Once per suite: every test here shares the one installation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT = 1200


@dataclass(frozen=True)
class Installed:
    bin: Path
    env: dict[str, str]
    home: Path

    def run(self, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done


def _build_wheel(work: Path) -> Path:
    """The wheel of a clean copy of the sources (no stale `build/`, nothing but what the package ships)."""
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "pg_assets", src / "pg_assets", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(work / "dist"), str(src)], check=True, timeout=300, capture_output=True)
    (wheel,) = (work / "dist").glob("pg_assets-*.whl")
    return wheel


def _clean_env(venv: Path, home: Path) -> dict[str, str]:
    """This process's environment without anything that would reach the repository or the test session."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PG_ASSETS_CREDENTIALS", "PG_ASSETS_SPEC", "DAGSTER_HOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", PG_ASSETS_HOME=str(home),
               VIRTUAL_ENV=str(venv))
    return env


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    work = Path(tempfile.mkdtemp(prefix="pg_assets_wheel_"))
    venv, home = work / "venv", work / "home"
    try:
        wheel = _build_wheel(work)
        env = _clean_env(venv, home)  # no PYTHONPATH: pip would take a checkout on it for pg-assets installed
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, env=env)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
                       timeout=INSTALL_TIMEOUT, capture_output=True, env=env)
        yield Installed(venv / "bin", env, home)
    finally:
        if (venv / "bin" / "pg-assets").exists():
            subprocess.run([str(venv / "bin" / "pg-assets"), "embedded", "stop"], cwd=work,
                           env=_clean_env(venv, home), capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def project(installed: Installed) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="pg_assets_newcomer_"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_installed_package_is_the_wheel(installed: Installed, project: Path) -> None:
    where = installed.run("python", "-c", "import pg_assets; print(pg_assets.__file__)", cwd=project).stdout
    assert where.startswith(str(installed.bin.parent)) and str(ROOT) not in where


def test_init_then_materialize_loads_and_builds_in_an_empty_folder(installed: Installed, project: Path) -> None:
    assert list(project.iterdir()) == []
    installed.run("pg-assets", "init", "--kinds", "python,files,sql_database", cwd=project)
    done = installed.run("pg-assets", "materialize", cwd=project, timeout=900)
    assert "checks: " in done.stdout and " 0 failed" in done.stdout
    assert "pg-assets embedded psql -c 'select * from analytics." in done.stdout

    def count(table: str) -> int:
        out = installed.run("pg-assets", "embedded", "psql", "-A", "-t", "-c", f"select count(*) from {table}",
                            cwd=project).stdout
        return int(out.strip())

    assert count("raw_shop.customers") == 6 and count("raw_shop.orders") == 5 and count("raw_shop.orders__items") == 7
    assert count("events.page_views") == 60 and count("raw_crm.accounts") == 5
    assert count("analytics.customer_orders") == 6 and count("analytics.accounts_by_tier") == 3
    orders = installed.run("pg-assets", "embedded", "psql", "-A", "-t", "-c",
                           "select orders from analytics.customer_orders where customer_id = 1", cwd=project).stdout
    assert orders.strip() == "2"  # Ada's two orders, joined by the dbt model


def test_the_definitions_load_for_dagster_dev(installed: Installed, project: Path) -> None:
    if not (project / "pipelines.yaml").exists():
        installed.run("pg-assets", "init", cwd=project)
    done = installed.run("dagster", "definitions", "validate", cwd=project, timeout=600)
    assert "All code locations passed validation" in done.stdout + done.stderr
