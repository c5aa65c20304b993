"""The dlt route for a newcomer: `pip install 'pg-assets[dlt]'` into a fresh venv gives dlt 1.31,
a working sqlglot and Dagster definitions that load.

One test, since it builds a whole virtualenv: the project is installed from this checkout
with pip's cache (so a second run downloads nothing), then each check runs in that venv.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(venv_dir: Path, *args: str, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}", RUNTIME__DLTHUB_TELEMETRY="false",
               DAGSTER_HOME=str(venv_dir / "dagster_home"))
    return subprocess.run([str(venv_dir / "bin" / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.venv
def test_the_dlt_extra_installs_beside_dagster_in_a_fresh_venv(tmp_path):
    venv_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(venv_dir)
    (venv_dir / "dagster_home").mkdir()
    installed = run(venv_dir, "python", "-m", "pip", "install", "--quiet", "--no-compile", f"{ROOT}[dlt]")
    assert installed.returncode == 0, installed.stderr[-4000:]

    versions = run(venv_dir, "python", "-c", "import dlt, sqlglot; print(dlt.__version__, sqlglot.__version__)")
    assert versions.returncode == 0, versions.stderr[-4000:]
    dlt_version, sqlglot_version = versions.stdout.split()
    assert dlt_version.startswith("1.31.") and int(sqlglot_version.split(".")[0]) < 28
    # the compiled modules that break `import sqlglot` once sqlglot is downgraded are never installed
    assert run(venv_dir, "python", "-m", "pip", "show", "sqlglotc").returncode != 0

    # dlt's dataset readers need this signature (removed in sqlglot 28)
    reader = run(venv_dir, "python", "-c", "import inspect; from sqlglot.optimizer.qualify import qualify; "
                                           "assert 'infer_schema' in inspect.signature(qualify).parameters")
    assert reader.returncode == 0, reader.stderr[-4000:]

    validated = run(venv_dir, "dagster", "definitions", "validate", "-m", "pg_assets.definitions")
    assert validated.returncode == 0, validated.stdout[-2000:] + validated.stderr[-4000:]
    assert "Validation successful" in validated.stdout + validated.stderr
