"""`pg-assets validate` on hostile files: every case ends in exit 0 or 2 with a located message, quickly.

Definition-time tests: no database, no network. Each case is a file a fuzzer or a
careless editor could produce; none may crash (exit 1, a traceback), hang or eat memory.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pg_assets.cli import main

GOOD = "sources:\n  s:\n    kind: files\n    dataset: raw\n    resources:\n      r: {path: data.csv}\n"
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))

# name -> (file content, expected exit status, part of the message)
CASES: dict[str, tuple[bytes, int, str]] = {
    "kind_is_a_list": (GOOD.replace("kind: files", "kind: [files]").encode(), 2, "pipelines.yaml:3:"),
    "nul_byte": (GOOD.replace("dataset: raw", "dataset: r\x00aw").encode(), 2, "character YAML does not allow"),
    "5000_digit_integer": (b"destination:\n  workers: " + b"9" * 5000 + b"\n" + GOOD.encode(), 2,
                           "pipelines.yaml:2:12: destination.workers: a number of 5000 digits"),
    "latin1": (GOOD.replace("raw", "caf\xe9").encode("latin-1"), 2, "file is not UTF-8"),
    "utf16": (GOOD.encode("utf-16"), 2, "file is not UTF-8"),
    "invalid_utf8": (GOOD.encode() + b"# \xff\xfe\n", 2, "file is not UTF-8 (byte 0xff at line 7"),
    "nesting_500_deep_flow": (GOOD.encode() + b"x: " + b"[" * 500 + b"]" * 500 + b"\n", 2,
                              "nested deeper than"),
    "nesting_500_deep_block": (GOOD.encode() + "".join(f"{' ' * i}k{i}:\n" for i in range(500)).encode(), 2,
                               "nested deeper than"),
    "recursive_alias": (GOOD.encode() + b"x: &r [*r]\n", 2, "refers to the node that contains it"),
    "billion_laughs": (GOOD.encode() + LAUGHS.encode(), 2, "aliases expand to more than"),
    "empty_file": (b"", 2, "sources"),
    "only_a_scalar": (b"42\n", 2, "must be a mapping"),
    "a_list_at_the_top": (b"- a\n- b\n", 2, "must be a mapping"),
    "tab_indentation": (GOOD.replace("    kind", "\tkind").encode(), 2, "invalid YAML"),
    "bom_is_fine": ("\ufeff".encode() + GOOD.encode(), 0, "valid"),
    "unknown_kind_still_checks_shared_options": (
        GOOD.replace("kind: files", "kind: filez").replace("r: {path: data.csv}",
                                                           "r: {path: data.csv, write_disposition: mergee}").encode(),
        2, "write_disposition"),
    "missing_file_and_unknown_key_both_reported": (
        GOOD.replace("r: {path: data.csv}", "r: {path: nope.csv, colour: red}").encode(), 2, "nope.csv"),
}

MODULES = {
    "module_syntax_error": ("def broken(:\n    pass\n", "bad_syntax_mod.py:1"),
    "module_raises_on_import": ("raise RuntimeError('no config here')\ndef f():\n    return []\n",
                                "RuntimeError: no config here"),
    "module_exits_on_import": ("import sys\nsys.exit(7)\n", "SystemExit: 7"),
}


def _validate(tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    (tmp_path / "data.csv").write_text("id\n1\n")
    path = tmp_path / "pipelines.yaml"
    path.write_bytes(content)
    started = time.monotonic()
    status = main(["validate", "-f", str(path)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err, time.monotonic() - started


@pytest.mark.parametrize(("content", "status", "message"), CASES.values(), ids=CASES.keys())
def test_hostile_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, status: int,
                       message: str) -> None:
    got, output, seconds = _validate(tmp_path, content, capsys)
    assert (got, message in output) == (status, True), output[-2000:]
    assert "Traceback" not in output
    assert seconds < 5


def test_every_problem_of_a_resource_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = GOOD.replace("r: {path: data.csv}", "r: {path: nope.csv, colour: red}").encode()
    _, output, _ = _validate(tmp_path, content, capsys)
    assert "colour" in output and "nope.csv" in output


@pytest.mark.parametrize(("module", "message"), MODULES.values(), ids=MODULES.keys())
def test_a_function_module_that_fails_to_import(tmp_path: Path, capsys: pytest.CaptureFixture[str], module: str,
                                                message: str) -> None:
    name = "bad_syntax_mod" if "syntax" in message or "bad_syntax" in message else f"mod_{abs(hash(module))}"
    (tmp_path / f"{name}.py").write_text(module)
    spec = f"sources:\n  p:\n    kind: python\n    dataset: raw\n    resources:\n      r: {{function: '{name}:f'}}\n"
    status, output, _ = _validate(tmp_path, spec.encode(), capsys)
    assert status == 2, output
    assert "pipelines.yaml:6:" in output and message in output
    assert "Traceback" not in output


def test_an_unknown_kind_is_reported_with_its_resources_shared_problems(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    resources = ("r: {path: nope.csv, write_disposition: mergee, primary_key: [], colour: red}\n"
                 "      q: {write_disposition: {disposition: merge, strategy: scd3}}")
    content = GOOD.replace("kind: files", "kind: filez").replace("r: {path: data.csv}", resources)
    status, output, _ = _validate(tmp_path, content.encode(), capsys)
    lines = [line for line in output.splitlines() if "pipelines.yaml:" in line]
    assert status == 2
    assert any(":3:" in line and "filez" in line for line in lines), output
    assert any("resources.r.write_disposition" in line for line in lines), output
    assert any("resources.q.write_disposition" in line and "scd3" in line for line in lines), output


def test_a_missing_file_is_reported_with_an_unknown_key_and_a_bad_option(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    resource = "r: {path: nope.csv, colour: red, write_disposition: {disposition: merge, strategy: upsert}}"
    content = GOOD.replace("r: {path: data.csv}", resource)
    status, output, _ = _validate(tmp_path, content.encode(), capsys)
    assert status == 2
    for part in ("resources.r.colour", "no file at `nope.csv`", "needs a `primary_key`"):
        assert part in output, output
