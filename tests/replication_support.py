"""Shared parts of the `kind: pg_replication` tests: a source server with `wal_level=logical`,
a replica database on it, a spec per test, and the table-to-table comparison."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "faults"))

import pg_server  # noqa: E402

from pg_assets.connection import ConnectionConfig  # noqa: E402
from pg_assets.spec import load_spec  # noqa: E402

REPLICA_DB = "replica"


@pytest.fixture(scope="module")
def replication_server() -> Iterator[pg_server.Server]:
    """A `start_server` for the tests of one module, stopped and removed after them."""
    srv = start_server()
    try:
        yield srv
    finally:
        srv.stop()


def start_server() -> pg_server.Server:
    """Debian's postgres with logical replication on, and an empty `replica` database for the destination."""
    server = pg_server.start(pg_server.LOGICAL_REPLICATION)
    pg_server._admin(server, f"CREATE DATABASE {REPLICA_DB} OWNER {pg_server.USER}")
    return server


def replica_config(server: pg_server.Server, port: int | None = None) -> ConnectionConfig:
    return ConnectionConfig(REPLICA_DB, pg_server.USER, pg_server.PASSWORD, "127.0.0.1", port=port or server.port,
                            connect_timeout=5)


@dataclass
class Setup:
    """One test's source (tables in the `faults` database), slot, publication and dataset."""

    server: pg_server.Server
    name: str
    folder: Path
    port: int | None = None  # a proxy's, in front of the server

    @property
    def source(self) -> ConnectionConfig:
        return self.server.config if self.port is None else self.server.at(self.port)

    @property
    def replica(self) -> ConnectionConfig:
        return replica_config(self.server, self.port)

    def write_spec(self, tables: list[str], **options: Any) -> Path:
        extra = "".join(f"\n    {k}: {v}" for k, v in options.items())
        text = textwrap.dedent(f"""\
            destination:
              credentials: "{self.replica.uri()}"
            sources:
              app:
                kind: pg_replication
                credentials: "{self.source.uri()}"
                dataset: {self.name}
                slot: {self.name}
                publication: {self.name}
                tables: [{", ".join(tables)}]""") + extra + "\n"
        path = self.folder / "pipelines.yaml"
        path.write_text(text)
        return path

    def spec(self, tables: list[str], **options: Any) -> Any:
        return load_spec(self.write_spec(tables, **options))


def execute(config: ConnectionConfig, *statements: str) -> None:
    _autocommit(config.connect(), statements)


def _autocommit(conn: Any, statements: tuple[str, ...]) -> None:
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def fetch(config: ConnectionConfig, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    conn = config.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


def rows_as_json(config: ConnectionConfig, table: str, columns: list[str], key: str) -> list[tuple[str, ...]]:
    """Every row, each column as its `to_jsonb` text (arrays in the source, JSON in the replica, compare equal)."""
    listed = ", ".join(f'to_jsonb("{c}")::text' for c in columns)
    return fetch(config, f"SELECT {listed} FROM {table} ORDER BY {key}")


def assert_same(setup: Setup, source_table: str, replica_table: str, columns: list[str], key: str) -> int:
    """The replica holds exactly the source's rows (compared column by column); returns their number."""
    source = rows_as_json(setup.source, source_table, columns, key)
    replica = rows_as_json(setup.replica, replica_table, columns, key)
    missing = [str(r)[:300] for r in sorted(set(source) - set(replica))[:3]]
    extra = [str(r)[:300] for r in sorted(set(replica) - set(source))[:3]]
    assert source == replica, f"{len(source)} source rows, {len(replica)} replica rows; missing {missing}, " \
                              f"extra {extra}"
    return len(source)


def slots(config: ConnectionConfig) -> list[str]:
    return [r[0] for r in fetch(config, "SELECT slot_name FROM pg_replication_slots ORDER BY 1")]


def as_admin(server: pg_server.Server, *statements: str) -> None:
    """Statements as the superuser, in the source database (tables the loader does not own)."""
    import psycopg2

    _autocommit(psycopg2.connect(host=str(server.home), port=server.port, user="admin", dbname=pg_server.DATABASE),
                statements)
