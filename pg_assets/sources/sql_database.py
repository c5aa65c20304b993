"""`kind: sql_database`: tables and queries of another database (Postgres, MySQL/MariaDB,
SQLite, any SQLAlchemy URL).

```yaml
crm:
  kind: sql_database
  credentials: ${CRM_DATABASE_URL}
  schema: public
  dataset: crm_raw
  resources:
    customers: {write_disposition: merge, incremental: {cursor_path: updated_at}}
    order_lines: {table: orderlines}
    gold_accounts: {query: "select * from accounts where tier = 'gold'"}
```

Before a run (`prepare`, never at definition time) the table is reflected: its column
types, nullability and primary key become column hints under the resource's own, so
the destination gets `numeric(12,2)` for `numeric(12,2)`. An unreachable source, a
missing table, a query that does not run and a type without a mapping all fail there,
before anything is written.

The run streams rows through a server-side cursor, `chunk_size` at a time. With
`incremental`, the cursor bounds are bound parameters of the query (`cursor >= :start`,
`cursor < :end`); the rows at the stored boundary are read again and the engine drops
the ones already loaded by their stored hashes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from pydantic import ConfigDict, Field, PositiveInt
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError

from pg_assets.errors import ConfigError, CredentialsError, TerminalLoadError, TransientLoadError, did_you_mean
from pg_assets.incremental import as_cursor_type
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.normalize.sql_types import column_hint, type_name
from pg_assets.sources import sql_copy
from pg_assets.sources.base import CheckContext, Problem, SourceContext, SourceKind
from pg_assets.sources.sql_connect import (create_engine, display_location, driver_message, parse_url, scrub,
                                           table_uri)
from pg_assets.sources.sql_result_types import described
from pg_assets.spec.models import Name, ResourceSpec, SourceSpec

if TYPE_CHECKING:
    from pg_assets.sources.sql_arrow import ArrowColumn

DEFAULT_CHUNK_SIZE = 50_000
Row = Sequence[Any]


class SqlDatabaseResource(ResourceSpec):
    table: str | None = None
    """The source table; the resource name by default."""
    query: str | None = None
    """A SELECT whose rows are loaded, instead of a table."""


class SqlDatabaseSource(SourceSpec):
    model_config = ConfigDict(populate_by_name=True)
    resource_model = SqlDatabaseResource

    kind: Literal["sql_database"]
    """`sql_database`."""
    credentials: str = Field(min_length=1, repr=False)
    """A SQLAlchemy URL: `postgresql://`, `mysql+pymysql://`, `sqlite:///path.db`...; write `${VAR}`."""
    source_schema: str | None = Field(default=None, alias="schema")
    """The source schema (Postgres schema, MySQL database); the connection's default when omitted."""
    chunk_size: PositiveInt = DEFAULT_CHUNK_SIZE
    """Rows fetched at a time from the server-side cursor."""
    defaults: SqlDatabaseResource = Field(default_factory=SqlDatabaseResource)
    """Options every resource of the source starts from."""
    resources: dict[Name, SqlDatabaseResource] = Field(min_length=1)
    """The tables: one resource each, by name."""

    def source_options(self) -> dict[str, Any]:
        """The source options that decide a load, without the credentials (they may hold a password)."""
        return {k: v for k, v in super().source_options().items() if k != "credentials"}

    def asset_uri(self, name: str) -> str | None:
        """`<dialect>://<host or socket dir>/<db>/<schema>.<table>`, never a user or password."""
        try:
            url = parse_url(self.credentials)
        except ConfigError:
            return None
        resource = self.resolved(name)
        if resource.query:
            return display_location(url)
        return table_uri(url, self.source_schema, resource.table or name)


# ---------------------------------------------------------------- checks (no connection)


def check(source: SqlDatabaseSource, name: str, resource: SqlDatabaseResource,
          context: CheckContext) -> Iterator[Problem]:
    if resource.table and resource.query:
        yield ("query",), "give `table` or `query`, not both"
    if source is not None and "${" not in source.credentials:
        try:
            parse_url(source.credentials)
        except ConfigError as exc:
            yield ("credentials",), str(exc)


# ---------------------------------------------------------------- before the run: reflection


def _where(context: SourceContext) -> str:
    return f"source `{context.source_name}`, resource `{context.resource_name}`"


@contextmanager
def connect(credentials: str, base_dir: Path | None, where: str) -> Iterator[tuple[Connection, URL]]:
    """A connection to a source database for one step; failures say `where`, never the password."""
    url = parse_url(credentials, base_dir)
    engine = create_engine(url)
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise CredentialsError(f"{where}: cannot connect to {display_location(url)}: "
                                   f"{scrub(driver_message(exc), url)}") from None
        with conn:
            yield conn, url
    finally:
        engine.dispose()


def connected(source: SqlDatabaseSource, context: SourceContext) -> Any:
    """`connect` for one resource of a source."""
    return connect(source.credentials, context.base_dir, _where(context))


def reflect_table(conn: Connection, url: URL, source: SqlDatabaseSource, resource: SqlDatabaseResource,
                  context: SourceContext) -> sa.Table:
    """The source table with its columns' types; ConfigError naming the tables there when it is missing."""
    name = resource.table or context.resource_name
    try:
        return sa.Table(name, sa.MetaData(), schema=source.source_schema, autoload_with=conn)
    except NoSuchTableError:
        pass
    except DBAPIError as exc:
        raise ConfigError(f"{_where(context)}: cannot read table `{name}`: {scrub(driver_message(exc), url)}") from None
    tables = sa.inspect(conn).get_table_names(schema=source.source_schema)
    where = f"schema `{source.source_schema}` of " if source.source_schema else ""
    raise ConfigError(f"{_where(context)}: no table `{name}` in {where}{display_location(url)}."
                      f"{did_you_mean(name, tables)} Set `table` to the source table, or `schema`.")


def reflected_hints(table: sa.Table, dialect: Any, resource: SqlDatabaseResource, context: SourceContext
                    ) -> dict[str, dict[str, Any]]:
    """Column hints from the source types, the resource's own hints on top; unmapped types fail."""
    own = {normalize_identifier(k): (k, h.model_dump(exclude_none=True)) for k, h in (resource.columns or {}).items()}
    keyed = bool(resource.primary_key_columns())
    hints: dict[str, dict[str, Any]] = {}
    for column in table.columns:
        key, hint = own.pop(normalize_identifier(column.name), (column.name, {}))
        if "data_type" not in hint:
            found = column_hint(column.type, dialect.name)
            if found is None:
                raise ConfigError(
                    f"{_where(context)}: column `{column.name}` of `{table.fullname}` has the type "
                    f"`{type_name(column.type, dialect)}`, which pg_assets cannot map; add the hint "
                    f"`columns: {{{column.name}: {{data_type: text}}}}` (or another `data_type`) to the resource")
            hint = {**found, **hint}
        hint.setdefault("nullable", bool(column.nullable))
        if column.primary_key and not keyed:
            hint.setdefault("primary_key", True)
        hints[key] = hint
    hints.update({k: h for k, h in own.values()})  # hints on columns the table lacks still apply
    return hints


def _check_query(conn: Connection, url: URL, resource: SqlDatabaseResource, context: SourceContext
                 ) -> tuple[list[str], Any]:
    """Run the query for no rows: a bad query fails before anything is written. Returns its columns
    and the driver's description of them."""
    probe = sa.select(sa.literal_column("*")).select_from(_query_subquery(resource.query or "")).where(sa.false())
    try:
        result = conn.execute(probe)
        return list(result.keys()), result.cursor.description
    except DBAPIError as exc:
        raise ConfigError(f"{_where(context)}: the query fails: {scrub(driver_message(exc), url)}") from None


def prepare(source: SqlDatabaseSource, resource: SqlDatabaseResource, context: SourceContext) -> SqlDatabaseResource:
    """The resource's options completed from the source: reflected column hints and primary key."""
    with connected(source, context) as (conn, url):
        if resource.query:
            columns, description = _check_query(conn, url, resource, context)
            _check_cursor(resource, columns, context, "the query's columns")
            return _with_described(resource, described(conn.dialect.driver, description))
        table = reflect_table(conn, url, source, resource, context)
        dialect = conn.dialect
    _check_cursor(resource, [c.name for c in table.columns], context, f"the columns of `{table.fullname}`")
    options = resource.model_dump(exclude_unset=True)
    options["columns"] = reflected_hints(table, dialect, resource, context)
    if not resource.primary_key_columns() and table.primary_key.columns:
        options["primary_key"] = [c.name for c in table.primary_key.columns]
    return type(resource).model_validate(options)


def _with_described(resource: SqlDatabaseResource, found: dict[str, Any]) -> SqlDatabaseResource:
    """A query resource with the hints its result's description gives, its own hints on top."""
    own = {normalize_identifier(k): (k, h.model_dump(exclude_none=True)) for k, h in (resource.columns or {}).items()}
    hints = {}
    for name, (hint, _) in found.items():
        key, given = own.pop(normalize_identifier(name), (name, {}))
        hints[key] = given if "data_type" in given else {**hint, **given}
    hints.update({k: h for k, h in own.values()})
    return type(resource).model_validate({**resource.model_dump(exclude_unset=True), "columns": hints})


def _check_cursor(resource: SqlDatabaseResource, columns: list[str], context: SourceContext, where: str) -> None:
    inc = resource.incremental
    if inc is None or _cursor_column(columns, inc.cursor_path) is not None:
        return
    raise ConfigError(f"{_where(context)}: `incremental.cursor_path: {inc.cursor_path}` is not one of {where}."
                      f"{did_you_mean(inc.cursor_path, columns)}")


def _cursor_column(columns: list[str], cursor_path: str) -> str | None:
    wanted = normalize_identifier(cursor_path)
    return next((c for c in columns if c == cursor_path), None) or next(
        (c for c in columns if normalize_identifier(c) == wanted), None)


# ---------------------------------------------------------------- the statement


def _query_subquery(query: str, *columns: str) -> Any:
    """The user's query as `(...) AS pg_assets_query`, with the named columns addressable."""
    return sa.text(query.strip().rstrip(";")).columns(*map(sa.column, columns)).subquery("pg_assets_query")


def _bounded(statement: Any, cursor: Any, context: SourceContext, kind: type | None, aware: bool | None) -> Any:
    """`statement` with the incremental window as bound parameters (never text in the SQL)."""
    inc = context.incremental
    if inc is None:
        return statement
    grows = inc.last_value_func == "max"
    start = as_cursor_type(inc.start_value, kind, aware=aware)
    if start is not None:
        statement = statement.where(cursor >= start if grows else cursor <= start)
    if inc.end_value is not None:
        end = as_cursor_type(inc.end_value, kind, aware=aware)
        statement = statement.where(cursor < end if grows else cursor > end)
    return statement


def _python_type(column: Any) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def statement(conn: Connection, url: URL, source: SqlDatabaseSource, resource: SqlDatabaseResource,
              context: SourceContext, table: sa.Table | None = None) -> Any:
    """The SELECT of one run: the table with its types (or the query), bounded by the cursor."""
    inc = context.incremental
    if resource.query:
        if inc is None:
            return sa.text(resource.query)
        sub = _query_subquery(resource.query, inc.cursor_path)
        return _bounded(sa.select(sa.literal_column("*")).select_from(sub), sub.c[inc.cursor_path], context,
                        None, None)
    table = table if table is not None else reflect_table(conn, url, source, resource, context)
    select = sa.select(table)
    if inc is None:
        return select
    column = table.columns[_cursor_column([c.name for c in table.columns], inc.cursor_path) or inc.cursor_path]
    return _bounded(select, column, context, _python_type(column), getattr(column.type, "timezone", None))


# ---------------------------------------------------------------- reading


def as_items(keys: Sequence[str], rows: Sequence[Row]) -> list[dict[str, Any]]:
    """One fetched chunk as dict items, for the columns Arrow cannot carry."""
    return [dict(zip(keys, row)) for row in rows]


def read(source: SqlDatabaseSource, resource: SqlDatabaseResource, context: SourceContext) -> Iterator[Any]:
    with connected(source, context) as (conn, url):
        table = None if resource.query else reflect_table(conn, url, source, resource, context)
        fast = table is not None and sql_copy.eligible(url, table, resource, context.incremental is not None)
        if not fast:
            from pg_assets.sources import sql_arrow  # pyarrow when rows are read, never at definition time

            columns = None if table is None else sql_arrow.arrow_columns(table, conn.dialect.name, resource)
            select = statement(conn, url, source, resource, context, table)
            native = None if columns is None else _connectorx(conn, url, select, columns, source, context)
            yield from native if native is not None else _rows(conn, url, select, source, resource, context,
                                                                columns)
            return
    yield sql_copy.copy_rows(url, table, _where(context))


def _connectorx(conn: Connection, url: URL, select: Any, columns: tuple[ArrowColumn, ...],
                source: SqlDatabaseSource, context: SourceContext) -> Iterator[Any] | None:
    """The batches ConnectorX reads, when it is installed and can read this statement (`sql_connectorx`)."""
    from pg_assets.sources import sql_connectorx

    compiled = select.compile(dialect=conn.dialect)
    if not sql_connectorx.usable(url, compiled):
        return None
    return sql_connectorx.batches(url, str(compiled), columns, source.chunk_size, _where(context))


def _result_columns(conn: Connection, description: Any, rows: Sequence[Row], resource: SqlDatabaseResource
                    ) -> tuple[ArrowColumn, ...] | None:
    """A query's Arrow reading, from the driver's description of the result and the first chunk."""
    from pg_assets.sources.sql_arrow import query_columns

    return query_columns(conn.dialect.driver, description, rows, resource)


def _rows(conn: Connection, url: URL, select: Any, source: SqlDatabaseSource, resource: SqlDatabaseResource,
          context: SourceContext, columns: tuple[ArrowColumn, ...] | None) -> Iterator[Any]:
    """The rows of `select` through a server-side cursor, `chunk_size` at a time: record batches of
    `columns` when given, dict items otherwise."""
    from pg_assets.sources import sql_arrow

    try:
        result = conn.execution_options(yield_per=source.chunk_size).execute(select)
        keys, description = tuple(result.keys()), result.cursor.description  # before the cursor closes
        for rows in result.partitions():
            if columns is None and resource.query:  # a query's types: from the first chunk, once
                columns = _result_columns(conn, description, rows, resource) or ()
            batch = sql_arrow.record_batch(columns, rows) if columns else None
            yield as_items(keys, rows) if batch is None else batch
    except DBAPIError as exc:
        error = TransientLoadError if exc.connection_invalidated else TerminalLoadError
        raise error(f"{_where(context)}: reading failed: {scrub(driver_message(exc), url)}",
                    table=resource.table_name or context.resource_name) from None


KIND = SourceKind(name="sql_database", source_model=SqlDatabaseSource, read=read, check=check, prepare=prepare)
