"""Reading a source table with ConnectorX (`pip install 'pg-assets[connectorx]'`), when installed.

ConnectorX reads a query's result straight into Arrow in native code: no Python value
is made per cell, where SQLAlchemy and the DB-API driver make one for each. It is used
for whole-table reads of the dialects it speaks (Postgres, MySQL/MariaDB over TCP,
SQLite) whose statement has no bound parameters (no incremental window: ConnectorX takes
SQL text only, and values never enter SQL text). Everything else reads through
SQLAlchemy, and so does everything when `PG_ASSETS_CONNECTORX=0` is set.

Its Arrow types are ConnectorX's own (SQLite numerics as doubles, binaries as
large_binary...), so each batch is cast to the reflected reading (`sql_arrow`). When the first batch
does not cast, nothing has been loaded yet and the table is read through SQLAlchemy
instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import URL

from pg_assets.errors import TerminalLoadError
from pg_assets.sources.sql_arrow import ArrowColumn
from pg_assets.sources.sql_connect import MYSQL_UTC, dialect_of, scrub

# SQLAlchemy dialect -> ConnectorX's URL scheme
SCHEMES = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
# run first on every connection: MySQL sessions read TIMESTAMP in UTC, as `sql_connect.create_engine` sets
PRE_QUERIES = {"mysql": MYSQL_UTC}


def installed() -> bool:
    """ConnectorX is installed and not switched off (`PG_ASSETS_CONNECTORX=0`)."""
    return os.environ.get("PG_ASSETS_CONNECTORX", "1") != "0" and importlib.util.find_spec("connectorx") is not None


def connection_string(url: URL) -> str | None:
    """The URL as ConnectorX reads it, or None when ConnectorX cannot reach this source."""
    scheme = SCHEMES.get(dialect_of(url))
    if scheme == "sqlite":
        return f"sqlite://{url.database}" if url.database and url.database != ":memory:" else None
    socket = str(url.query.get("host") or "") if scheme == "postgresql" else ""
    if scheme is None or not (url.host or socket.startswith("/")):  # MySQL over a socket: not ConnectorX
        return None
    if socket.startswith("/"):  # ConnectorX's Postgres client takes a socket directory as `?host=`
        url = url.set(host="localhost", port=url.port or int(str(url.query.get("port") or 5432)))
        return url.set(drivername=scheme, query={"host": socket}).render_as_string(hide_password=False)
    return url.set(drivername=scheme, query={}).render_as_string(hide_password=False)


def usable(url: URL, compiled: Any) -> bool:
    """Whether this read can go through ConnectorX: installed, a reachable dialect, no bound values."""
    return installed() and not compiled.params and connection_string(url) is not None


def batches(url: URL, sql_text: str, columns: Sequence[ArrowColumn], chunk_size: int,
            where: str) -> Iterator[pa.RecordBatch] | None:
    """The rows of `sql_text` as record batches of `columns`' types, `chunk_size` rows each; None when
    ConnectorX's types for the first batch do not cast to them (read through SQLAlchemy then)."""
    reader = _reader(url, sql_text, chunk_size, where)
    first = next(reader, None)
    if first is None:
        return iter(())
    cast = _cast(first, columns)
    return None if cast is None else _rest(cast, reader, columns, where)


def _reader(url: URL, sql_text: str, chunk_size: int, where: str) -> Iterator[pa.RecordBatch]:
    import connectorx

    try:
        yield from connectorx.read_sql(connection_string(url), sql_text, return_type="arrow_stream",
                                       batch_size=chunk_size, pre_execution_query=PRE_QUERIES.get(dialect_of(url)))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: B036 - a failure mid-stream is a Rust panic, not an Exception
        raise TerminalLoadError(f"{where}: reading failed: {scrub(_message(exc), url)}") from None


def _message(exc: BaseException) -> str:
    """The server's own words when ConnectorX wraps a database error, else its message on one line."""
    text = str(exc)
    found = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
    return found.group(1) if found else " ".join(text.split()) or type(exc).__name__


def _rest(first: pa.RecordBatch, reader: Iterator[pa.RecordBatch], columns: Sequence[ArrowColumn],
          where: str) -> Iterator[pa.RecordBatch]:
    yield first
    for batch in reader:
        cast = _cast(batch, columns)
        if cast is None:
            raise TerminalLoadError(f"{where}: a value read through ConnectorX does not fit its reflected column "
                                    "type; set `PG_ASSETS_CONNECTORX=0` to read it through SQLAlchemy")
        yield cast


def _cast(batch: pa.RecordBatch, columns: Sequence[ArrowColumn]) -> pa.RecordBatch | None:
    """`batch` in the reflected Arrow types, or None when a column does not cast safely."""
    try:
        arrays = [arr if arr.type == c.type else arr.cast(c.type) for c, arr in zip(columns, batch.columns)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema([pa.field(c.name, c.type) for c in columns]))
