"""Session-wide fixtures: one embedded Postgres for the whole test session.

The session gets its own `PG_ASSETS_HOME`, so tests never touch a developer's
`.pg_assets/`, and `PG_ASSETS_CREDENTIALS` is unset, so everything that resolves
credentials without arguments lands on that server. It starts when a test first
needs it and is stopped at the end of the session.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from pg_assets import embedded
from pg_assets.connection import ENV_VAR, ConnectionConfig

_SCHEMA_MAX = 40


@pytest.fixture(scope="session", autouse=True)
def pg_assets_home() -> Iterator[Path]:
    """A private home for the session's embedded server, stopped and removed at the end.

    Not under pytest's tmp_path: pytest resets its base directory to mode 0700 at
    every session start, which would lock out the `pgserver` user that runs the
    server when tests run as root and another session starts meanwhile.
    """
    home = Path(tempfile.mkdtemp(prefix="pg_assets_tests_"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(embedded.HOME_ENV, str(home))
        mp.delenv(ENV_VAR, raising=False)
        try:
            yield home
        finally:
            embedded.stop(home)
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_credentials(pg_assets_home: Path) -> ConnectionConfig:
    """How to reach the session's embedded server (started on first use)."""
    return embedded.ensure_running(pg_assets_home)


@pytest.fixture
def pg_conn(pg_credentials: ConnectionConfig) -> Iterator[Any]:
    """An autocommit psycopg2 connection, closed after the test."""
    conn = pg_credentials.connect()
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def query(pg_conn: Any) -> Callable[..., list[tuple]]:
    """`query(sql, params=None)`: the rows, or `[]` for a statement that returns none."""

    def run(sql: str, params: Any = None) -> list[tuple]:
        with pg_conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description is not None else []

    return run


def _schema_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", test_name.lower().removeprefix("test_")).strip("_")
    suffix = secrets.token_hex(3)
    return f"t_{stem[: _SCHEMA_MAX - len(suffix) - 3].rstrip('_')}_{suffix}"


@pytest.fixture
def dataset(request: pytest.FixtureRequest, pg_credentials: ConnectionConfig) -> Iterator[str]:
    """A unique schema name for this test; it and `<name>_staging` are dropped afterwards."""
    name = _schema_name(request.node.name)
    yield name
    # A fresh connection: the test's own may be broken or mid-transaction.
    conn = psycopg2.connect(**pg_credentials.connect_kwargs())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            for schema in (name, f"{name}_staging"):
                cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        conn.close()

