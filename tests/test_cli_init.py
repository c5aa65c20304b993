"""`pg-assets init`, the help of every command, `pg-assets embedded psql` and the materialize summary,
each run as a user runs them: the CLI in a subprocess, the data queried afterwards."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg_assets.cli.parser import build_parser

ROOT = Path(__file__).resolve().parent.parent


def pg_assets(*args: str, cwd: Path, env: dict[str, str] | None = None,
              timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pg_assets.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


# --- every command says what it does ---------------------------------------------------------------------------

def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str, str]]:
    """(command path, its summary in the parent's list, its description) for every command and sub-command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield " ".join((*path, name)), summaries.get(name) or "", child.description or ""
                yield from _commands(child, (*path, name))


COMMANDS = list(_commands(build_parser()))


@pytest.mark.parametrize(("command", "summary", "description"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_and_sub_command_has_a_description(command: str, summary: str, description: str) -> None:
    assert len(summary.split()) >= 3, f"`pg-assets {command}` has no summary"
    assert len(description.split()) >= 6 and description != summary, f"`pg-assets {command}` has no description"


def test_the_walk_reaches_the_sub_commands() -> None:
    names = {c[0] for c in COMMANDS}
    assert {"init", "embedded psql", "embedded start", "state reset", "discover"} <= names


def test_the_command_page_lists_every_command() -> None:
    text = ROOT.joinpath("docs", "cli.md").read_text(encoding="utf-8").split("# The `pg-assets` command")[1]
    cells = [line.split(" | ")[0].strip("| ") for line in text.split("\n\n")[1].splitlines()[2:]]
    for command, _, _ in COMMANDS:
        top, *sub = command.split()
        rows = [c for c in cells if c.startswith(f"`pg-assets {top} ") or c.startswith(f"`pg-assets {top}`")]
        assert rows, f"docs/cli.md's command table lacks `pg-assets {top}`"
        assert not sub or any(sub[0] in c.replace("`", " ").split() for c in rows), \
            f"docs/cli.md's command table lacks `pg-assets {command}`"


# --- init, offline, in this virtualenv -------------------------------------------------------------------------

def test_init_writes_every_kind_and_never_overwrites(tmp_path: Path) -> None:
    done = pg_assets("init", "proj", "--kinds", "python,files,sql_database,rest_api", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "proj"
    for name in ("pipelines.yaml", "pipelines.schema.json", "pyproject.toml", "definitions.py", "dagster.yaml",
                 ".gitignore", "example_source.py", "data/customers.csv", "data/crm.db",
                 "dbt_project/dbt_project.yml", "dbt_project/profiles.yml", "dbt_project/models/sources.yml"):
        assert (project / name).is_file(), name
    spec = (project / "pipelines.yaml").read_text()
    assert all(f"kind: {kind}" in spec for kind in ("python", "files", "sql_database", "rest_api"))
    assert "--exclude chess" in done.stdout and "pg-assets embedded psql" in done.stdout
    valid = pg_assets("validate", cwd=project)
    assert valid.returncode == 0 and "valid (4 sources, 6 resources)" in valid.stdout, valid.stderr

    (project / "pipelines.yaml").write_text("# mine\n")
    again = pg_assets("init", "--kinds", "files", cwd=project)
    assert again.returncode == 2
    assert "pipelines.yaml" in again.stderr and "data/customers.csv" in again.stderr
    assert (project / "pipelines.yaml").read_text() == "# mine\n"  # nothing was written


def test_init_adds_to_a_gitignore_and_refuses_an_unknown_kind(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("secrets/\n")
    assert pg_assets("init", cwd=tmp_path).returncode == 0
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert ignored[0] == "secrets/" and ".pg_assets/" in ignored
    assert "kind: python" in (tmp_path / "pipelines.yaml").read_text()  # the default kinds: python, files

    wrong = pg_assets("init", "other", "--kinds", "file", cwd=tmp_path)
    assert wrong.returncode == 2 and "no source kind `file`" in wrong.stderr and "Did you mean `files`?" in wrong.stderr
    assert not (tmp_path / "other").exists()


def test_templates_leave_out_the_byte_code_an_installer_compiles(tmp_path: Path) -> None:
    from pg_assets.scaffold import _tree

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.sql").write_text("select 1")
    (tmp_path / "example_source.py").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "example_source.cpython-311.pyc").write_bytes(b"\xa7\r\r\n")
    assert [str(path) for path, _ in _tree(tmp_path)] == ["example_source.py", "models/m.sql"]


@pytest.mark.parametrize("command", [["validate"], ["run"], ["materialize"], ["dbt-sources"], ["discover", "db"]],
                         ids=lambda c: c[0])
def test_no_spec_here_names_init(tmp_path: Path, command: list[str]) -> None:
    result = pg_assets(*command, cwd=tmp_path)
    assert result.returncode == 2 and "`pg-assets init`" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_definitions_without_a_spec_name_init(tmp_path: Path) -> None:
    from pg_assets.dagster.project import load_definitions
    from pg_assets.errors import ConfigError

    with pytest.raises(ConfigError, match="run `pg-assets init`"):
        load_definitions(tmp_path)


def test_embedded_outside_a_project_names_init(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PG_ASSETS_HOME"}
    result = pg_assets("embedded", "psql", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "`pg-assets init`" in result.stderr


def test_embedded_psql_runs_the_bundled_psql(tmp_path: Path, pg_credentials: object) -> None:
    (tmp_path / "pipelines.yaml").write_text("sources: {}\n")
    version = pg_assets("embedded", "psql", "--version", cwd=tmp_path)
    assert version.stdout.startswith("psql (PostgreSQL) 18."), version  # the server's own, not Debian's 15
    result = pg_assets("embedded", "psql", "-A", "-t", "-c", "select current_setting('server_version_num')",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 180000
    failed = pg_assets("embedded", "psql", "-c", "select nope", cwd=tmp_path)
    assert failed.returncode != 0 and 'column "nope" does not exist' in failed.stderr


# --- discover writes a source that validates, with the types Postgres stores -----------------------------------

SHOP_DB = """
CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT, code VARCHAR(12) NOT NULL, amount NUMERIC(10, 2),
                     paid BOOLEAN, updated_at DATETIME);
INSERT INTO orders VALUES (1, 'first', 'A-1', 12.50, 1, '2024-05-01 10:00:00');
"""


def test_discover_write_makes_the_source_valid_and_shows_stored_types(tmp_path: Path, dataset: str, query) -> None:
    import sqlite3

    db = tmp_path / "data" / "shop.db"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.executescript(SHOP_DB)
    url = f"sqlite:///{db}"  # an absolute path: four slashes
    (tmp_path / "pipelines.yaml").write_text(f"sources:\n  {dataset}:\n    kind: sql_database  # mine\n"
                                             f"    credentials: {url}\n")
    before = pg_assets("validate", cwd=tmp_path)
    assert before.returncode == 2 and f"sources.{dataset}.dataset: missing required key" in before.stderr

    found = pg_assets("discover", dataset, "--write", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert f"in sqlite:////{str(db).lstrip('/')}" in found.stdout and url.startswith("sqlite:////")
    printed = {line.split()[1]: line.split("->")[1].strip() for line in found.stdout.splitlines()
               if line.startswith("#     ")}
    assert printed["note"] == "character varying" and printed["code"] == "character varying(12), not null"
    assert f"dataset: {dataset}" in found.stdout and f"`dataset: {dataset}`" in found.stderr
    written = (tmp_path / "pipelines.yaml").read_text()
    assert "kind: sql_database  # mine" in written and written.index("kind:") < written.index("dataset:")

    valid = pg_assets("validate", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert pg_assets("run", cwd=tmp_path).returncode == 0
    stored = dict(query("SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
                        "JOIN pg_attribute a ON a.attname = c.column_name AND a.attrelid = "
                        "format('%%I.%%I', c.table_schema, c.table_name)::regclass "
                        "WHERE table_schema = %s AND table_name = 'orders'", (dataset,)))
    for column, shown in printed.items():
        assert stored[column] == shown.removesuffix(", not null"), column  # what discover said is what is stored


# --- materialize: the rows this run wrote, and the bundled psql --------------------------------------------------

@pytest.fixture
def own_server() -> Iterator[dict[str, str]]:
    """An environment whose embedded Postgres is this test's own (not under pytest's 0700 tmp_path, which
    the server's unprivileged user could not enter), stopped and removed afterwards."""
    from pg_assets import embedded

    home = Path(tempfile.mkdtemp(prefix="pg_assets_own_"))
    try:
        yield {**os.environ, embedded.HOME_ENV: str(home)}
    finally:
        embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def test_materialize_summary_counts_this_runs_rows(tmp_path: Path, own_server: dict[str, str]) -> None:
    assert pg_assets("init", "--kinds", "python", cwd=tmp_path).returncode == 0
    first = pg_assets("materialize", cwd=tmp_path, env=own_server, timeout=600)
    assert first.returncode == 0, first.stderr
    again = pg_assets("materialize", cwd=tmp_path, env=own_server, timeout=600)
    assert again.returncode == 0, again.stderr
    line = next(line for line in again.stdout.splitlines() if "events.page_views" in line)
    assert line.split()[1:] == ["0", "rows", "(60", "in", "the", "table)"]  # incremental: nothing new
    first_line = next(line for line in first.stdout.splitlines() if "events.page_views" in line)
    assert first_line.split()[1:] == ["60", "rows"]
    assert "rows/s" not in first.stderr  # 60 rows: a rate would measure start-up
    assert "Query it with psql" not in again.stdout
    # run in the project folder, so the advice needs no `cd` first
    assert "  pg-assets embedded psql -c 'select * from analytics.daily_page_views limit 5'" in \
        again.stdout.splitlines()
