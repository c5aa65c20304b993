"""The only orchestrator: sources -> normalize -> load -> commit.

`Pipeline.run` streams every resource's items through the normalizer into staging
tables (in parallel, through the worker pool), then commits the whole load, all
tables, `_dlt_loads` row and state, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pg_assets import state as state_store
from pg_assets import stored_schema
from pg_assets.connection import ConnectionConfig, open_connection
from pg_assets.destination import resolve_credentials
from pg_assets.dependents import swap_blockers
from pg_assets.errors import ConfigError, DependentObjectsError
from pg_assets.incremental import BOUNDARY_WARN_AT, CursorFilter, bound
from pg_assets.info import LoadInfo, ProgressEvent, TableLoad
from pg_assets.stored_schema import schema_name_problem
from pg_assets.catalog import Catalog
from pg_assets.load import commit_steps
from pg_assets.load.errors import as_error
from pg_assets.load.locks import commit_locks
from pg_assets.load.merge import key_warning
from pg_assets.load.preflight import SessionFacts
from pg_assets.load.session import Destination, LoadSession
from pg_assets.normalize.copy_rows import CopyRows
from pg_assets.normalize.encode import FORMATS
from pg_assets.normalize.naming import normalize_dataset_name, normalize_schema_name
from pg_assets.normalize.rows import ROOT_ID, Normalizer
from pg_assets.table_plan import TablePlan
from pg_assets.normalize.types import SCALAR_TYPES
from pg_assets.table_plan import parse_contract, plan_resource
from pg_assets.resource import Resource, is_columnar, resource
from pg_assets.schema import Column, Table, chain, needs_root_ids, root_of
from pg_assets.vocabulary import DEFAULT_FILE_FORMAT, DEFAULT_REPLACE_STRATEGY, FILE_FORMATS, REPLACE_STRATEGIES

log = logging.getLogger("pg_assets")

_last_load_id = 0.0
_load_id_lock = threading.Lock()


def new_load_id() -> str:
    """A dlt-style load id: seconds since the epoch, strictly increasing within the process."""
    global _last_load_id
    with _load_id_lock:
        now = max(time.time(), _last_load_id + 1e-6)
        _last_load_id = now
    return f"{now:.6f}"


class Pipeline:
    """Loads data into one dataset (a Postgres schema) of one destination.

    Args:
        name: the pipeline name; state and the run lock are kept per (dataset, name).
        dataset: the Postgres schema, normalised to snake_case (default `<name>_dataset`).
        credentials: a URI, a mapping of fields, a `ConnectionConfig`, or None for the
            environment / `.pg_assets/secrets.toml` / the embedded server.
        file_format: `insert_values` (default) or `copy`.
        create_indexes: UNIQUE indexes for `unique` hints, `_dlt_id` included.
        workers: threads staging batches in parallel, each with its own connection.
        replace_strategy: default strategy of `replace` resources.
        lock_timeout: seconds to wait for another run of the same pipeline.
        schema_contract: the default `schema_contract` of every resource (`evolve`, `freeze`,
            `discard_row`, `discard_value`, or a mapping of `tables` / `columns` / `data_type`
            to one of them); a resource's own contract wins per entity.
        schema_name: the stored schema this pipeline updates, and the `sources.<name>` key of
            its state: dlt's source (schema) name, `@dlt.source(name=...)`. Defaults to the
            pipeline name in snake case, which is what dlt uses for data passed to `run()`
            without a source.
    """

    def __init__(self, name: str, dataset: str | None = None, credentials: Any = None, *,
                 file_format: str = DEFAULT_FILE_FORMAT, create_indexes: bool = True, workers: int = 20,
                 replace_strategy: str = DEFAULT_REPLACE_STRATEGY, lock_timeout: float = 600.0,
                 batch_bytes: int | None = None, schema_contract: str | Mapping[str, str] | None = None,
                 schema_name: str | None = None) -> None:
        _check_choice("file_format", file_format, FILE_FORMATS)
        _check_choice("replace_strategy", replace_strategy, REPLACE_STRATEGIES)
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"`workers` must be a whole number of at least 1, not {workers!r}")
        if not isinstance(name, str) or not name.strip() or "\x00" in name:
            raise ConfigError(f"a pipeline name must be non-empty text without NUL bytes, got {name!r}")
        if dataset is not None and (not isinstance(dataset, str) or not dataset.strip() or "\x00" in dataset):
            raise ConfigError(f"a dataset name must be non-empty text without NUL bytes, got {dataset!r}")
        if schema_name is not None and schema_name_problem(schema_name):
            raise ConfigError(f"`schema_name`: {schema_name_problem(schema_name)}")
        self.name = name
        self.schema_name = schema_name or normalize_schema_name(name)
        self.dataset = normalize_dataset_name(dataset or f"{name}_dataset")
        self.file_format = file_format
        self.create_indexes = bool(create_indexes)
        self.workers = workers
        self.replace_strategy = replace_strategy
        self.lock_timeout = lock_timeout
        parse_contract(schema_contract, "pipeline")  # fail here, not at the first run
        self.schema_contract = schema_contract
        self.batch_bytes = batch_bytes or (1 << 20)
        self._credentials = credentials
        self._config: ConnectionConfig | None = None

    def __repr__(self) -> str:
        if self.schema_name != self.name:
            return f"Pipeline(name={self.name!r}, dataset={self.dataset!r}, schema_name={self.schema_name!r})"
        return f"Pipeline(name={self.name!r}, dataset={self.dataset!r})"

    @property
    def config(self) -> ConnectionConfig:
        """The resolved destination (resolving starts the embedded server when needed)."""
        if self._config is None:
            self._config = resolve_credentials(self._credentials)
        return self._config

    def connect(self) -> Any:
        """A new autocommit psycopg2 connection to the destination, for reading results."""
        return open_connection(self.config, f"pg_assets:{self.name}:read")

    def run(self, data: Iterable[Any] | Resource | list[Resource], table_name: str | None = None, *,
            write_disposition: str | Mapping[str, Any] = "append", primary_key: Any = None, merge_key: Any = None,
            columns: Mapping[str, Mapping[str, Any]] | None = None, max_table_nesting: int | None = None,
            incremental: Any = None, schema_contract: Any = None, add_dlt_load_id: bool = True,
            add_dlt_id: bool = True, progress: Callable[[ProgressEvent], None] | None = None,
            on_state: Callable[[dict[str, Any]], None] | None = None) -> LoadInfo:
        """Load `data` (or several `Resource`s) in one all-or-nothing load.

        `data` holds dicts, Arrow tables or record batches, pandas or polars DataFrames,
        or any mix of them (see `resource`); one table or DataFrame may be passed alone.
        `on_state`, when given, is called with the load's state after every item was read
        and may change it: what it writes commits with the rows (a change stream's position).

        Examples:
            >>> p = pipeline("chess", dataset="chess_data")                     # doctest: +SKIP
            >>> p.run([{"id": 1, "games": [{"id": 7}]}], table_name="players")  # doctest: +SKIP
        """
        resources = _as_resources(data, table_name, dict(
            write_disposition=write_disposition, primary_key=primary_key, merge_key=merge_key, columns=columns,
            max_table_nesting=max_table_nesting, incremental=incremental, schema_contract=schema_contract,
            add_dlt_load_id=add_dlt_load_id, add_dlt_id=add_dlt_id))
        # run()'s contract overrides the resources' own (for plain data it already is the resource's)
        plans = [plan_resource(r, self.replace_strategy, self.schema_contract, schema_contract) for r in resources]
        with driver_errors_mapped("loading"):
            return _Load(self, resources, plans, progress, on_state).run()

    def check(self, data: Resource | list[Resource]) -> SessionFacts:
        """Check, loading nothing, that a load of `data` can run: the server and the role's privileges.

        The same checks a load makes before it stages a row: a hot standby, read-only sessions
        or transaction pooling are refused, and every privilege the role lacks is named with
        its GRANT. Returns what the server said of the session (role, database, limits).

        Raises:
            UnsuitableDestinationError: the destination cannot take a load as connected.
            PrivilegeError: the role lacks privileges the load needs.

        Examples:
            >>> p = pipeline("shop", credentials="postgresql://loader@db/dw")  # doctest: +SKIP
            >>> p.check(resource([], name="orders", write_disposition="merge", primary_key="id"))  # doctest: +SKIP
        """
        resources = _as_resources(data, None, {})
        plans = [plan_resource(r, self.replace_strategy, self.schema_contract) for r in resources]
        with driver_errors_mapped("checking the destination"):
            session = LoadSession(self._destination(), new_load_id(), lambda table, rows: None)
            try:
                return session.check(plans)
            finally:
                session.close()

    def _destination(self) -> Destination:
        return Destination(self.config, self.dataset, self.name, FORMATS[self.file_format], self.create_indexes,
                           self.workers, self.lock_timeout, schema_name=self.schema_name)

    def state(self) -> dict[str, Any] | None:
        """The newest committed pipeline state in the destination."""
        with driver_errors_mapped("reading the state"):
            return self._state()

    def _state(self) -> dict[str, Any] | None:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                return state_store.read_state(cur, self.dataset, self.name)
        finally:
            conn.close()


@contextmanager
def driver_errors_mapped(action: str) -> Iterator[None]:
    """No driver error leaves the Python API: each becomes its `PgAssetsError` (`load/errors.py`)."""
    import psycopg2

    try:
        yield
    except psycopg2.Error as exc:
        raise as_error(exc, action=action) from exc


def pipeline(pipeline_name: str, dataset: str | None = None, credentials: Any = None, **options: Any) -> Pipeline:
    """Create a pipeline; see `Pipeline` for the options.

    Examples:
        >>> p = pipeline("chess", dataset="Chess-Data")
        >>> p.dataset
        'chess_data'
    """
    return Pipeline(pipeline_name, dataset, credentials, **options)


def _adoptable(plan: TablePlan, table: str, stored: Mapping[str, Table]) -> bool:
    """Whether the commit may make `table`'s staging table the final table (so stage it WAL-logged).

    `staging-optimized` always does; an append or replace does when the table is new. The
    commit checks again that the table is still absent, else copies the rows as usual.
    """
    if plan.strategy == "staging-optimized":
        return True
    return plan.write_disposition in ("append", "replace") and table not in stored


def _check_choice(key: str, value: Any, allowed: Iterable[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"`{key}` must be one of {', '.join(f'`{a}`' for a in allowed)}, not `{value}`")


def _as_resources(data: Any, table_name: str | None, options: dict[str, Any]) -> list[Resource]:
    if isinstance(data, Resource):
        return [data]
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, Resource) for r in data):
        return list(data)
    if table_name is None:
        raise ConfigError("run() needs `table_name=` when given plain data (or pass pg_assets.resource(...) objects)")
    return [resource(data, name=table_name, **options)]


class _Load:
    """One run of a pipeline: the streaming loop, progress and the commit."""

    def __init__(self, p: Pipeline, resources: list[Resource], plans: list[TablePlan],
                 progress: Callable[[ProgressEvent], None] | None,
                 on_state: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.p = p
        self.on_state = on_state
        self.resources = resources
        self.plans = plans
        self.by_root = {plan.root: plan for plan in plans}
        self.progress = progress
        self.load_id = new_load_id()
        self.staged_rows: dict[str, int] = {}
        self._rows_lock = threading.Lock()
        self.started = time.monotonic()
        self._last_report = 0.0
        self.warnings: list[str] = [w for w in map(key_warning, plans) if w]
        for warning in self.warnings:
            log.warning(warning)

    def run(self) -> LoadInfo:
        started_at = dt.datetime.now(dt.timezone.utc)
        dest = self.p._destination()
        _refuse_shared_tables(self.plans)
        session = LoadSession(dest, self.load_id, self._on_staged)
        try:
            catalog, stored_state = session.begin(self.plans)
            stored = catalog.tables(self.p.schema_name)
            _refuse_unswappable(session, self.plans, stored)
            state = state_store.clone(stored_state) if stored_state else state_store.new_state(
                self.p.name, self.p.dataset, self.p.schema_name)
            state_store.add_schema_name(state, self.p.schema_name)
            state_store.touch_replaced_sources(state, [r.source or self.p.schema_name for r in self.resources
                                                       if r.write_disposition == "replace"])
            previous_hash = state.get("_version_hash")
            live = {n: t.copy() for n, t in stored.items()}
            t0 = time.monotonic()
            root_ids = _roots_with_root_ids(self.plans, stored, catalog.document(self.p.schema_name))
            normalizer = self._stream(session, live, stored, state, root_ids, catalog.numeric_limits())
            if self.on_state is not None:
                self.on_state(state)
            _add_root_id_columns(live, root_ids)
            t1 = time.monotonic()
            fed = {name for name, rows in normalizer.rows.items() if rows}
            tail = commit_steps.bookkeeping(dest, self.load_id, self.plans, live, catalog, state, previous_hash,
                                           started_at.isoformat(), fed)
            locks = commit_locks(dest.dataset, self.plans, live, stored,
                                 creates_dataset=not catalog.has_system_tables())

            def build(now: Catalog) -> list[str]:
                existing = set(now.columns)
                return session.final_ddl(live, now) + commit_steps.disposition_statements(
                    dest, self.plans, live, existing, session.staged, started_at.isoformat(), now.views,
                    now.access) + tail

            session.commit(catalog, locks, build, views_on=commit_steps.swapped_tables(self.plans, live))
            t2 = time.monotonic()
        finally:
            session.close()
        self._report()
        timings = {"extract_normalize_load": t1 - t0, "commit": t2 - t1, "total": t2 - self.started}
        return self._info(dest, normalizer, live, timings, started_at, session.retries.count)

    def _stream(self, session: LoadSession, live: dict[str, Table], stored: dict[str, Table],
                state: dict[str, Any], root_ids: frozenset[str],
                numeric: Mapping[tuple[str, str], tuple[int | None, int | None]]) -> Normalizer:
        def emit(batch: Any) -> None:
            plan = self.by_root[root_of(live, batch.table)]
            session.stage(batch, logged=_adoptable(plan, batch.table, stored))

        normalizer = Normalizer(live, stored, FORMATS[self.p.file_format], self.load_id, emit,
                                batch_bytes=self.p.batch_bytes, create_indexes=self.p.create_indexes,
                                root_ids=root_ids, numeric=numeric)
        session.start_pool()
        for res, plan in zip(self.resources, self.plans):
            with self._bound_cursor(res, state) as cursor:
                self._read(res, plan, normalizer, cursor)
            if cursor is not None:
                self._store_cursor(res, plan, state, cursor)
        normalizer.flush_all()
        session.wait_staged()
        self.warnings.extend(normalizer.warnings)
        return normalizer

    @staticmethod
    def _add_columnar(normalizer: Normalizer, plan: TablePlan, cursor: CursorFilter | None, item: Any) -> None:
        from pg_assets.normalize.columnar import record_batches

        for batch in record_batches(item):
            normalizer.add_columnar(plan, batch if cursor is None else cursor.keep_batch(batch))

    def _read(self, res: Resource, plan: TablePlan, normalizer: Normalizer, cursor: CursorFilter | None) -> None:
        """Every item of one resource into the normalizer, filtered by its cursor."""
        for item in _items(res):
            if type(item) is dict:  # the common case tested first: no isinstance chain per row
                if cursor is None or cursor.keep(item):
                    normalizer.add(plan, item)
            elif isinstance(item, CopyRows):  # a Postgres source's own COPY output (no cursor to keep)
                normalizer.add_copy(plan, item)
            elif is_columnar(item):
                self._add_columnar(normalizer, plan, cursor, item)
            elif cursor is None or cursor.keep(item):
                normalizer.add(plan, item)
            if time.monotonic() - self._last_report > 1.0:
                self._report()

    @contextmanager
    def _bound_cursor(self, res: Resource, state: dict[str, Any]) -> Iterator[CursorFilter | None]:
        """The resource's cursor, bound to the stored state while its items are read (None without one).

        The caller's `Incremental` is left as it was: the cursor filters through a bound copy
        (`incremental.bound`).
        """
        if res.incremental is None:
            yield None
            return
        rstate = state_store.resource_state(state, res.source or self.p.schema_name, res.name)
        stored = rstate.get("incremental", {}).get(res.incremental.cursor_path, {})
        with bound(res.incremental, stored, rstate.setdefault("source_state", {})) as inc:
            yield CursorFilter(inc, res.name, res.primary_key)

    def _store_cursor(self, res: Resource, plan: TablePlan, state: dict[str, Any], cursor: CursorFilter) -> None:
        saved = cursor.state()
        if saved is None:  # a window (`end_value`) leaves the stored cursor alone
            return
        rstate = state_store.resource_state(state, res.source or self.p.schema_name, res.name)
        rstate.setdefault("incremental", {})[cursor.inc.cursor_path] = saved
        if len(saved["unique_hashes"]) > BOUNDARY_WARN_AT:
            msg = (f"Resource `{res.name}`: {len(saved['unique_hashes'])} items share the cursor value "
                   f"{saved['last_value']!r}; their keys are kept in the state to skip them next run. Use a "
                   f"finer-grained `cursor_path` to keep the state small.")
            log.warning(msg)
            self.warnings.append(msg)

    def _on_staged(self, table: str, rows: int) -> None:
        with self._rows_lock:
            self.staged_rows[table] = self.staged_rows.get(table, 0) + rows

    def _report(self) -> None:
        self._last_report = time.monotonic()
        if self.progress is None:
            return
        seconds = self._last_report - self.started
        with self._rows_lock:
            counts = dict(self.staged_rows)
        for table, rows in counts.items():
            self.progress(ProgressEvent(table, rows, seconds))

    def _info(self, dest: Destination, normalizer: Normalizer, live: dict[str, Table],
              timings: dict[str, float], started_at: dt.datetime, retries: int) -> LoadInfo:
        tables = {}
        for name, rows in normalizer.rows.items():
            root = root_of(live, name)
            plan = self.by_root[root]
            tables[name] = TableLoad(name, root, live[name].parent, rows, plan.write_disposition)
        for plan in self.plans:  # resources that yielded nothing still report their table
            tables.setdefault(plan.root, TableLoad(plan.root, plan.root, None, 0, plan.write_disposition))
        return LoadInfo(self.p.name, self.p.dataset, dest.config.database, self.load_id, tables, timings,
                        started_at.isoformat(), dt.datetime.now(dt.timezone.utc).isoformat(),
                        dest.config.safe_uri(), tuple(self.warnings), retries)


def _refuse_shared_tables(plans: list[TablePlan]) -> None:
    """Two resources of one load that write one table (`My-Table` and `my_table` both become `my_table`)
    would each stage it and the second would find the first's staging gone: refused before anything runs."""
    first: dict[str, TablePlan] = {}
    for plan in plans:
        other = first.setdefault(plan.root, plan)
        if other is not plan:
            raise ConfigError(
                f"The resources `{other.resource}` and `{plan.resource}` both load table `{plan.root}` (names are "
                "normalised to snake_case); one load writes a table from one resource: rename one of them, or "
                "yield both kinds of item from one resource.")


def _refuse_unswappable(session: LoadSession, plans: list[TablePlan], stored: Mapping[str, Table]) -> None:
    """Before staging: a `staging-optimized` replace whose tables have dependents it cannot create again
    (see `dependents`) is refused, naming each of them."""
    swapped = commit_steps.swapped_tables(plans, stored)
    if not swapped:
        return
    ds = session.dest.dataset
    found = session.on_main("checking what depends on the tables to replace",
                            lambda cur: swap_blockers(cur, ds, swapped))
    if found:
        raise DependentObjectsError(
            "`replace_strategy: staging-optimized` swaps in new tables for " + ", ".join(f"`{n}`" for n in swapped)
            + ", and keeps the views over them, but these objects cannot be kept:\n  " + "\n  ".join(found)
            + "\nDrop them, or use `replace_strategy: truncate-and-insert` or `insert-from-staging`, which keep "
            "the tables. Nothing was loaded.", table=swapped[0])


def _roots_with_root_ids(plans: list[TablePlan], stored: Mapping[str, Table],
                         doc: Mapping[str, Any] | None) -> frozenset[str]:
    """The roots of this load whose child rows carry `_dlt_root_id` (`schema.needs_root_ids`, and
    the roots the stored schema already propagates it for)."""
    everywhere, propagated = stored_schema.root_key_everywhere(doc), stored_schema.propagated_roots(doc)
    return frozenset(p.root for p in plans if p.root in propagated or needs_root_ids(
        stored, p.root, p.strategy if p.write_disposition == "merge" else None, everywhere))


def _add_root_id_columns(live: dict[str, Table], roots: frozenset[str]) -> None:
    """Every child table below `roots` needs `_dlt_root_id`, even one this load did not write to
    (tables loaded before the resource became a merge get it added and back-filled)."""
    for root in roots:
        if root not in live:
            continue
        for name in chain(live, root)[1:]:
            live[name].columns.setdefault(ROOT_ID, Column(ROOT_ID, "text", nullable=False))


def _items(res: Resource) -> Iterable[Any]:
    """Items of a resource: dicts, columnar items and COPY text as they come, pages (lists) flattened,
    scalars wrapped as `{"value": x}`; anything else is refused, never stored as text."""
    for item in res.iter_data():
        if type(item) is dict or isinstance(item, (Mapping, CopyRows)) or is_columnar(item):
            yield item
        elif isinstance(item, (list, tuple)):
            for sub in item:  # `type(sub) is dict` first: the ABC check costs more than the row's own work
                yield sub if type(sub) is dict or isinstance(sub, Mapping) or is_columnar(sub) else _scalar(res, sub)
        elif item is not None:
            yield _scalar(res, item)


def _scalar(res: Resource, value: Any) -> Mapping[str, Any]:
    if value is None or isinstance(value, SCALAR_TYPES):
        return {"value": value}
    kind = type(value)
    raise ConfigError(
        f"Resource `{res.name}` produced an item of type `{kind.__module__}.{kind.__qualname__}`, which pg_assets "
        "cannot load. Yield dicts (or pages of dicts), pyarrow tables or record batches, or pandas or polars "
        "DataFrames.")
