"""Columnar items (Arrow tables and record batches, pandas and polars DataFrames) -> batches.

A columnar item never becomes dicts: its record batches are checked against the live
schema column by column (new columns go through the same contract checks as dict
rows), cast where a hint or an existing column says so, given `_dlt_load_id` and
`_dlt_id` as whole columns, and sent by binary COPY (`arrow_wire`) into the same staging
tables dict rows use. Every disposition, merge strategy and contract therefore works
on them unchanged. Struct and list columns become `json`, as in dlt; Arrow items make
no child tables.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pg_assets.errors import ConfigError, SchemaContractError, TerminalLoadError
from pg_assets.normalize import arrow_wire
from pg_assets.normalize.arrow_types import column_type, unmapped
from pg_assets.normalize.row_keys import ID_BYTES, local_random_bytes
from pg_assets.normalize.rows import KeyRefused
from pg_assets.schema import Column, Table

if TYPE_CHECKING:
    from pg_assets.normalize.rows import Normalizer
    from pg_assets.table_plan import TablePlan

# rows of one CSV batch are sized to about this many bytes of Arrow data
TARGET_BATCH_BYTES = 4 << 20
_DROP_ROWS = object()
def record_batches(item: Any) -> Iterator[pa.RecordBatch]:
    """The record batches of a columnar item, zero-copy where its library allows."""
    if isinstance(item, pa.RecordBatch):
        yield item
        return
    if isinstance(item, pa.Table):
        yield from item.to_batches()
        return
    module = type(item).__module__.split(".")[0]
    if module == "pandas" and hasattr(item, "to_records"):
        table = pa.Table.from_pandas(item, preserve_index=False)
    elif module == "polars" and hasattr(item, "to_arrow"):
        table = item.to_arrow()
    elif module == "polars" and hasattr(item, "collect"):  # a LazyFrame
        table = item.collect().to_arrow()
    else:
        raise ConfigError(f"`{module}.{type(item).__qualname__}` items cannot be loaded; yield a table, record "
                          "batch or DataFrame")
    yield from table.to_batches()


def _json_text_columns(table: Table, batch: pa.RecordBatch) -> list[str]:
    """Columns of `batch` that hold JSON as text for a json column of `table`."""
    return [f.name for f in batch.schema if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
            and f.name in table.columns and table.columns[f.name].data_type == "json"]


def _parsed(text: str | None) -> Any:
    """The value JSON `text` holds; text that is not JSON stays as it is."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def random_id_array(n: int) -> pa.Array:
    """`n` random row keys (base64 of `row_keys.local_random_bytes`, 14 characters), made in bulk."""
    raw = np.frombuffer(local_random_bytes(n), dtype=np.uint8).reshape(n, ID_BYTES)
    padded = np.zeros((n, 12), dtype=np.uint8)  # 12 bytes encode to 16 characters, the first 14 are the key
    padded[:, :ID_BYTES] = raw
    chars = np.frombuffer(base64.b64encode(padded.tobytes()), dtype=np.uint8).reshape(n, 16)[:, :14]
    offsets = np.arange(0, (n + 1) * 14, 14, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))


def repeated_array(value: str, n: int) -> pa.Array:
    """`value` `n` times, built from buffers: `pa.scalar` of a Python value imports pandas (30 MB)."""
    data = value.encode("utf-8")
    offsets = np.arange(0, (n + 1) * len(data), len(data), dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n)).cast(pa.string())


def sequence_array(start: int, n: int) -> pa.Array:
    return pa.array(np.arange(start, start + n, dtype=np.int64))


class ColumnarWriter:
    """Adds record batches of a resource to the load, sharing the dict normalizer's schema and counters."""

    def __init__(self, normalizer: "Normalizer") -> None:
        self.n = normalizer

    def add(self, plan: "TablePlan", batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        table = self._table(plan)
        if table is None:
            return
        raw_names = batch.schema.names  # an scd2 content hash is over the item's own names, as dlt's
        batch = self._named(plan, batch)
        columns: list[Column] = []
        arrays: list[pa.Array] = []
        own = self._own_columns(plan)
        for name in list(batch.schema.names):
            if name in own:
                continue  # data exported from a dlt table: this load's own `_dlt_load_id` / `_dlt_id` win
            arr = batch.column(name)  # from the batch as it is now: `discard_row` may have dropped rows
            column = self._column_for(plan, table, name, arr)
            if column is None:
                continue
            if column is _DROP_ROWS:
                batch, arrays = self._drop_rows_with(batch, name, arrays)
                if batch.num_rows == 0:
                    return
                continue
            columns.append(column)
            arrays.append(self._cast(table.name, column, arr))
        self._system_columns(plan, table, batch, raw_names, columns, arrays)
        self._emit(table, columns, arrays)

    # ---- schema ----------------------------------------------------------------------

    def _table(self, plan: "TablePlan") -> Table | None:
        buf = self.n.buffers.get(plan.root) or self.n._open(plan, plan.root, None)
        return None if buf is None else buf.table

    def _named(self, plan: "TablePlan", batch: pa.RecordBatch) -> pa.RecordBatch:
        """`batch` with its columns' names as dict keys would get them, collisions refused alike."""
        table, names = plan.root, self.n.names_of(plan, plan.root)
        try:
            named = [names.top.get(c) or self.n.column_name(names, c) for c in batch.schema.names]
        except KeyRefused as refused:
            raise TerminalLoadError(f"Table `{table}`, column `{refused.column}`: {refused.reason}.",
                                    table=table, column=refused.column) from None
        if len(set(named)) != len(named):
            double = next(n for n in named if named.count(n) > 1)
            raise TerminalLoadError(f"Table `{table}`: the data has two columns named `{double}`; rename one of "
                                    "them.", table=table, column=double)
        return batch.rename_columns(named) if named != batch.schema.names else batch

    def _column_for(self, plan: "TablePlan", table: Table, name: str, arr: pa.Array) -> Any:
        """The live column for `arr` (added when new), None to leave it out, `_DROP_ROWS` to drop its rows."""
        column = table.columns.get(name)
        if column is not None:
            return column
        if arr.null_count == len(arr):
            return None  # like a dict key whose value is always None: no column yet
        # the first value only shows in a frozen contract's error; a temporal `as_py()` imports pandas
        first = None if plan.contract.get("columns", "evolve") == "evolve" else arr.drop_null()[0].as_py()
        if not self.n._check_contract(plan, table, "columns", name, first):
            return _DROP_ROWS if plan.contract.get("columns") == "discard_row" else None
        column = self._new_column(plan, table, name, arr.type)
        buf = self.n.buffers.get(table.name)
        if buf is not None:
            self.n._append_column(buf, column)  # dict rows of this table learn the column too
        else:
            table.columns[name] = column
        return column

    def _new_column(self, plan: "TablePlan", table: Table, name: str, arrow_type: pa.DataType) -> Column:
        hint = plan.hints.get(name, {})
        mapped = column_type(arrow_type)
        if hint.get("data_type"):
            return self.n._column(plan, name, hint["data_type"], True)
        if mapped is None:
            raise unmapped(table.name, name, arrow_type)
        column = self.n._column(plan, name, mapped.data_type, True)
        extras = {k: getattr(mapped, k) for k in ("precision", "scale", "timezone")
                  if getattr(mapped, k) is not None and k not in hint}
        return replace(column, **extras) if extras else column

    def _cast(self, table: str, column: Column, arr: pa.Array) -> pa.Array:
        """`arr` as binary COPY into `column` needs it; a value that does not fit fails the load."""
        try:
            return arrow_wire.wire_array(arr, column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise SchemaContractError(
                f"Table `{table}`: column `{column.name}` is `{column.data_type}`, but the data's Arrow column is "
                f"`{arr.type}` and does not cast to it ({str(exc).splitlines()[0]}). Cast it before loading, or "
                f"load it into a new column.", table=table, column=column.name) from None

    def _drop_rows_with(self, batch: pa.RecordBatch, name: str, arrays: list[pa.Array]
                        ) -> tuple[pa.RecordBatch, list[pa.Array]]:
        """`discard_row`: rows with a value in the refused column `name` are left out."""
        keep = pc.is_null(batch.column(name))
        return batch.filter(keep), [a.filter(keep) for a in arrays]

    # ---- system columns ----------------------------------------------------------------

    def _system_columns(self, plan: "TablePlan", table: Table, batch: pa.RecordBatch, raw_names: list[str],
                        columns: list[Column], arrays: list[pa.Array]) -> None:
        from pg_assets.normalize.rows import LOAD_ID, ROW_ID, SEQ

        n = batch.num_rows
        self._check_switches(plan, table)
        if plan.add_dlt_load_id:
            columns.append(self._system(plan, table, LOAD_ID))
            arrays.append(repeated_array(self.n.load_id, n))
        if plan.add_dlt_id or plan.row_key is not None:
            columns.append(self._system(plan, table, ROW_ID))
            arrays.append(self._row_ids(plan, table, batch, raw_names))
        if plan.sequenced:
            columns.append(SEQ)
            arrays.append(sequence_array(self.n._seq + 1, n))
        self.n._seq += n

    @staticmethod
    def _check_switches(plan: "TablePlan", table: Table) -> None:
        """A column left out by a switch must not be a NOT NULL column the table already has."""
        from pg_assets.normalize.rows import LOAD_ID, ROW_ID

        for name, on in ((LOAD_ID, plan.add_dlt_load_id), (ROW_ID, plan.add_dlt_id or plan.row_key is not None)):
            column = table.columns.get(name)
            if not on and column is not None and column.not_null:
                switch = "add_dlt_load_id" if name == LOAD_ID else "add_dlt_id"
                raise ConfigError(f"Table `{table.name}` already has `{name}` (NOT NULL), so rows without it cannot "
                                  f"be added; remove `{switch}: false` or load into another table.")

    @staticmethod
    def _own_columns(plan: "TablePlan") -> set[str]:
        from pg_assets.normalize.rows import LOAD_ID, ROW_ID, SEQ

        own = {SEQ.name} | ({LOAD_ID} if plan.add_dlt_load_id else set())
        return own | ({ROW_ID} if plan.add_dlt_id or plan.row_key is not None else set())

    def _system(self, plan: "TablePlan", table: Table, name: str) -> Column:
        column = table.columns.get(name)
        if column is None:
            column = self.n._column(plan, name, "text", True)
            buf = self.n.buffers.get(table.name)
            if buf is not None:
                self.n._append_column(buf, column)
            else:
                table.columns[name] = column
        return column

    def _row_ids(self, plan: "TablePlan", table: Table, batch: pa.RecordBatch, raw_names: list[str]) -> pa.Array:
        """Random keys, or dlt's key and content hashes (see `row_keys`) over the row's values and
        the same as for the rows given as dicts: one Python step per row, for upsert, insert-only
        and scd2 roots only. The item is the row under the source's own column names, with JSON
        that arrives as text (a database's json column) as the value it holds, as dlt reads it."""
        if plan.row_key is None:
            return random_id_array(batch.num_rows)
        rows = batch.to_pylist()
        for name in _json_text_columns(table, batch):
            for row in rows:
                row[name] = _parsed(row[name])
        items = rows if raw_names == batch.schema.names else [dict(zip(raw_names, r.values())) for r in rows]
        return pa.array([plan.row_key(item, row) for item, row in zip(items, rows)], pa.string())

    # ---- batches -------------------------------------------------------------------------

    def _emit(self, table: Table, columns: list[Column], arrays: list[pa.Array]) -> None:
        from pg_assets.normalize.rows import Batch

        whole = pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])
        n = whole.num_rows
        step = max(1024, int(n * TARGET_BATCH_BYTES / max(whole.nbytes, 1)))
        for start in range(0, n, step):
            part = whole.slice(start, step)
            payload = arrow_wire.copy_payload(part, columns)
            self.n.emit(Batch(table.name, tuple(columns), payload, part.num_rows, wire="binary"))
        self.n.rows[table.name] = self.n.rows.get(table.name, 0) + n
