"""The CLI names every failure in one line and exits 1 or 2; a traceback only with `--traceback`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pg_assets.cli import main

SOURCE = '''\
def boom():
    yield {"id": 1}
    raise ValueError("upstream API said no")
'''


def _spec(tmp_path: Path, dataset: str, module: str) -> Path:
    (tmp_path / f"{module}.py").write_text(SOURCE)
    path = tmp_path / "pipelines.yaml"
    path.write_text(f"sources:\n  b:\n    kind: python\n    dataset: {dataset}\n    resources:\n"
                    f"      r: {{function: '{module}:boom'}}\n")
    return path


@pytest.mark.parametrize("traceback", [False, True], ids=["plain", "with_traceback"])
def test_an_error_in_user_code_names_its_file_and_line(tmp_path: Path, dataset: str, capsys, traceback: bool) -> None:
    module = f"boom_source_{'tb' if traceback else 'plain'}"
    spec = _spec(tmp_path, dataset, module)
    status = main([*(["--traceback"] if traceback else []), "run", "-f", str(spec)])
    err = capsys.readouterr().err
    assert status == 1
    assert f"(raised at {tmp_path / module}.py:3 in boom)" in err
    assert ("Traceback (most recent call last)" in err) is traceback


def test_an_unexpected_error_is_one_line_with_where_it_was_raised(tmp_path: Path, capsys,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import pg_assets.cli.validate as commands

    def broken(args):
        raise KeyError("surprise")

    monkeypatch.setattr(commands, "cmd_validate", broken)
    assert main(["validate", "-f", str(tmp_path / "x.yaml")]) == 1
    err = capsys.readouterr().err
    assert "error: unexpected KeyError at" in err and "test_cli_errors.py" in err
    assert "Traceback" not in err and "--traceback" in err


def test_a_driver_error_that_escapes_is_mapped(capsys, monkeypatch: pytest.MonkeyPatch, pg_credentials) -> None:
    import pg_assets.cli.validate as commands

    def query_a_missing_table(args):
        with pg_credentials.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM no_such_table_here")

    monkeypatch.setattr(commands, "cmd_validate", query_a_missing_table)
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert 'relation "no_such_table_here" does not exist' in err and "Traceback" not in err


@pytest.mark.parametrize(("value", "expected"), [
    ("write_disposition: 5", "expected one of `append`, `replace`, `merge`, or a mapping with `disposition` "
                             "(optional: `strategy`, `validity_column_names`, `active_record_timestamp` and more), "
                             "got `5`"),
    ("incremental: 3", "expected a mapping with `cursor_path` (optional: `initial_value`, `end_value`, "
                       "`last_value_func` and more), got `3`"),
], ids=["write_disposition", "incremental"])
def test_an_expected_mapping_names_its_keys_without_template_fragments(tmp_path: Path, capsys, value: str,
                                                                        expected: str) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text(f"sources:\n  s:\n    kind: python\n    dataset: d\n    resources:\n"
                    f"      r: {{function: 'm:f', {value}}}\n")
    (tmp_path / "m.py").write_text("def f():\n    return []\n")
    assert main(["validate", "-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and ", ..." not in err, err
