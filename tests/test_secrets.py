"""A password never shows, whatever form it is given in and whatever is printed.

Each credential form (userinfo, a `password` query parameter, a mapping's `query`,
`PGPASSWORD`, a `.pgpass` file) is checked against each output: the config's repr,
str and safe URI, a failed connect's message, `LoadInfo` and the load's log lines,
the Dagster metadata of a load, `pg-assets dbt-env` and the `pg-assets materialize`
summary, and the CLI's error message. Loads run against the session's embedded server,
which trusts its socket, so every form logs in.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import pg_assets
from pg_assets import cli
from pg_assets.connection import ENV_VAR, ConnectionConfig
from pg_assets.destination import resolve_credentials
from pg_assets.cli.dbt import _export_lines
from pg_assets.dbt.env import profile_env
from pg_assets.errors import PgAssetsError
from pg_assets.masking import mask_secrets

PW = "Hx7:se/cr%et&pw#42"
PW_URI = quote(PW, safe="")


def _no_secret(text: str) -> None:
    assert PW not in text and PW_URI not in text and quote(PW) not in text


def _userinfo(base: ConnectionConfig, mp: pytest.MonkeyPatch, tmp: Path) -> Any:
    return f"postgresql://{base.username}:{PW_URI}@/{base.database}?host={base.host}&port={base.port}"


def _query_param(base: ConnectionConfig, mp: pytest.MonkeyPatch, tmp: Path) -> Any:
    return f"postgresql://{base.username}@/{base.database}?host={base.host}&port={base.port}&password={PW_URI}"


def _mapping_query(base: ConnectionConfig, mp: pytest.MonkeyPatch, tmp: Path) -> Any:
    return {"database": base.database, "username": base.username, "port": base.port,
            "query": {"host": base.host, "password": PW}}


def _pgpassword(base: ConnectionConfig, mp: pytest.MonkeyPatch, tmp: Path) -> Any:
    mp.setenv("PGPASSWORD", PW)
    return base.uri()


def _pgpass_file(base: ConnectionConfig, mp: pytest.MonkeyPatch, tmp: Path) -> Any:
    passfile = tmp / "pgpass"
    escaped = PW.replace("\\", "\\\\").replace(":", "\\:")
    passfile.write_text(f"# a comment\n*:*:*:{base.username}:{escaped}\n")
    passfile.chmod(0o600)
    mp.setenv("PGPASSFILE", str(passfile))
    return base.uri()


FORMS: dict[str, Callable[[ConnectionConfig, pytest.MonkeyPatch, Path], Any]] = {
    "userinfo": _userinfo,
    "query_parameter": _query_param,
    "mapping_query": _mapping_query,
    "PGPASSWORD": _pgpassword,
    "pgpass_file": _pgpass_file,
}


@pytest.fixture(params=FORMS.values(), ids=FORMS.keys())
def given(request: pytest.FixtureRequest, pg_credentials: ConnectionConfig, monkeypatch: pytest.MonkeyPatch,
          tmp_path: Path) -> Any:
    """The credentials in one form; the env vars a form needs are set for the test."""
    return request.param(pg_credentials, monkeypatch, tmp_path)


def test_the_config_renders_without_the_password(given: Any, tmp_path: Path) -> None:
    config = resolve_credentials(given, project_dir=tmp_path)
    for text in (repr(config), str(config), config.safe_uri(), repr({"c": config}), repr(dataclasses.replace(
            config, password=None).safe_uri())):
        _no_secret(text)


def test_the_password_from_a_query_is_the_password(tmp_path: Path) -> None:
    for given in (f"postgresql://u@h/d?password={PW_URI}", {"database": "d", "username": "u", "host": "h",
                                                            "query": {"password": PW}}):
        config = resolve_credentials(given, project_dir=tmp_path)
        assert config.password == PW and "password" not in config.query
        assert f":{PW_URI}@" in config.uri()


def test_a_failed_connect_says_nothing_of_the_password(given: Any, tmp_path: Path) -> None:
    config = dataclasses.replace(resolve_credentials(given, project_dir=tmp_path), database="no_such_db_x")
    with pytest.raises(PgAssetsError) as caught:
        config.connect()
    assert "database `no_such_db_x` does not exist" in str(caught.value)
    _no_secret(str(caught.value))


def test_a_load_reports_and_logs_without_the_password(given: Any, dataset: str, caplog: pytest.LogCaptureFixture,
                                                      tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    p = pg_assets.pipeline("secret_forms", dataset=dataset, credentials=given)
    info = p.run([{"id": 1}], table_name="t")
    assert info.row_counts == {"t": 1}
    _no_secret(info.destination)
    _no_secret(str(info))
    _no_secret(repr(info))
    _no_secret(caplog.text)
    from pg_assets.dagster.events import _rows_metadata
    asset = type("Asset", (), {"table": "t"})()
    metadata = _rows_metadata(asset, info)
    assert metadata["retries"] == info.retries == 0
    _no_secret(repr(metadata))


def test_dbt_env_prints_no_password(given: Any, tmp_path: Path) -> None:
    config = resolve_credentials(given, project_dir=tmp_path)
    _no_secret("\n".join(_export_lines(profile_env(config))))


def test_the_materialize_summary_shows_no_password(given: Any, tmp_path: Path) -> None:
    from pg_assets.dagster.materialize import Outcome, report

    config = resolve_credentials(given, project_dir=tmp_path)
    text = report(Outcome(True, 1.0, {"ds.t": 1}, 0, (), (), (), config))
    assert "The data is in" in text and "psql '" in text
    _no_secret(text)


def test_the_cli_error_shows_no_password(given: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = dataclasses.replace(resolve_credentials(given, project_dir=tmp_path), database="no_such_db_y")
    monkeypatch.setenv(ENV_VAR, config.uri())
    status = cli.main(["--traceback", "state", "show", "s", "--dataset", "x", "-f", str(tmp_path / "none.yaml")])
    err = capsys.readouterr().err
    assert status == 2 and "no_such_db_y" in err
    _no_secret(err)


def test_mask_secrets_scrubs_every_known_form() -> None:
    ConnectionConfig("d", "u", PW, "h")
    text = f"a {PW} b {PW_URI} c {quote(PW)}"
    assert mask_secrets(text) == "a *** b *** c ***"
