"""One way to connect: the modules' import lines, and the settings every session carries."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path
from typing import Any

import pytest

import pg_assets
from pg_assets import runner
from pg_assets.connection import close_quietly
from pg_assets.spec import load_spec

PACKAGE = Path(pg_assets.__file__).parent

# module -> the pg_assets modules it must not import, at the top or inside a function
APART = {
    "connection": ("credentials", "embedded", "destination"),
    "credentials": ("embedded", "destination"),
    "embedded": ("credentials", "destination"),
}


def _imported(module: str) -> set[str]:
    """Every `pg_assets.X` module that `module` imports anywhere in its source."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name.removeprefix("pg_assets.") for name in found if name.startswith("pg_assets.")}


@pytest.mark.parametrize(("module", "forbidden"), APART.items(), ids=APART.keys())
def test_the_connection_modules_import_no_circle(module: str, forbidden: tuple[str, ...]) -> None:
    assert not _imported(module) & set(forbidden)


def _settings(conn: Any) -> tuple[str, str, str]:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('TimeZone'), current_setting('standard_conforming_strings'), "
                        "current_setting('application_name')")
            return cur.fetchone()
    finally:
        close_quietly(conn)


def test_result_reads_carry_the_session_settings(dataset: str) -> None:
    conn = pg_assets.pipeline("reads", dataset=dataset).connect()
    assert conn.autocommit
    assert _settings(conn) == ("UTC", "on", "pg_assets:reads:read")


def test_a_spec_reaches_its_destination_with_the_session_settings(tmp_path: Path, pg_credentials: Any) -> None:
    (tmp_path / "session_rows.py").write_text("def rows():\n    return []\n")
    (tmp_path / "pipelines.yaml").write_text(textwrap.dedent("""
        sources:
          s: {kind: python, dataset: d, resources: {r: {function: "session_rows:rows"}}}
    """))
    spec = load_spec(tmp_path / "pipelines.yaml")
    assert runner.credentials_for(spec) == pg_credentials  # nothing configured: the embedded server
    assert _settings(runner.connect(spec, "s:report")) == ("UTC", "on", "pg_assets:s:report")
    override = pg_credentials.uri()
    assert _settings(runner.connect(spec, "s:check", credentials=override))[2] == "pg_assets:s:check"
