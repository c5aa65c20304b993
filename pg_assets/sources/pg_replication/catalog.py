"""The source database's side of replication: the lock, the publication, the slot, the tables.

Everything here runs on one ordinary connection to the source that lives as long as the
run (`SourceSession`): it holds the source's advisory lock, so two runs never read one
slot, and answers the catalog questions (which tables, which key, which types). The
replication connection itself is opened by `replication_connection`, through the one
connection path (`ConnectionConfig.connect`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pg_assets import sql
from pg_assets.connection import SESSION_OPTIONS, ConnectionConfig, close_quietly, open_connection
from pg_assets.credentials import configured_credentials
from pg_assets.errors import ConfigError, LockTimeoutError
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.sources.pg_replication.spec import PgReplicationSource, credentials_value

log = logging.getLogger("pg_assets")

# the first key of the source's advisory lock (the second is the slot name's hash): "pgar"
LOCK_CLASS = 0x70676172

_TABLE = """
SELECT c.oid, n.nspname, c.relname, c.relreplident,
       (SELECT array_agg(a.attname::text ORDER BY k.n) FROM pg_index i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = c.oid AND i.indisprimary) AS primary_key,
       (SELECT array_agg(a.attname::text ORDER BY k.n) FROM pg_index i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index,
       (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
"""
_SCHEMA_TABLES = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1")
_PUBLICATION = "SELECT 1 FROM pg_publication WHERE pubname = %s"
_PUBLISHED = "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s"
_SLOT = ("SELECT plugin, database, confirmed_flush_lsn::text, active_pid, wal_status FROM pg_replication_slots "
         "WHERE slot_name = %s")
_DROP_SLOT = "SELECT pg_drop_replication_slot(%s)"
_ADVANCE_SLOT = "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)"
_WAL_POSITION = "SELECT pg_current_wal_lsn()::text, now()"
_TYPES = ("SELECT t.oid, t.typlen, t.typcategory, coalesce(e.typcategory, '') FROM pg_type t "
          "LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' WHERE t.oid = ANY(%s)")
# WAL written since a position (every database of the server counts), and the source's clock
LAG = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint, now()"
_TRY_LOCK = "SELECT pg_try_advisory_lock(%s, hashtext(%s))"


@dataclass(frozen=True)
class SourceTable:
    """One replicated table: where it is, what it lands as, and the key the replica merges on."""

    oid: int
    schema: str
    name: str
    resource: str
    key: tuple[str, ...]
    replica_identity: str
    columns: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class TypeInfo:
    """What a column's type means for its text: `varlena` values may be TOASTed (sent as unchanged);
    an `array` is loaded as JSON, its elements numbers (`element` N), booleans (B) or strings."""

    varlena: bool
    array: bool
    element: str


@dataclass(frozen=True)
class SlotInfo:
    plugin: str
    database: str
    confirmed_flush: str | None
    active_pid: int | None
    wal_status: str | None


def source_config(source: PgReplicationSource, base_dir: Path | None = None) -> ConnectionConfig:
    """The source's login, from a URI, `{env: VAR}` or fields (never the destination's fallbacks)."""
    config = configured_credentials(credentials_value(source.credentials), base_dir)
    assert config is not None  # a value was given, so the fallbacks are never consulted
    return config


def replication_connection(config: ConnectionConfig, application_name: str) -> Any:
    """A logical replication connection (`replication=database`) with pg_assets' session settings,
    so the server writes timestamps in UTC."""
    from psycopg2.extras import LogicalReplicationConnection

    options = " ".join(o for o in (config.query.get("options"), SESSION_OPTIONS) if o)
    return config.connect(connection_factory=LogicalReplicationConnection, options=options,
                          application_name=application_name[:63])


class SourceSession:
    """The run's ordinary connection to the source, holding the source's lock."""

    def __init__(self, source: PgReplicationSource, source_name: str, config: ConnectionConfig) -> None:
        self.source, self.source_name, self.config = source, source_name, config
        self.conn = open_connection(config, f"pg_assets:replication:{source_name}")
        self._types: dict[int, TypeInfo] = {}

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def lock(self, timeout: float) -> None:
        """Take the source's advisory lock (per slot), waiting up to `timeout` seconds for another run."""
        deadline = time.monotonic() + timeout
        while not self.query(_TRY_LOCK, (LOCK_CLASS, self.source.slot))[0][0]:
            if time.monotonic() > deadline:
                raise LockTimeoutError(f"source `{self.source_name}`: another run holds the lock of slot "
                                       f"`{self.source.slot}` for more than {timeout:.0f} s; wait for it to end")
            time.sleep(0.2)

    def wal_position(self) -> tuple[str, str]:
        """The source's WAL insert position and clock, as text (`16/B374D848`, ISO-8601)."""
        lsn, now = self.query(_WAL_POSITION)[0]
        return lsn, now.isoformat()

    def slot(self) -> SlotInfo | None:
        rows = self.query(_SLOT, (self.source.slot,))
        return SlotInfo(*rows[0]) if rows else None

    def drop_slot(self) -> None:
        """Drop the slot, waiting briefly for a walsender that is still letting go of it."""
        for attempt in range(50):
            try:
                self.query(_DROP_SLOT, (self.source.slot,))
                return
            except Exception as exc:  # noqa: BLE001 - `is active for PID`: the old walsender is exiting
                if "is active" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1)

    def advance_slot(self, lsn: str) -> None:
        """Let the server recycle the WAL before `lsn` (committed at the destination); best effort."""
        for _ in range(20):
            try:
                self.query(_ADVANCE_SLOT, (self.source.slot, lsn))
                return
            except Exception as exc:  # noqa: BLE001 - the next run confirms the position anyway
                if "is active" not in str(exc):
                    log.warning("source `%s`: could not advance slot `%s` to %s: %s", self.source_name,
                                self.source.slot, lsn, exc)
                    return
                time.sleep(0.1)

    def close(self) -> None:
        close_quietly(self.conn)

    # ---- tables and types

    def tables(self) -> list[SourceTable]:
        """The replicated tables with their keys; the publication is created when missing."""
        wanted = self._wanted()
        self._ensure_publication(wanted)
        published = {(s, t) for s, t in self.query(_PUBLISHED, (self.source.publication,))}
        missing = [f"{s}.{t}" for s, t in wanted if (s, t) not in published]
        if missing:
            raise ConfigError(f"source `{self.source_name}`: publication `{self.source.publication}` does not "
                              f"publish `{missing[0]}`; run `ALTER PUBLICATION {sql.ident(self.source.publication)} "
                              f"ADD TABLE {sql.qualified(*missing[0].split('.', 1))}` on the source, or drop the "
                              "publication so that pg_assets creates it")
        return [self._table(schema, name) for schema, name in wanted]

    def _wanted(self) -> list[tuple[str, str]]:
        if self.source.source_schema is None:
            return list(self.source.source_tables().values())
        schema = self.source.source_schema
        names = [r[0] for r in self.query(_SCHEMA_TABLES, (schema,))]
        if not names:
            raise ConfigError(f"source `{self.source_name}`: schema `{schema}` has no tables to replicate")
        return [(schema, n) for n in names]

    def _ensure_publication(self, wanted: list[tuple[str, str]]) -> None:
        if self.query(_PUBLICATION, (self.source.publication,)):
            return
        targets = ", ".join(sql.qualified(s, t) for s, t in wanted)
        self.query(f"CREATE PUBLICATION {sql.ident(self.source.publication)} FOR TABLE {targets}")

    def _table(self, schema: str, name: str) -> SourceTable:
        rows = self.query(_TABLE, (schema, name))
        if not rows:
            raise ConfigError(f"source `{self.source_name}`: no table `{schema}.{name}` on the source; check "
                              "`tables` (write `schema.table`)")
        oid, schema, name, identity, primary_key, identity_index, columns = rows[0]
        key = replica_key(identity, primary_key, identity_index, columns)
        if not key:
            lacks = "has `REPLICA IDENTITY NOTHING`" if identity == "n" else "has no primary key and no replica identity"
            raise ConfigError(
                f"source `{self.source_name}`: table `{schema}.{name}` {lacks}, so its updates and deletes cannot be "
                f"matched; add a primary key, or run `ALTER TABLE {sql.qualified(schema, name)} REPLICA IDENTITY "
                "FULL` on the source")
        return SourceTable(oid, schema, name, normalize_identifier(name), tuple(key), identity, tuple(columns))

    def types(self, oids: Sequence[int]) -> dict[int, TypeInfo]:
        """What the type of each oid means for its values (asked once per type per run)."""
        new = sorted(set(oids) - set(self._types))
        for oid, length, category, element in self.query(_TYPES, (new,)) if new else ():
            self._types[oid] = TypeInfo(length == -1, category == "A", element)
        return {oid: self._types.get(oid, TypeInfo(True, False, "")) for oid in oids}


def replica_key(identity: str, primary_key: list[str] | None, identity_index: list[str] | None,
                columns: list[str]) -> list[str]:
    """The columns a change names its row by: the identity index, the primary key, or (FULL without
    a key) every column; empty when the table's changes cannot be matched.

    Examples:
        >>> replica_key("d", ["id"], None, ["id", "x"]), replica_key("f", None, None, ["a", "b"])
        (['id'], ['a', 'b'])
        >>> replica_key("d", None, None, ["a"]), replica_key("n", ["id"], None, ["id"])
        ([], [])
    """
    if identity == "i" and identity_index:
        return list(identity_index)
    if identity in ("d", "f") and primary_key:
        return list(primary_key)
    return list(columns) if identity == "f" else []


@contextmanager
def session(source: PgReplicationSource, source_name: str, base_dir: Path | None = None, *,
            lock_timeout: float = 600.0) -> Iterator[SourceSession]:
    """A `SourceSession` holding the source's lock; closing it releases the lock."""
    opened = SourceSession(source, source_name, source_config(source, base_dir))
    try:
        opened.lock(lock_timeout)
        yield opened
    finally:
        opened.close()
