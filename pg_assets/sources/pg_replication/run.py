"""One run of a `pg_replication` source: a snapshot the first time, the changes since after.

The run holds the source's advisory lock throughout (`catalog.session`), so two runs
never read one slot. The position in the source's WAL is kept in the pipeline state
(`sources.<source>.pg_replication`) and committed in the same transaction as the rows it
produced (`Pipeline.run(on_state=...)`); the slot is advanced only to a committed
position, after the commit. So the destination, never the slot, says what was applied.

- First run (no stored position, or no slot): the slot is created with an exported
  snapshot and every table is read in that snapshot through the sql_database COPY path
  and loaded with `replace`; the slot's consistent point is the position. A run that
  fails drops the slot it created; one that was killed leaves it, and the next run,
  finding a slot but no position, drops it and starts again.
- Later runs: the changes up to the WAL position seen at the start (`stream.Reader`),
  merged (upsert) on each table's key, deletes as hard deletes (or `deleted_ts`), a
  TRUNCATE as a `replace` with no rows, in loads of their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pg_assets
from pg_assets import sql
from pg_assets.connection import close_quietly
from pg_assets.errors import LoadError, TerminalLoadError, TransientLoadError
from pg_assets.info import LoadInfo, TableLoad
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.pipeline import driver_errors_mapped
from pg_assets.sources import sql_copy
from pg_assets.sources.base import SourceContext
from pg_assets.sources.pg_replication import catalog
from pg_assets.sources.pg_replication.catalog import LAG, SourceSession, SourceTable
from pg_assets.sources.pg_replication.pgoutput import format_lsn, parse_lsn
from pg_assets.sources.pg_replication.spec import DELETED_COLUMN, LSN_COLUMN, PgReplicationSource
from pg_assets.sources.pg_replication.spool import NULL, Spool, copy_field
from pg_assets.sources.pg_replication.stream import Batch, Position, Reader
from pg_assets.sources.sql_connect import driver_message, parse_url, scrub
from pg_assets.sources.sql_database import SqlDatabaseResource, connect, reflected_hints

if TYPE_CHECKING:
    import sqlalchemy as sa

    from pg_assets.spec.document import PipelinesSpec

log = logging.getLogger("pg_assets")

STATE_KEY = "pg_replication"
UPSERT = {"disposition": "merge", "strategy": "upsert"}


@dataclasses.dataclass
class _Run:
    """What every load of one run shares."""

    spec: PipelinesSpec
    source: PgReplicationSource
    source_name: str
    pipeline: pg_assets.Pipeline
    src: SourceSession
    tables: list[SourceTable]
    reflected: dict[str, sa.Table]
    hints: dict[str, dict[str, dict[str, Any]]]
    progress: Callable[[pg_assets.ProgressEvent], None] | None

    @property
    def resources(self) -> list[str]:
        return [t.resource for t in self.tables]


def run(spec: PipelinesSpec, source_name: str, pipeline: pg_assets.Pipeline, *,
        progress: Callable[[pg_assets.ProgressEvent], None] | None = None) -> LoadInfo:
    """Replicate the source's tables (always all of them: one slot feeds them all) in one or more loads."""
    source = spec.sources[source_name]
    assert isinstance(source, PgReplicationSource)
    with driver_errors_mapped("replicating"):
        return _run(spec, source, source_name, pipeline, progress)


def _run(spec: PipelinesSpec, source: PgReplicationSource, source_name: str, pipeline: pg_assets.Pipeline,
         progress: Callable[[pg_assets.ProgressEvent], None] | None) -> LoadInfo:
    with catalog.session(source, source_name, spec.base_dir, lock_timeout=pipeline.lock_timeout) as src:
        tables = src.tables()
        reflected, hints = _reflect(spec, source, source_name, src, tables)
        context = _Run(spec, source, source_name, pipeline, src, tables, reflected, hints, progress)
        saved = stored_position(pipeline, source_name)
        slot = src.slot()
        why = _snapshot_reason(saved, slot is not None, source.slot, [t.resource for t in tables])
        if saved is None or why is not None:
            info = _snapshot(context, slot is not None, why)
        else:
            end_lsn, now = src.wal_position()
            info = _catch_up(context, Position.from_state(saved), parse_lsn(end_lsn), now)
        return dataclasses.replace(info, source_metadata=lag_metadata(src, stored_position(pipeline, source_name)))


def _snapshot_reason(saved: dict[str, Any] | None, slot_exists: bool, slot: str, tables: list[str]) -> str | None:
    """Why this run must start from a new snapshot, or None when it reads changes.

    Examples:
        >>> _snapshot_reason({"slot": "s", "tables": ["a"]}, True, "s", ["a", "b"])
        'table `b` was added to the source'
        >>> _snapshot_reason({"slot": "s", "tables": ["a"]}, True, "s", ["a"]) is None
        True
    """
    if saved is None:
        return "a first run that did not finish left the slot" if slot_exists else None
    if not slot_exists:
        return "the slot is missing"
    if saved.get("slot") != slot:
        return f"the stored position is of slot `{saved.get('slot')}`"
    added = [t for t in tables if t not in saved.get("tables", tables)]
    return f"table `{added[0]}` was added to the source" if added else None


def lag_metadata(src: SourceSession, saved: dict[str, Any] | None) -> dict[str, Any]:
    """The committed position and how far the source has moved past it, right after the run."""
    if not saved:
        return {}
    lag_bytes, now = src.query(LAG, (saved["lsn"],))[0]
    as_of = saved.get("as_of")
    seconds = max(0.0, (now - dt.datetime.fromisoformat(as_of)).total_seconds()) if as_of else None
    return {"replication_position": saved["lsn"], "replication_lag_bytes": int(lag_bytes),
            "replication_lag_seconds": seconds}


def stored_position(pipeline: pg_assets.Pipeline, source_name: str) -> dict[str, Any] | None:
    """The committed position of the source (`{slot, lsn, within}`), None before the first snapshot."""
    state = pipeline.state() or {}
    return state.get("sources", {}).get(source_name, {}).get(STATE_KEY)


def _position_writer(source_name: str, slot: str, expected: Position | None, new: Position,
                     as_of: str | None, tables: list[str]) -> Callable[[dict[str, Any]], None]:
    """The `on_state` of a load: checks nobody moved the position meanwhile, then stores the new one.

    `as_of` is the source's clock when the replica was last known to hold every change (a read
    that caught up with the WAL position seen at its start): `replication status`'s time lag.
    `tables` are the tables the position covers: one added later needs a snapshot first.
    """
    def write(state: dict[str, Any]) -> None:
        kept = state.setdefault("sources", {}).setdefault(source_name, {})
        current = kept.get(STATE_KEY)
        if expected is not None and (current is None or Position.from_state(current) != expected):
            raise LoadError(f"source `{source_name}`: the stored replication position moved while this run read "
                            "changes (another writer of this pipeline's state); nothing was loaded, run again")
        kept[STATE_KEY] = {"slot": slot, **new.state(), "as_of": as_of or (current or {}).get("as_of"),
                           "tables": tables}

    return write


# ---------------------------------------------------------------- tables and their hints


def _reflect(spec: PipelinesSpec, source: PgReplicationSource, source_name: str, src: SourceSession,
             tables: list[SourceTable]) -> tuple[dict[str, sa.Table], dict[str, dict[str, dict[str, Any]]]]:
    """Each table as SQLAlchemy reflects it, and the column hints the sql_database kind would give it."""
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    where = f"source `{source_name}`"
    reflected, hints = {}, {}
    with connect(src.config.uri(), spec.base_dir, where) as (conn, url):
        for t in tables:
            try:
                table = sa.Table(t.name, sa.MetaData(), schema=t.schema, autoload_with=conn)
            except DBAPIError as exc:
                error = TransientLoadError if exc.connection_invalidated else TerminalLoadError
                raise error(f"{where}: reading the columns of `{t.qualified}` failed: "
                            f"{scrub(driver_message(exc), url)}", table=t.resource) from None
            found = reflected_hints(table, conn.dialect, SqlDatabaseResource(),
                                    SourceContext(source_name, t.resource, spec.base_dir))
            for hint in found.values():
                hint.pop("primary_key", None)  # the key is the replica identity's, set on the resource
            found[LSN_COLUMN] = {"data_type": "bigint", "nullable": True}
            found[DELETED_COLUMN] = {"data_type": "timestamp", "timezone": True, "nullable": True,
                                     "hard_delete": source.deletes == "hard"}
            reflected[t.resource], hints[t.resource] = table, found
    return reflected, hints


def _resource(run: _Run, table: SourceTable, data: Any, write_disposition: Any,
              columns: Mapping[str, Mapping[str, Any]] | None = None) -> pg_assets.Resource:
    return pg_assets.resource(data, name=table.resource, write_disposition=write_disposition,
                              primary_key=list(table.key), columns=columns or run.hints[table.resource],
                              source=run.source_name)


# ---------------------------------------------------------------- the first run: a snapshot


def _snapshot(run: _Run, slot_exists: bool, why: str | None) -> LoadInfo:
    """Create the slot with an exported snapshot, load every table as of it; drop the slot on failure.

    `why` says why a source that was replicated before starts again (None: its first run).
    """
    slot = run.source.slot
    if why is not None:
        log.warning("source `%s`: loading every table again from a new snapshot of slot `%s` (%s)",
                    run.source_name, slot, why)
    if slot_exists:
        run.src.drop_slot()
    _, now = run.src.wal_position()
    repl = catalog.replication_connection(run.src.config, f"pg_assets:replication:{run.source_name}:snapshot")
    position: Position | None = None
    try:
        with repl.cursor() as cur:
            cur.execute(f"CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput EXPORT_SNAPSHOT")
            _, consistent_point, snapshot_name, _ = cur.fetchone()
        position = Position(parse_lsn(consistent_point))
        prelude = ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                   f"SET TRANSACTION SNAPSHOT {sql.text_literal(snapshot_name)}")
        url = parse_url(run.src.config.uri())
        resources = [_resource(run, t, [sql_copy.copy_rows(url, run.reflected[t.resource],
                                                           f"source `{run.source_name}`", prelude)], "replace")
                     for t in run.tables]
        return run.pipeline.run(resources, progress=run.progress,
                                on_state=_position_writer(run.source_name, slot, None, position, now,
                                                          run.resources))
    except BaseException:
        close_quietly(repl)
        _forget_slot(run, position)
        raise
    finally:
        close_quietly(repl)


def _forget_slot(run: _Run, position: Position | None) -> None:
    """After a failed first run: drop the new slot unless the load did commit (its answer was lost)."""
    try:
        saved = stored_position(run.pipeline, run.source_name)
        if position is not None and saved is not None and Position.from_state(saved) == position:
            return
        if run.src.slot() is not None:
            run.src.drop_slot()
    except Exception as exc:  # noqa: BLE001 - the next run drops a slot without a position
        log.warning("source `%s`: could not drop slot `%s` after the failed run (%s); the next run drops it",
                    run.source_name, run.source.slot, exc)


# ---------------------------------------------------------------- later runs: the changes


def _catch_up(run: _Run, position: Position, end_lsn: int, now: str) -> LoadInfo:
    """Loads of changes until the stream reached `end_lsn` (or a budget); TRUNCATEs load on their own."""
    infos = []
    while True:
        info, batch = _changes_load(run, position, end_lsn, now)
        infos.append(info)
        if batch.position.lsn > position.lsn:
            run.src.advance_slot(format_lsn(batch.position.lsn))
        more = bool(batch.truncated) or (batch.position.within is not None and batch.position != position)
        position = batch.position
        if not more:
            return combined(infos)


def _changes_load(run: _Run, position: Position, end_lsn: int, now: str) -> tuple[LoadInfo, Batch]:
    with tempfile.TemporaryDirectory(prefix="pg_assets_changes_") as folder:
        spool = Spool(Path(folder))
        try:
            batch = _read(run, position, end_lsn, spool)
        finally:
            spool.close()
        if batch.truncated:
            resources = [_resource(run, t, [], "replace") for t in run.tables if t.resource in batch.truncated]
        else:
            resources = [_resource(run, t, spool.copy_rows(t.resource), UPSERT, _with_stream_columns(run, t, batch))
                         for t in run.tables]
        info = run.pipeline.run(resources, progress=run.progress,
                                on_state=_position_writer(run.source_name, run.source.slot, position, batch.position,
                                                          now if batch.caught_up else None, run.resources))
    return info, batch


def _with_stream_columns(run: _Run, table: SourceTable, batch: Batch) -> dict[str, dict[str, Any]]:
    """The table's hints, plus text for columns the stream had that the source no longer has."""
    hints = dict(run.hints[table.resource])
    for name in batch.columns.get(table.resource, {}):
        hints.setdefault(name, {"data_type": "text", "nullable": True})
    return hints


def _read(run: _Run, position: Position, end_lsn: int, spool: Spool) -> Batch:
    dest = run.pipeline.connect()
    repl = catalog.replication_connection(run.src.config, f"pg_assets:replication:{run.source_name}")
    try:
        reader = Reader(run.tables, position, end_lsn, spool, run.src.types, _replica_lookup(dest, run.pipeline),
                        max_changes=run.source.max_changes, max_seconds=run.source.max_seconds)
        with repl.cursor() as cur:
            cur.start_replication(slot_name=run.source.slot, decode=False, start_lsn=position.lsn,
                                  options={"proto_version": "1", "publication_names": run.source.publication})
            return reader.read(cur)
    finally:
        close_quietly(repl)
        close_quietly(dest)


def _replica_lookup(dest: Any, pipeline: pg_assets.Pipeline) -> Callable[[SourceTable, str, Sequence[Any]], bytes]:
    """A value as the replica holds it, for an update that left a TOASTed value out."""
    def lookup(table: SourceTable, column: str, key: Sequence[Any]) -> bytes:
        where = " AND ".join(f"{sql.ident(normalize_identifier(k))} = %s" for k in table.key)
        statement = (f"SELECT {sql.ident(column)}::text FROM {sql.qualified(pipeline.dataset, table.resource)} "
                     f"WHERE {where}")
        with dest.cursor() as cur:
            cur.execute(statement, [None if v is None else bytes(v).decode("utf-8") for v in key])
            row = cur.fetchone()
        return NULL if row is None or row[0] is None else copy_field(row[0].encode("utf-8"))

    return lookup


def combined(infos: Sequence[LoadInfo]) -> LoadInfo:
    """Several loads of one run reported as one: the last load's ids, the rows of all of them."""
    last = infos[-1]
    tables: dict[str, TableLoad] = {}
    for info in infos:
        for name, t in info.tables.items():
            before = tables.get(name)
            tables[name] = t if before is None else dataclasses.replace(before, rows=before.rows + t.rows)
    warnings = tuple(w for info in infos for w in info.warnings)
    return dataclasses.replace(last, tables=tables, started_at=infos[0].started_at, warnings=warnings,
                               retries=sum(i.retries for i in infos))
