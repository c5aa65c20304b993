"""`pg-assets validate | run | schema`: output and exit codes, end to end into the embedded Postgres."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pg_assets import ProgressEvent
from pg_assets.cli import main
from pg_assets.cli.run import LiveProgress

ROOT = Path(__file__).resolve().parent.parent

FUNCTIONS = '''
def ok():
    yield [{"id": 1}, {"id": 2}]

def broken():
    yield {"id": 1}
    raise RuntimeError("the upstream API went away")
'''


def write_spec(tmp_path: Path, dataset: str, extra: str = "") -> Path:
    module = f"cli_sources_{tmp_path.name}"
    (tmp_path / f"{module}.py").write_text(FUNCTIONS)   # one module per test: imports are cached
    (tmp_path / "people.csv").write_text('id,name\n1,"Lovelace, Ada"\n2,Alan\n')
    path = tmp_path / "pipelines.yaml"
    path.write_text(textwrap.dedent(f"""\
        sources:
          files_src:
            kind: files
            dataset: {dataset}
            resources:
              people: {{path: people.csv, write_disposition: replace}}
          py_src:
            kind: python
            dataset: {dataset}
            resources:
              numbers: {{function: "{module}:ok"}}
        """) + textwrap.indent(textwrap.dedent(extra).replace("MODULE", module), "  "))
    return path


def test_validate_the_repository_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", str(ROOT / "pipelines.yaml")]) == 0
    assert "valid (3 sources, 7 resources)" in capsys.readouterr().out


def test_validate_reports_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text("destination: {workers: many}\nsources:\n  s:\n    kind: files\n    dataset: d\n"
                    "    resources: {r: {path: nope.csv, write_dispositon: merge}}\n")
    assert main(["validate", "-f", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}:1:24: destination.workers: expected an integer, got `many`"
    # the unknown key does not hide the missing file of the same resource
    assert err[1].startswith(f"{path}:6:27: sources.s.resources.r.path: no file at `nope.csv`")
    assert err[2] == (f"{path}:6:37: sources.s.resources.r.write_dispositon: unknown key. "
                      "Did you mean `write_disposition`?")
    assert err[-1] == f"{path}: 3 errors"


def test_schema_prints_the_committed_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["title"] == "pg_assets pipelines.yaml"
    assert out == (ROOT / "pipelines.schema.json").read_text(encoding="utf-8")


def test_run_loads_everything_and_prints_a_summary(tmp_path: Path, dataset: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-f", str(write_spec(tmp_path, dataset))]) == 0
    out = capsys.readouterr().out
    assert f"files_src -> {dataset}" in out and f"py_src -> {dataset}" in out
    assert re.search(r"^  people +2 rows$", out, flags=re.M)
    assert out.rstrip().splitlines()[-1].startswith("2 of 2 sources loaded, 4 rows")


def test_run_named_resource_only(tmp_path: Path, dataset: str, query, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-f", str(write_spec(tmp_path, dataset)), "py_src.numbers"]) == 0
    assert "1 of 1 sources loaded, 2 rows" in capsys.readouterr().out
    assert query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                 "AND table_name NOT LIKE '\\_dlt%%'", (dataset,)) == [("numbers",)]


FAILING = {
    "source-raises-exit-1": ("kind: python", '{function: "MODULE:broken"}', 1,
                             "resource `bad` of source `failing` failed while reading: RuntimeError: "
                             "the upstream API went away"),
    "no-file-matches-exit-2": ("kind: files", '{path: "drop/*.csv"}', 2,
                               "resource `bad`: no file matches `drop/*.csv`"),
}


@pytest.mark.parametrize("case", FAILING.values(), ids=FAILING.keys())
def test_a_failed_source_does_not_stop_the_others(tmp_path: Path, dataset: str, query,
                                                  capsys: pytest.CaptureFixture[str],
                                                  case: tuple[str, str, int, str]) -> None:
    kind, resource, status, message = case
    extra = f"failing:\n  {kind}\n  dataset: {dataset}\n  resources:\n    bad: {resource}\n"
    assert main(["run", "-f", str(write_spec(tmp_path, dataset, extra))]) == status
    captured = capsys.readouterr()
    assert f"failing: FAILED, nothing of it was committed: {message}" in captured.err
    if "MODULE:broken" in resource:  # an error in the user's own code names their file and line
        assert re.search(r"\(raised at \S+\.py:\d+ in broken\)", captured.err)
    assert "2 of 3 sources loaded" in captured.out and "failed: failing" in captured.out
    assert query(f'SELECT count(*) FROM "{dataset}".people') == [(2,)]
    created = query("SELECT to_regclass(%s)", (f'"{dataset}".bad',))[0][0]
    assert created is None or query(f'SELECT count(*) FROM "{dataset}".bad') == [(0,)]


@pytest.mark.parametrize(("args", "message"), [
    (["run", "nope"], "no source `nope` in pipelines.yaml; the sources are `files_src`, `py_src`"),
    (["run", "py_src.nmbers"], "Did you mean `numbers`?"),
], ids=["unknown-source", "unknown-resource"])
def test_run_with_a_wrong_target_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    path = write_spec(tmp_path, "unused")
    assert main([*args, "-f", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_run_with_an_invalid_spec_exits_2_with_all_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text("destination: {workers: many}\nsources: {}\n")
    assert main(["run", "-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path} has 2 errors:")
    assert "destination.workers" in err and "sources: List should have at least 1 item" not in err.splitlines()[0]


@pytest.mark.parametrize("command", [[], ["validate"], ["run"], ["schema"]], ids=["top", "validate", "run", "schema"])
def test_help_everywhere(command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "pg_assets.cli", *command, "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: pg-assets" in result.stdout


def test_live_progress_draws_rows_and_rate_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    board = LiveProgress("shop", screen, interval=0)
    board(ProgressEvent("orders", 1_500_000, 2.0))
    board(ProgressEvent("customers", 16, 4.0))  # a tiny table: its "rate" would measure start-up
    board(ProgressEvent("items", 50_000, 0.5))  # too soon to tell
    assert screen.getvalue().endswith("\rshop: orders 1,500,000 (750.0k/s) | customers 16 | items 50,000")
    board.clear()
    assert screen.getvalue().endswith("\r")

    quiet = io.StringIO()
    LiveProgress("shop", quiet)(ProgressEvent("orders", 1, 1.0))
    assert quiet.getvalue() == ""
