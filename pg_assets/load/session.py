"""One load against the destination: lock, stage in parallel, commit once, clean up.

1. Plan: take the (dataset, pipeline) run lock on the main connection, read the
   catalog and state, drop staging tables a killed run of this pipeline left behind.
2. Stage: batches go to this load's staging tables in `<dataset>_staging` (named per
   load, so no other run can ever write or move them) through the worker pool (COPY
   or INSERT ... VALUES); staging DDL runs here, on the main connection, as tables and
   columns appear.
3. Commit: one transaction takes the table locks (`locks.py`), reads the catalog again,
   creates or widens the final tables, moves every staged table into place by its
   disposition, writes `_dlt_version`, the state row and the `_dlt_loads` row. Before
   it nothing is visible; after it everything is.

The run lock lives on the main connection. If that connection is lost, the lock may
already belong to another run, which drops this load's staging tables as stale. So the
load reconnects (within the budget of `retry.py`), takes the run lock again and goes
on only when its batch ledger and every staging table it made are still there: then
no other run of the pipeline held the lock meanwhile. Otherwise it stops: nothing is
committed, and the next run starts clean. A loss during the plan just plans again.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg2

from pg_assets import sql
from pg_assets import state as state_store
from pg_assets.catalog import Catalog, read_catalog
from pg_assets.connection import ConnectionConfig, close_quietly, open_connection
from pg_assets.errors import TerminalLoadError, TransientLoadError
from pg_assets.load.dispositions import Staged, system_tables_sql
from pg_assets.load.errors import describe, is_transient
from pg_assets.load import privileges
from pg_assets.load.locks import drop_staging_schema_if_empty, holds_run_lock, with_staging_schema
from pg_assets.load.pool import Job, WorkerPool
from pg_assets.load.preflight import SessionFacts, check_server
from pg_assets.load.retry import Retries, first_line
from pg_assets.normalize.encode import Format
from pg_assets.normalize.naming import shorten
from pg_assets.normalize.rows import Batch
from pg_assets.schema import Table, backfill_root_ids, ddl_for, index_ddl
from pg_assets.stored_schema import VERSION_TABLE
from pg_assets.table_plan import TablePlan

# builds the commit's statements from the catalog as it is once the commit's locks are held
CommitBuilder = Callable[[Catalog], list[str]]

STAGING_SUFFIX = "_staging"
T = TypeVar("T")


@dataclass(frozen=True)
class Destination:
    """Where and how one pipeline loads."""

    config: ConnectionConfig
    dataset: str
    pipeline_name: str
    file_format: Format
    create_indexes: bool
    workers: int
    lock_timeout: float
    max_inflight_bytes: int = 16 << 20
    schema_name: str = ""
    """The stored schema the load updates (the pipeline name unless told otherwise)."""

    def __post_init__(self) -> None:
        if not self.schema_name:
            object.__setattr__(self, "schema_name", self.pipeline_name)

    @property
    def staging_schema(self) -> str:
        return shorten(self.dataset + STAGING_SUFFIX)

    @property
    def staging_marker(self) -> str:
        return f"pg_assets staging of pipeline {self.pipeline_name}"

    def staging_name(self, table: str, load_id: str) -> str:
        """The staging table of `table` in load `load_id`: no other run, of any pipeline, shares it."""
        tag = hashlib.sha1(f"{self.pipeline_name}\x00{load_id}".encode()).hexdigest()[:10]
        return shorten(f"{table}__stg_{tag}")


class LoadSession:
    """Holds the main connection (and the lock) for the duration of one load."""

    def __init__(self, dest: Destination, load_id: str, on_staged: Callable[[str, int], None]) -> None:
        self.dest = dest
        self.load_id = load_id
        self.retries = Retries()
        self.conn = self._open_main()
        self.staged: dict[str, Staged] = {}
        self._on_staged = on_staged
        self._pool: WorkerPool | None = None
        self._batches = 0
        self.facts: SessionFacts | None = None
        self._statement: str | None = None  # the commit statement running, for a message if it fails
        # no table name has a dash, so the ledger never shares a name with a staged table
        self.ledger = Staged(dest.staging_schema, dest.staging_name("pg_assets-batches", load_id),
                             (sql.names.LEDGER_BATCH,))

    def _open_main(self) -> Any:
        return open_connection(self.dest.config, f"pg_assets:{self.dest.pipeline_name}:{self.load_id}",
                               retries=self.retries)

    # ---- plan -----------------------------------------------------------------------------

    def begin(self, plans: list[TablePlan]) -> tuple[Catalog, dict[str, Any] | None]:
        """Check the server and the role's privileges for `plans`, take the run lock, make the batch
        ledger, read the catalog and the newest committed state.

        All of it is read again on a new connection if the connection is lost meanwhile:
        nothing has been staged yet, so planning again is safe.

        Raises:
            UnsuitableDestinationError: a hot standby, read-only sessions, transaction pooling.
            PrivilegeError: the role lacks a privilege the load is known to need.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                self.check(plans)
                return self._begin_once()
            except psycopg2.Error as exc:
                if not (self.conn.closed or is_transient(exc)):
                    raise describe(exc, action="planning the load") from None
                if not self.retries.pause("planning the load", exc, attempt):
                    raise self._kept_failing("planning", exc, attempt) from exc
                if self.conn.closed:
                    close_quietly(self.conn)
                    self.conn = self._open_main()

    def check(self, plans: list[TablePlan]) -> SessionFacts:
        """Refuse a server that cannot take the load, and a role that lacks privileges for `plans`."""
        dest = self.dest
        self.facts = check_server(self.conn, dest.config.safe_uri(), lambda: open_connection(
            dest.config, f"pg_assets:{dest.pipeline_name}:{self.load_id}:probe", retries=self.retries))
        with self.conn.cursor() as cur:
            privileges.check(cur, self.facts.database, self.facts.role, dest.dataset, dest.staging_schema, plans,
                             f"the load of pipeline `{dest.pipeline_name}` into dataset `{dest.dataset}`")
        return self.facts

    def _begin_once(self) -> tuple[Catalog, dict[str, Any] | None]:
        with self.conn.cursor() as cur:
            state_store.acquire_lock(cur, self.dest.dataset, self.dest.pipeline_name, self.dest.lock_timeout)
            self._drop_stale_staging(cur)
            self._create_ledger(cur)
            catalog = read_catalog(cur, self.dest.dataset)
            stored_state = state_store.read_state(cur, self.dest.dataset, self.dest.pipeline_name)
        return catalog, stored_state

    def _create_ledger(self, cur: Any) -> None:
        """The ledger that makes each batch's staging happen exactly once; its presence proves the lock held."""
        schema, ledger = self.ledger.schema, self.ledger.name
        # the schema's creation lock is held from the check to the ledger, so a run that ends
        # meanwhile never drops the schema in between (`locks.drop_staging_schema_if_empty`)
        with_staging_schema(cur.connection, schema, [sql.drop_table(schema, ledger),
                                                     self._marked([sql.create_ledger(schema, ledger)], ledger)])

    def _drop_stale_staging(self, cur: Any) -> None:
        cur.execute(sql.MARKED_TABLES, (self.dest.staging_schema, self.dest.staging_marker))
        for (name,) in cur.fetchall():
            cur.execute(sql.drop_table(self.dest.staging_schema, name))

    # ---- stage ----------------------------------------------------------------------------

    def start_pool(self) -> None:
        """Start the workers, each opening its own connection when it gets its first batch."""
        connect = lambda: open_connection(  # noqa: E731
            self.dest.config, f"pg_assets:{self.dest.pipeline_name}:{self.load_id}:worker", autocommit=False,
            retries=self.retries)
        self._pool = WorkerPool(connect, self.dest.workers, max_inflight_bytes=self.dest.max_inflight_bytes,
                                on_done=lambda job: self._on_staged(job.table, job.rows), retries=self.retries,
                                describe=self._describe)

    def stage(self, batch: Batch, logged: bool) -> None:
        """Make sure the staging table has the batch's columns, then queue the batch.

        `logged` staging tables are WAL-logged so the commit can make them final tables
        (`dispositions.adopt_sql`); the others are unlogged, as their rows are copied once more.
        """
        staged = self._ensure_staging(batch, logged)
        fmt = self.dest.file_format
        names = [c.name for c in batch.columns]
        if fmt.name == "copy" or batch.wire is not None:
            statement = sql.copy_from_stdin(staged.schema, staged.name, names, binary=batch.wire == "binary")
            write = _copy_job(statement, batch.payload)
        else:
            write = _insert_job(sql.insert_values_head(staged.schema, staged.name, names), batch.payload)
        self._batches += 1
        pool = self._pool
        assert pool is not None
        job = Job(batch.table, batch.rows, batch.nbytes, _once(self.ledger.ref, self._batches, write))
        self._unless_staging_lost(lambda: pool.submit(job))

    def _ensure_staging(self, batch: Batch, logged: bool) -> Staged:
        staged = self.staged.get(batch.table)
        names = tuple(c.name for c in batch.columns)
        if staged is not None and (staged.columns == names or set(names) <= set(staged.columns)):
            return staged
        schema, name = self.dest.staging_schema, self.dest.staging_name(batch.table, self.load_id)
        if staged is None:
            statements = [sql.drop_table(schema, name), self._marked(ddl_for(
                schema, Table(name), list(batch.columns), exists=False, unlogged=not logged, constraints=False), name)]
        else:  # ADD COLUMN IF NOT EXISTS: a retry after a lost reply runs again harmlessly
            added = [c for c in batch.columns if c.name not in staged.columns]
            statements = ddl_for(schema, Table(name), added, exists=True, constraints=False)
            # columnar batches may bring any subset of the columns: the staging table has them all
            names = staged.columns + tuple(c.name for c in added)
        self.on_main(f"creating the staging table of `{batch.table}`", lambda cur: _run_all(cur, statements))
        staged = self.staged[batch.table] = Staged(schema, name, names, logged if staged is None else staged.logged)
        return staged

    def _marked(self, create: list[str], name: str) -> str:
        """CREATE a staging table and mark it as this pipeline's, as one implicit transaction.

        A run killed in between would otherwise leave an unmarked table that no later run
        knows to drop (staging names are per load, so nothing reuses the name).
        """
        schema = self.dest.staging_schema
        return "; ".join([*create, sql.comment_on_table(schema, name, self.dest.staging_marker)])

    def wait_staged(self) -> None:
        """Block until every queued batch is in its staging table."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            self._unless_staging_lost(pool.join)

    def _unless_staging_lost(self, call: Callable[[], None]) -> None:
        """`call()`, a worker's failure included; when it failed because another run took the run lock and
        dropped this load's staging tables (the main connection was cut meanwhile), the promised
        `TransientLoadError` instead of the missing relation the worker saw."""
        try:
            call()
        except TerminalLoadError:
            refs = [self.ledger.ref, *(s.ref for s in self.staged.values())]
            intact = self.on_main("checking the staged rows", lambda cur: _all_exist(cur, refs))
            if not intact:
                raise self._lost_run_lock() from None
            raise

    # ---- commit ---------------------------------------------------------------------------

    def commit(self, catalog: Catalog, locks: list[str], build: CommitBuilder, action: str = "committing",
               views_on: Sequence[str] = ()) -> None:
        """Take `locks`, re-read the catalog, run what `build` makes of it, all in one transaction.

        Any failure rolls everything back. A transient failure (deadlock, serialization
        failure, lost connection) is retried a bounded number of times; the statements are
        built again each time, from the catalog as it is then. After a lost connection the
        commit may have gone through before the reply was lost, so the `_dlt_loads` row of
        this load decides: if it is there, the load is done and nothing runs twice.
        The catalog `build` gets holds the views over the tables `views_on`, read under the locks.
        """
        held = self.on_main(action, lambda cur: holds_run_lock(cur, self.dest.dataset, self.dest.pipeline_name))
        if not held:
            raise self._lost_run_lock()
        attempt = 0
        while True:
            attempt += 1
            try:
                if self.conn.closed and self._reattach():
                    return  # the earlier attempt committed; only its reply was lost
                self._commit_once(catalog, locks, build, views_on)
                return
            except psycopg2.Error as exc:
                if not (self.conn.closed or is_transient(exc)):
                    raise self._describe(exc, action=action, statement=self._statement) from None
                if not self.retries.pause(f"{action} load {self.load_id}", exc, attempt):
                    raise self._kept_failing(action, exc, attempt) from exc

    def on_main(self, action: str, work: Callable[[Any], T]) -> T:
        """`work(cursor)` on the main connection, which holds the run lock; retried after transient faults.

        After a lost connection the work goes on only once `_reattach` has the run lock
        again and found this load's staging intact, so `work` must be safe to run twice.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                if self.conn.closed:
                    self._reattach()
                with self.conn.cursor() as cur:
                    return work(cur)
            except psycopg2.Error as exc:
                if not (self.conn.closed or is_transient(exc)):
                    raise self._describe(exc, action=action) from None
                if not self.retries.pause(action, exc, attempt):
                    raise self._kept_failing(action, exc, attempt) from exc

    def _describe(self, exc: BaseException, *, action: str, table: str | None = None,
                  statement: str | None = None) -> TerminalLoadError:
        """`describe` with this session's `statement_timeout`, so a cancelled statement names it."""
        timeout = self.facts.statement_timeout if self.facts else None
        return describe(exc, table=table, action=action, statement=statement, statement_timeout=timeout)

    def _kept_failing(self, action: str, exc: BaseException, attempts: int) -> TransientLoadError:
        if self.conn.closed:
            return self._lost_run_lock()
        return TransientLoadError(f"{action} load {self.load_id} kept failing after {attempts} attempts: "
                                  f"{first_line(exc)}", load_id=self.load_id)

    def _lost_run_lock(self) -> TransientLoadError:
        return TransientLoadError(
            f"Load {self.load_id} of pipeline `{self.dest.pipeline_name}` lost the connection that holds its run "
            "lock before it could commit, and could not take it back with its staged rows intact. Nothing was "
            "committed and the cursors did not move; run it again.",
            load_id=self.load_id)

    def _commit_once(self, catalog: Catalog, locks: list[str], build: CommitBuilder,
                     views_on: Sequence[str]) -> None:
        self.conn.autocommit = False
        try:
            with self.conn.cursor() as cur:
                for stmt in locks:
                    cur.execute(stmt)
                for stmt in build(catalog.refreshed(cur, views_on)):
                    self._statement = stmt
                    cur.execute(stmt)
                self._statement = None
            self.conn.commit()
        except BaseException:
            if not self.conn.closed:
                self.conn.rollback()
            raise
        finally:
            if not self.conn.closed:
                self.conn.autocommit = True

    def _reattach(self) -> bool:
        """A new main connection holding the run lock; True when this load turns out to be committed already.

        Raises:
            TransientLoadError: the load is not committed and its ledger or staged rows are
                gone (a run that took the lock meanwhile dropped them).
        """
        close_quietly(self.conn)
        self.conn = self._open_main()
        with self.conn.cursor() as cur:
            state_store.acquire_lock(cur, self.dest.dataset, self.dest.pipeline_name, self.dest.lock_timeout)
            cur.execute(sql.REGCLASS, (sql.qualified(self.dest.dataset, state_store.LOADS_TABLE),))
            if cur.fetchone()[0] is not None:
                cur.execute(sql.load_committed(self.dest.dataset, state_store.LOADS_TABLE), (self.load_id,))
                if cur.fetchone() is not None:
                    return True
            if not _all_exist(cur, [self.ledger.ref, *(s.ref for s in self.staged.values())]):
                raise TransientLoadError(
                    f"Load {self.load_id} of pipeline `{self.dest.pipeline_name}` lost its connection, and its "
                    "staged rows are gone. Nothing was committed; run it again.", load_id=self.load_id)
        return False

    def final_ddl(self, tables: Mapping[str, Table], catalog: Catalog) -> list[str]:
        """Schema and system tables when missing, new final tables and columns, their key indexes."""
        ds = self.dest.dataset
        existing = catalog.tables(self.dest.schema_name)
        # CREATE SCHEMA only when missing: even with IF NOT EXISTS it needs the database's CREATE
        schema = [] if catalog.schema_exists else [sql.create_schema(ds)]
        out = [] if catalog.has_system_tables() else [*schema, *system_tables_sql(ds, self.dest.create_indexes)]
        for table in tables.values():
            have = existing[table.name].columns if table.name in existing else {}
            added = [c for n, c in table.columns.items() if n not in have]
            out.extend(ddl_for(ds, table, added, exists=table.name in existing, constraints=self.dest.create_indexes))
            out.extend(index_ddl(ds, table, create_indexes=self.dest.create_indexes, only=added))
        return out + backfill_root_ids(ds, tables, existing)

    def close(self) -> None:
        """Drop this load's staging tables, then the staging schema if nothing else is left in it,
        and release the lock (closing the connection does that)."""
        if self._pool is not None:
            self._pool.abort()
        try:
            with self.conn.cursor() as cur:
                for staged in [*self.staged.values(), self.ledger]:
                    cur.execute(sql.drop_table(staged.schema, staged.name))
            staging = self.dest.staging_schema
            drop_staging_schema_if_empty(self.conn, staging, system_tables_sql(
                staging, self.dest.create_indexes, [VERSION_TABLE]))
        except psycopg2.Error:
            pass  # the next run of this pipeline drops what is left
        finally:
            close_quietly(self.conn)


def _all_exist(cur: Any, refs: list[str]) -> bool:
    cur.execute(sql.ALL_REGCLASSES, (refs,))
    return bool(cur.fetchone()[0])


def _run_all(cur: Any, statements: list[str]) -> None:
    for statement in statements:
        cur.execute(statement)


def _once(ledger: str, batch: int, write: Callable[[Any], None]) -> Callable[[Any, bool], None]:
    """Write a batch and record it in the ledger, in one transaction; a retry skips a recorded batch."""
    def run(cur: Any, retry: bool) -> None:
        if retry:
            cur.execute(sql.ledger_has(ledger), (batch,))
            if cur.fetchone() is not None:
                return  # the earlier attempt committed; only its reply was lost
        write(cur)
        cur.execute(sql.ledger_add(ledger), (batch,))

    return run


def _copy_job(statement: str, payload: bytes) -> Callable[[Any], None]:
    def run(cur: Any) -> None:
        cur.copy_expert(statement, io.BytesIO(payload), size=1 << 16)

    return run


def _insert_job(head: str, payload: bytes) -> Callable[[Any], None]:
    statement = head.encode("utf-8")

    def run(cur: Any) -> None:
        cur.execute(statement + payload)

    return run
