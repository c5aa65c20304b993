"""Postgres to Postgres: a table's rows as the source server's own COPY text.

When the source is Postgres (psycopg2) and a resource loads a whole table the way the
destination would store it anyway (no cursor, no merge, no contract, the reflected types),
the rows need no Python values at all: `COPY (SELECT ..., <load id>, <random row key>)
TO STDOUT` is read in a thread and its bytes, cut at line ends, become the staging COPY's
batches (`pg_assets.normalize.copy_rows`). Arrays become JSON in the SELECT (`to_jsonb`),
as on the row path; every other reflected type's COPY text is what the destination column
reads.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from pg_assets import sql
from pg_assets.errors import CredentialsError, TerminalLoadError
from pg_assets.normalize.copy_rows import CopyRows
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.normalize.sql_types import hints_by_name, keeps_reflected_types
from pg_assets.sources.sql_connect import create_engine, dialect_of, driver_message, scrub

_DONE = object()
QUEUED_CHUNKS = 2


def eligible(url: URL, table: sa.Table, resource: Any, has_cursor: bool) -> bool:
    """Whether the COPY text of `table` is exactly what the row path would load."""
    if dialect_of(url) != "postgresql" or url.get_driver_name() != "psycopg2":
        return False
    if resource.query or has_cursor or resource.disposition == "merge" or resource.schema_contract is not None:
        return False
    names = {normalize_identifier(c.name) for c in table.columns}
    if len(names) < len(table.columns):  # names that collide: the normalizer refuses them, or renames them
        return False
    return keeps_reflected_types(table.columns, hints_by_name(resource), "postgresql")


def copy_rows(url: URL, table: sa.Table, where: str, prelude: Sequence[str] = ()) -> CopyRows:
    """The table's rows as COPY text, read when the engine asks for them; `prelude` runs first in the
    COPY's transaction (a change stream's snapshot: `SET TRANSACTION SNAPSHOT ...`)."""
    names = tuple(normalize_identifier(c.name) for c in table.columns)
    expressions = [sql.as_jsonb(c.name) if isinstance(c.type, sa.ARRAY) else sql.ident(c.name) for c in table.columns]

    def chunks(load_id: str, batch_bytes: int) -> Iterator[bytes]:
        statement = sql.copy_select_out(table.schema, table.name,
                                        [*expressions, sql.text_literal(load_id),
                                         sql.local_row_id(os.urandom(8).hex())])
        yield from _streamed(url, statement, batch_bytes, where, prelude)

    return CopyRows(names, chunks)


class _Spool:
    """The file psycopg2's `copy_expert` writes into: whole lines leave in chunks of about `limit` bytes."""

    def __init__(self, put: Callable[[bytes], None], limit: int) -> None:
        self.put, self.limit, self.buffer = put, limit, bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= self.limit:
            cut = self.buffer.rfind(b"\n") + 1
            if cut:
                self.put(bytes(self.buffer[:cut]))
                del self.buffer[:cut]

    def close(self) -> None:
        if self.buffer:
            self.put(bytes(self.buffer))
            self.buffer.clear()


class _Stopped(Exception):
    """The consumer went away; the COPY is abandoned."""


def _streamed(url: URL, statement: str, batch_bytes: int, where: str, prelude: Sequence[str] = ()
              ) -> Iterator[bytes]:
    """Run the COPY in a thread, a bounded queue between it and the consumer, so memory stays small."""
    engine = create_engine(url)
    try:
        raw = engine.raw_connection()
    except SQLAlchemyError as exc:
        engine.dispose()
        raise CredentialsError(f"{where}: cannot connect again: {scrub(driver_message(exc), url)}") from None
    producer = _Producer(raw, statement, batch_bytes, prelude)
    producer.thread.start()
    try:
        while True:
            item = producer.chunks.get()
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise TerminalLoadError(f"{where}: reading failed: {scrub(driver_message(item), url)}")
            yield item
    finally:
        producer.stop(raw)
        raw.close()
        engine.dispose()


class _Producer:
    """The thread that runs `copy_expert` and hands its chunks over a queue of `QUEUED_CHUNKS`."""

    def __init__(self, raw: Any, statement: str, batch_bytes: int, prelude: Sequence[str] = ()) -> None:
        self.chunks: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self.stopped = threading.Event()
        self.raw, self.statement, self.batch_bytes, self.prelude = raw, statement, batch_bytes, tuple(prelude)
        self.thread = threading.Thread(target=self._produce, name="pg_assets-copy-out", daemon=True)

    def put(self, item: Any) -> None:
        """Queue `item`, giving up (`_Stopped`) once the consumer has gone."""
        while not self.stopped.is_set():
            try:
                self.chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _produce(self) -> None:
        try:
            spool = _Spool(self.put, self.batch_bytes)
            if self.prelude:
                self.raw.rollback()  # the prelude opens the COPY's transaction, whatever ran before
            with self.raw.cursor() as cur:
                for setup in self.prelude:
                    cur.execute(setup)
                cur.copy_expert(self.statement, spool, size=1 << 16)
            spool.close()
            self.put(_DONE)
        except _Stopped:
            pass
        except Exception as exc:  # handed to the consumer, which raises it where the load is
            try:
                self.put(exc)
            except _Stopped:
                pass

    def stop(self, raw: Any) -> None:
        """End the COPY early if the consumer stopped reading, and wait for the thread."""
        self.stopped.set()
        if self.thread.is_alive():
            raw.driver_connection.cancel()
        self.thread.join()
