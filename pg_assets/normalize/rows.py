"""Raw items -> encoded rows of named tables, in one streaming pass.

Each item is flattened (`a: {b: 1}` -> column `a__b`), its lists become child tables
(`parent__field`), every value is checked against its column's type and encoded for the
wire format right away. A value that does not fit its column goes to a variant column
`<col>__v_<type>`. Rows are collected per table into batches of bounded size; a batch
always has one column list, so when a table gains a column its pending rows are
flushed first. Memory is therefore bounded by the batch size, never by the data.
"""

from __future__ import annotations

import datetime as dt
import decimal
from bisect import bisect_left
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from pg_assets.errors import BadDataError, SchemaContractError, TerminalLoadError
from pg_assets.normalize.copy_rows import CopyRows
from pg_assets.normalize.encode import Encoder, Format, bounded
from pg_assets.normalize.naming import join_path, make_path, normalize_identifier
from pg_assets.normalize.row_keys import digest_id, random_ids
from pg_assets.normalize.shapes import BLOCK_ROWS, Shape, encode_block
from pg_assets.normalize.types import COERCE, NoFit, infer_type
from pg_assets.schema import Column, Table, numeric_size
from pg_assets.sql.names import LIST_IDX, LOAD_ID, PARENT_ID, ROOT_ID, ROW_ID
from pg_assets.sql.names import SEQ as SEQ_NAME
from pg_assets.table_plan import TablePlan

# exact Python types each column type stores without coercion
NATIVE: dict[str, frozenset[type]] = {
    "text": frozenset({str}),
    "bigint": frozenset({int}),
    "double": frozenset({float, int}),
    "bool": frozenset({bool}),
    "timestamp": frozenset({dt.datetime}),
    "date": frozenset({dt.date}),
    "time": frozenset({dt.time}),
    "decimal": frozenset({decimal.Decimal, int}),
    "wei": frozenset({decimal.Decimal, int}),
    "binary": frozenset({bytes, bytearray, memoryview}),
    "json": frozenset({dict, list, tuple, str, int, float, bool}),
}

SYSTEM_TYPES = {LOAD_ID: "text", ROW_ID: "text", PARENT_ID: "text", LIST_IDX: "bigint", ROOT_ID: "text"}
# staging-only column: the position of the item in the load, for de-duplicating merges
SEQ = Column(SEQ_NAME, "bigint", nullable=False)
_DROP_ROW = object()
_MAX_SHAPES = 64  # key orders remembered per table; items in yet other orders take the general path
_CONTAINERS = frozenset({dict, list, tuple})
_NUMERIC = frozenset({"decimal", "wei"})  # columns that hold numbers only up to their declared size


@dataclass(frozen=True)
class Batch:
    """Encoded rows of one table, all with the same columns."""

    table: str
    columns: tuple[Column, ...]
    payload: bytes  # UTF-8 rows, joined the way the wire format wants them
    rows: int
    # how the payload is written, when not in the destination's file format: "copy" (COPY text,
    # a Postgres source's own) or "binary" (binary COPY, columnar rows)
    wire: str | None = None

    @property
    def nbytes(self) -> int:
        return len(self.payload)


class _Buffer:
    """Pending rows of one table and the per-column lookups that encode them."""

    __slots__ = ("table", "slots", "natives", "encoders", "lines", "nbytes", "rows", "seq", "shapes", "block",
                 "block_of")

    def __init__(self, table: Table, seq: bool) -> None:
        self.table = table
        self.seq = seq
        self.slots: dict[str, int] = {}
        self.natives: list[frozenset[type]] = []
        self.encoders: list[Encoder] = []
        self.lines: list[str] = []
        self.nbytes = 0
        self.rows = 0
        self.shapes: dict[tuple[Any, ...], Shape | None] = {}
        self.block: list[tuple[Any, ...]] = []  # values of shaped items not yet encoded, all of `block_of`
        self.block_of: tuple[TablePlan, Shape, int] | None = None  # their plan, shape and first item number


class Normalizer:
    """Turns items into batches for `emit`, evolving the live schema `tables` as it goes."""

    def __init__(self, tables: dict[str, Table], stored: Mapping[str, Table], fmt: Format, load_id: str,
                 emit: Callable[[Batch], None], *, batch_bytes: int = 4 << 20, create_indexes: bool = True,
                 root_ids: Collection[str] = (),
                 numeric: Mapping[tuple[str, str], tuple[int | None, int | None]] | None = None) -> None:
        self.tables = tables
        # (precision, scale) of the numeric columns that exist (`Catalog.numeric_limits`)
        self.numeric = numeric or {}
        self.stored = stored
        self.fmt = fmt
        self.load_id = load_id
        self.emit = emit
        self.batch_bytes = batch_bytes
        self.create_indexes = create_indexes
        # roots whose child rows carry `_dlt_root_id` beyond those whose strategy asks for it
        # (`schema.needs_root_ids`: the dataset's child tables have it already)
        self.root_ids = frozenset(root_ids)
        self.buffers: dict[str, _Buffer] = {}
        self.rows: dict[str, int] = {}
        self._ids = random_ids()
        self._seq = 0
        self._keys: dict[str, str] = {}  # a key -> its normal form, in any table
        self._names: dict[str, _Names] = {}  # table -> the columns its keys became
        self._json: dict[str, set[str]] = {}
        self.warnings: list[str] = []
        self._columnar: Any = None

    def add_columnar(self, plan: TablePlan, batch: Any) -> None:
        """Add one Arrow record batch of `plan`'s resource (see `columnar`)."""
        if self._columnar is None:
            from pg_assets.normalize.columnar import ColumnarWriter  # pyarrow only when columnar data comes

            self._columnar = ColumnarWriter(self)
        self._columnar.add(plan, batch)

    # ---- items -> rows ------------------------------------------------------------------

    def add(self, plan: TablePlan, item: Mapping[str, Any]) -> None:
        """Normalise one raw item of `plan`'s resource into its root and child tables.

        A `_dlt_id` the item brings is kept, as dlt keeps it; `_dlt_load_id` is always this load's.
        A flat item whose keys come in an order seen before skips flattening: it is held and encoded
        with others in a block (`shapes`), or alone by `_add_shaped`; the rows are the same bytes.
        """
        self._seq += 1
        buf = self.buffers.get(plan.root)
        if buf is not None and plan.row_key is None:
            keys = tuple(item)
            shape = buf.shapes.get(keys)
            if shape is not None and not shape.partial and not buf.seq:
                self._queue(plan, buf, shape, item)
                return
            if shape is not None and self._add_shaped(buf, shape, item):
                return
            # learnt once, and again while some key of the shape still has no column
            if self._add_general(plan, item) and (keys not in buf.shapes or shape is not None and shape.partial):
                buf.shapes[keys] = self._shape_of(plan, buf, item)
            return
        self._add_general(plan, item)

    def _add_general(self, plan: TablePlan, item: Mapping[str, Any]) -> bool:
        """`add` for any item: flattened, checked column by column; True when it was one flat row."""
        held = self.buffers.get(plan.root)
        if held is not None and held.block:  # the held items come first, ids and all
            self._drain(held)
        flat: dict[str, Any] = {}
        lists: list[tuple[str, list[Any], int]] = []
        try:
            self._flatten(item, "", 0, plan.max_nesting, flat, lists, self._json_columns(plan, plan.root),
                          self._names.get(plan.root) or self.names_of(plan, plan.root))
        except KeyRefused as refused:
            raise self._bad(plan.root, refused) from None
        given = flat.get(ROW_ID)  # kept unless empty, as dlt keeps it
        row_id = str(given) if given else plan.row_key(item, flat) if plan.row_key else next(self._ids)
        flat[LOAD_ID] = self.load_id
        flat[ROW_ID] = row_id
        if self._write_row(plan, plan.root, None, flat) is _DROP_ROW:
            return False
        root_id = row_id if plan.root_id_in_children or plan.root in self.root_ids else None
        for name, values, depth in lists:
            self._add_children(plan, plan.root, plan.root, name, row_id, root_id, values, depth)
        return not lists and not given

    def _shape_of(self, plan: TablePlan, buf: _Buffer, item: Mapping[str, Any]) -> Shape | None:
        """The shape for items with the keys of `item`, None when they cannot have one: too many shapes
        already, a key that names a system column, or nested values (these items flatten)."""
        names, keys = self._names[plan.root], tuple(item)
        full = len(buf.shapes) >= _MAX_SHAPES and keys not in buf.shapes
        if full or any(type(v) in _CONTAINERS for v in item.values()) or any(names.top.get(k) in SYSTEM_TYPES
                                                                              for k in keys):
            return None
        return Shape(buf.slots, buf.natives, buf.encoders, keys, [names.top.get(k, "") for k in keys], self.load_id)

    def _queue(self, plan: TablePlan, buf: _Buffer, shape: Shape, item: Mapping[str, Any]) -> None:
        """Hold the values of a shaped item; `BLOCK_ROWS` of one shape are encoded column by column."""
        held = buf.block_of
        if held is None or held[0] is not plan or held[1] is not shape:
            self._drain(buf)
            buf.block_of = (plan, shape, self._seq)
        buf.block.append(tuple(item.values()))
        if len(buf.block) >= BLOCK_ROWS:
            self._drain(buf)

    def _drain(self, buf: _Buffer) -> None:
        """Encode the held block into lines; if some value needs more than its column's encoder, its
        items go one by one (the same rows, with their own item numbers in any error)."""
        rows, held = buf.block, buf.block_of
        if not rows or held is None:
            return
        buf.block, buf.block_of = [], None
        plan, shape, first = held
        lines = encode_block(self.fmt, len(buf.encoders), shape, rows, self._ids)
        if lines is not None:
            self._take_lines(buf, lines)
            return
        seq = self._seq
        for self._seq, values in enumerate(rows, first):
            item = dict(zip(shape.keys, values))
            if not self._add_shaped(buf, shape, item):
                self._add_general(plan, item)
        self._seq = seq

    def _add_shaped(self, buf: _Buffer, shape: Shape, item: Mapping[str, Any]) -> bool:
        """Encode `item` straight into its cells; False (nothing written) when a value needs `_add_general`."""
        cells = [self.fmt.null] * len(buf.encoders)
        try:
            for (slot, encoders), value in zip(shape.cells, item.values()):
                if value is not None:
                    encode = encoders.get(type(value))
                    if encode is None:
                        return False
                    cells[slot] = encode(value)
        except NoFit:
            return False
        cells[shape.load_slot] = shape.load_cell
        cells[shape.id_slot] = shape.id_encoder(next(self._ids))
        if buf.seq:
            cells.append(str(self._seq))
        self._append_line(buf, self.fmt.row(cells))
        return True

    def _json_columns(self, plan: TablePlan, table: str) -> frozenset[str] | set[str]:
        """Columns of `table` that hold JSON, so dicts and lists there are kept whole."""
        cols = self._json.get(table)
        if cols is None:
            live = self.tables.get(table)
            cols = {n for n, c in live.columns.items() if c.data_type == "json"} if live else set()
            if table == plan.root:
                cols |= {n for n, h in plan.hints.items() if h.get("data_type") == "json"}
            self._json[table] = cols
        return cols

    def names_of(self, plan: TablePlan, table: str) -> "_Names":
        """The key-to-column lookups of `table`; a resource's `name` hints rename its root table's keys."""
        names = self._names.get(table)
        if names is None:
            names = self._names[table] = _Names(plan.renames if table == plan.root else None)
        return names

    def _key(self, key: str) -> str:
        """The normal form of one key, refused when it would be one of pg_assets' own columns."""
        name = self._keys.get(key)
        if name is None:
            name = normalize_identifier(str(key))
            if name.startswith(RESERVED_PREFIX):
                raise KeyRefused(name, f"the key `{key}` names a column `{name}`, and names starting with "
                                     f"`{RESERVED_PREFIX}` are pg_assets' own: rename the key")
            self._keys[key] = name
        return name

    def column_name(self, names: "_Names", key: str) -> str:
        """The column of a top-level `key` in the table of `names` (a `name` hint's, else its normal form)."""
        name = names.top.get(key)
        if name is None:
            renamed = names.renames.get(key)
            name = self._key(renamed if renamed is not None else key)
            names.top[key] = names.claim(name, f"`{key}`", key)
        return name

    def _bad(self, table: str, refused: KeyRefused) -> BadDataError:
        return BadDataError(f"item {self._seq} of the load, table `{table}`, column `{refused.column}`: "
                            f"{refused.reason}", table=table, column=refused.column, row=self._seq)

    def _nested_name(self, names: "_Names", path: str, key: str) -> tuple[str, str]:
        """The full path and the column name of `key` inside the dict at `path` of a row.

        The full path joins normalised keys and is never shortened itself: deeper
        columns and child tables are shortened from it, with a tag of that full path.
        """
        found = names.nested.get((path, key))
        if found is None:
            full = make_path(path, self._key(key))
            found = names.nested[(path, key)] = (full, names.claim(join_path(full), f"`{key}` in `{path}`"))
        return found

    def _flatten(self, item: Mapping[str, Any], path: str, depth: int, max_nesting: int,
                 flat: dict[str, Any], lists: list[tuple[str, list[Any], int]], json_cols: set[str],
                 names: "_Names") -> None:
        """Put the scalars of `item` in `flat` and its lists in `lists`, keyed by their full paths.

        `path` is the full, unshortened path of `item` within the row ("" at the top).
        `names` refuses two keys of the table that become one column, in one item or across items.
        In dlt's order, so new columns are added as dlt adds them: a dict's own values first,
        then its nested dicts, the last one first (dlt flattens from a stack).
        """
        top = names.top
        stack = [(item, path, depth)]
        while stack:
            current, path, depth = stack.pop()
            for key, value in current.items():
                if value is None or type(value) is float and value != value:  # NaN: NULL, no column (as dlt)
                    continue
                if path:
                    full, name = self._nested_name(names, path, key)
                else:  # a top-level key's name is its full path: normalize_identifier already fit it
                    full = name = top.get(key) or self.column_name(names, key)
                kind = type(value)
                if kind not in _CONTAINERS:
                    flat[name] = value
                elif depth >= max_nesting or name in json_cols:
                    if value:
                        flat[name] = value
                elif kind is dict:
                    stack.append((value, full, depth + 1))
                elif value:
                    lists.append((full, value, depth + 1))

    def _add_children(self, plan: TablePlan, parent: str, parent_path: str, field: str, parent_id: str,
                      root_id: str | None, values: list[Any], depth: int) -> None:
        """Rows of the child table for list `field` (a full path inside a row of `parent`).

        `parent_path` is the parent table's full, unshortened path from the root, so the
        child's name is shortened once, from every fragment, as dlt names it.
        """
        path = make_path(parent_path, field)
        table = join_path(path)
        json_cols = self._json_columns(plan, table)
        names = self.names_of(plan, table)
        for idx, value in enumerate(values):
            flat: dict[str, Any] = {}
            lists: list[tuple[str, list[Any], int]] = []
            if type(value) is dict:
                try:
                    self._flatten(value, "", depth, plan.max_nesting, flat, lists, json_cols, names)
                except KeyRefused as refused:
                    raise self._bad(table, refused) from None
            elif value is not None and not (type(value) is float and value != value):  # NaN: as None
                if type(value) in (list, tuple) and depth < plan.max_nesting:
                    lists.append(("list", value, depth + 1))
                else:
                    flat["value"] = value
            given = flat.get(ROW_ID)  # a child dict's own `_dlt_id` is kept too, as dlt keeps it
            row_id = str(given) if given else digest_id(f"{parent_id}_{table}_{idx}")
            if root_id is not None:
                flat[ROOT_ID] = root_id
            flat[PARENT_ID] = parent_id
            flat[LIST_IDX] = idx
            flat[ROW_ID] = row_id
            if self._write_row(plan, table, parent, flat) is _DROP_ROW:
                continue
            for name, nested, d in lists:
                self._add_children(plan, table, path, name, row_id, root_id, nested, d)

    def add_copy(self, plan: TablePlan, rows: CopyRows) -> None:
        """Rows already in COPY text (see `copy_rows`): the columns join the live schema as any
        other path's would, under the same contract, and the bytes become batches unchanged."""
        buf = self.buffers.get(plan.root) or self._open(plan, plan.root, None)
        if buf is None:
            return  # the contract discards the new table
        self._flush(buf)
        names = (*rows.columns, LOAD_ID, ROW_ID)
        if buf.seq and not rows.sequenced:
            raise ValueError(f"`{plan.resource}`: COPY rows carry no merge sequence; merge them as items")
        for name in names:
            if name not in buf.slots and self._new_column(plan, buf, name, None) in (None, _DROP_ROW):
                raise ValueError(f"`{plan.resource}`: the schema contract discards column `{name}`; COPY rows "
                                 "cannot drop values, load them as items")
        columns = tuple(buf.table.columns[name] for name in names)
        for column in columns:
            wanted = plan.hints.get(column.name, {}).get("data_type")
            if wanted and wanted != column.data_type:
                raise TerminalLoadError(
                    f"Table `{plan.root}`: column `{column.name}` is stored as {column.data_type}, but the source "
                    f"now has {wanted}; add the hint `columns: {{{column.name}: {{data_type: {column.data_type}}}}}` "
                    "to keep loading it (values that do not fit then go to a variant column)",
                    table=plan.root, column=column.name)
        columns += (SEQ,) if buf.seq else ()
        for payload in rows.chunks(self.load_id, self.batch_bytes):
            count = payload.count(b"\n")
            self.rows[plan.root] = self.rows.get(plan.root, 0) + count
            self.emit(Batch(plan.root, columns, payload, count, wire="copy"))

    # ---- rows -> cells ------------------------------------------------------------------

    def _write_row(self, plan: TablePlan, table: str, parent: str | None, flat: dict[str, Any]) -> object:
        buf = self.buffers.get(table) or self._open(plan, table, parent)
        if buf is None:
            return _DROP_ROW
        if buf.block:  # rows keep the order of their items
            self._drain(buf)
        null = self.fmt.null
        cells = [null] * len(buf.encoders)
        slots, natives, encoders = buf.slots, buf.natives, buf.encoders
        for name, value in flat.items():
            i = slots.get(name)
            if i is None:
                i = self._new_column(plan, buf, name, value)
                if i is None:
                    continue
                if i is _DROP_ROW:
                    return _DROP_ROW
                cells.extend([null] * (len(encoders) - len(cells)))
            if type(value) in natives[i]:
                try:
                    cells[i] = encoders[i](value)
                    continue
                except NoFit:
                    pass
            placed = self._place_foreign(plan, buf, i, name, value)
            if placed is _DROP_ROW:
                return _DROP_ROW
            if placed is not None:
                j, text = placed
                cells.extend([null] * (len(encoders) - len(cells)))
                cells[j] = text
        if buf.seq:
            cells.append(str(self._seq))
        self._append_line(buf, self.fmt.row(cells))
        return None

    def _take_lines(self, buf: _Buffer, lines: list[str]) -> None:
        """`_append_line` for many lines at once: a batch leaves after the same line as it would there."""
        ends = list(accumulate(map(len, lines)))
        start = base = 0
        while start < len(lines):
            cut = bisect_left(ends, self.batch_bytes - buf.nbytes + base, lo=start)  # the line that fills it
            stop = min(cut + 1, len(lines))
            buf.lines.extend(lines[start:stop])
            buf.rows += stop - start
            buf.nbytes += ends[stop - 1] - base
            if cut < len(lines):
                self._flush(buf)
            start, base = stop, ends[stop - 1]

    def _append_line(self, buf: _Buffer, line: str) -> None:
        buf.lines.append(line)
        buf.rows += 1
        buf.nbytes += len(line)
        if buf.nbytes >= self.batch_bytes:
            self._flush(buf)

    def _place_foreign(self, plan: TablePlan, buf: _Buffer, i: int, name: str, value: Any) -> Any:
        """A value whose Python type is not native to column `i`: coerce it, else use a variant column."""
        column = buf.table.columns[name]
        try:
            return i, buf.encoders[i](COERCE[column.data_type](value))
        except (NoFit, ValueError, TypeError, OverflowError):
            pass
        variant_type = infer_type(value)
        if variant_type == column.data_type and variant_type in _NUMERIC:
            raise self._too_large(buf.table.name, column, value)
        if variant_type == column.data_type:  # e.g. an int beyond int64 for a bigint column
            variant_type = "decimal" if variant_type == "bigint" else "text"
        variant = join_path(name, f"v_{variant_type}")
        j = buf.slots.get(variant)
        if j is None:
            if self._check_contract(plan, buf.table, "data_type", variant, value, column) is not True:
                return self._contract_outcome(plan, "data_type")
            j = self._append_column(buf, Column(variant, variant_type))
        native = value if type(value) in buf.natives[j] else COERCE[variant_type](value)
        try:
            return j, buf.encoders[j](native)
        except NoFit:  # only a number too large for the numeric variant column too
            raise self._too_large(buf.table.name, buf.table.columns[variant], value) from None

    def _numeric_size(self, table: str, column: Column) -> tuple[int, int]:
        """The (precision, scale) that bounds a numeric column's values: its staging column's (the DDL of
        its type and hints), or the existing column's when that holds fewer digits before the point."""
        staging = numeric_size(column)
        precision, scale = self.numeric.get((table, column.name), (None, None))
        if precision is None or precision - (scale or 0) >= staging[0] - staging[1]:
            return staging
        return precision, scale or 0

    def _too_large(self, table: str, column: Column, value: Any) -> BadDataError:
        precision, scale = self._numeric_size(table, column)
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        return BadDataError(
            f"item {self._seq} of the load, table `{table}`, column `{column.name}`: {shown} does not fit "
            f"`numeric({precision},{scale})`, which holds numbers below 10**{precision - scale}. A new column takes "
            f"a hint such as `columns: {{{column.name}: {{data_type: decimal, precision: 76, scale: {scale}}}}}`; "
            f"an existing one keeps its type: widen it with `ALTER TABLE ... ALTER COLUMN {column.name} TYPE "
            "numeric(76, ...)`.", table=table, column=column.name, row=self._seq, value=value)

    # ---- schema evolution ---------------------------------------------------------------

    def _open(self, plan: TablePlan, name: str, parent: str | None) -> _Buffer | None:
        table = self.tables.get(name)
        if table is None:
            if name not in self.stored and not self._may_add_table(plan, name):
                if plan.contract.get("tables") == "freeze":
                    raise SchemaContractError(
                        f"Table `{name}` is new, but the schema contract freezes `tables`; allow it with "
                        f"`schema_contract: {{tables: evolve}}` or load into an existing table.", table=name)
                return None
            table = self._new_table(plan, name, parent)
        else:  # the resource may have changed its disposition since the table was made
            table.write_disposition = plan.write_disposition
            # dlt keeps a stored `x-merge-strategy` while the resource merges the same way
            table.strategy_given = parent is None and (plan.strategy_given or (
                table.strategy_given and table.strategy == plan.strategy))
            table.strategy = plan.strategy if parent is None else None
            if parent is None and plan.scd2 is not None:  # a table that becomes scd2 gains its validity columns
                for col_name in (plan.scd2.valid_from, plan.scd2.valid_to):
                    table.columns.setdefault(col_name, self._column(plan, col_name, "timestamp", True))
        buf = self.buffers[name] = _Buffer(table, plan.sequenced)
        for column in table.columns.values():
            self._register(buf, column)
        return buf

    def _may_add_table(self, plan: TablePlan, name: str) -> bool:
        """Whether the contract lets this load create table `name`.

        `tables: freeze` (and the discard modes) still let the first load of a resource
        create its table and child tables: a contract cannot be kept by a table that was
        never created. Once the resource has stored tables, new ones (a new nested list)
        are refused: `freeze` fails the load, the discard modes drop the rows.
        """
        mode = plan.contract.get("tables", "evolve")
        first_load = not any(t.resource == plan.resource for t in self.stored.values())
        return mode == "evolve" or first_load

    def _new_table(self, plan: TablePlan, name: str, parent: str | None) -> Table:
        table = self.tables[name] = Table(name=name, parent=parent, write_disposition=plan.write_disposition,
                                          strategy=plan.strategy if parent is None else None,
                                          strategy_given=parent is None and plan.strategy_given,
                                          resource=plan.resource)
        if parent is None:
            for col_name, hint in plan.hints.items():
                if hint.get("data_type"):
                    table.columns[col_name] = self._column(plan, col_name, hint["data_type"], parent is None)
        return table

    def _column(self, plan: TablePlan, name: str, data_type: str, is_root: bool) -> Column:
        if name in SYSTEM_TYPES:
            # scd2 roots hold several versions of a row; a version that comes back repeats its `_dlt_id`
            unique = name == ROW_ID and not (plan.strategy == "scd2" and is_root)
            return Column(name, SYSTEM_TYPES[name], nullable=False, unique=unique)
        hint = dict(plan.hints.get(name, {})) if is_root else {}
        hint.pop("data_type", None)
        unique = bool(hint.pop("unique", False))
        return Column(name, data_type, unique=unique, **hint)

    def _new_column(self, plan: TablePlan, buf: _Buffer, name: str, value: Any) -> Any:
        if name not in SYSTEM_TYPES and self._check_contract(plan, buf.table, "columns", name, value) is not True:
            return self._contract_outcome(plan, "columns")
        is_root = buf.table.parent is None
        hint = plan.hints.get(name, {}) if is_root else {}
        data_type = SYSTEM_TYPES.get(name) or hint.get("data_type") or infer_type(value)
        return self._append_column(buf, self._column(plan, name, data_type, is_root))

    def _append_column(self, buf: _Buffer, column: Column) -> int:
        """Add a column; pending rows (one column shorter) leave as a batch first."""
        if buf.lines or buf.block:
            self._flush(buf)
        buf.table.columns[column.name] = column
        return self._register(buf, column)

    def _register(self, buf: _Buffer, column: Column) -> int:
        if column.data_type == "json":
            self._json.setdefault(buf.table.name, set()).add(column.name)
        buf.slots[column.name] = len(buf.encoders)
        buf.natives.append(NATIVE[column.data_type])
        encode = self.fmt.encoder(column.data_type, column.timezone)
        if column.data_type in _NUMERIC:
            encode = bounded(encode, *self._numeric_size(buf.table.name, column))
        buf.encoders.append(encode)
        return len(buf.encoders) - 1

    def _check_contract(self, plan: TablePlan, table: Table, entity: str, column: str, value: Any,
                        variant_of: Column | None = None) -> bool:
        """True when the contract lets `table` grow `column`; raises for `freeze`, else False (discard)."""
        mode = plan.contract.get(entity, "evolve")
        if mode == "evolve" or table.name not in self.stored:
            return True
        if mode == "freeze":
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            change = (f"would get a new column `{column}` (value {shown})" if variant_of is None else
                      f"column `{variant_of.name}` ({variant_of.data_type}) got the value {shown}, which needs a "
                      f"new variant column `{column}`")
            raise SchemaContractError(
                f"Table `{table.name}`: {change}, but the schema contract freezes `{entity}`. Fix the data, or set "
                f"`schema_contract: {{{entity}: evolve}}` (or `discard_row` / `discard_value`).",
                table=table.name, column=variant_of.name if variant_of else column, value=value)
        return False

    @staticmethod
    def _contract_outcome(plan: TablePlan, entity: str) -> Any:
        return _DROP_ROW if plan.contract.get(entity) == "discard_row" else None

    # ---- batches ------------------------------------------------------------------------

    def _flush(self, buf: _Buffer) -> None:
        self._drain(buf)
        if not buf.lines:
            return
        self.rows[buf.table.name] = self.rows.get(buf.table.name, 0) + buf.rows
        columns = tuple(buf.table.columns.values())[: len(buf.encoders)] + ((SEQ,) if buf.seq else ())
        # Encoded right away: compact bytes wait in the queue, not a list of Python strings.
        try:
            payload = self.fmt.join(buf.lines).encode("utf-8")
        except UnicodeEncodeError:
            raise self._unencodable(buf, columns) from None
        batch = Batch(buf.table.name, columns, payload, len(buf.lines))
        buf.lines, buf.nbytes, buf.rows = [], 0, 0
        self.emit(batch)

    def _unencodable(self, buf: _Buffer, columns: tuple[Column, ...]) -> BadDataError:
        """The error naming the row and column of a string Postgres cannot hold (a lone surrogate)."""
        first_row = self.rows[buf.table.name] - buf.rows
        for index, line in enumerate(buf.lines):
            try:
                line.encode("utf-8")
            except UnicodeEncodeError as exc:
                cell = _cell_index(line, exc.start, self.fmt.name)
                column = columns[cell].name if cell < len(columns) else "?"
                row = first_row + index + 1
                return BadDataError(
                    f"row {row} of table `{buf.table.name}`, column `{column}`: the string holds "
                    f"{line[exc.start]!r}, a lone surrogate, which UTF-8 (and so Postgres text) cannot store; "
                    "decode the source's bytes with `errors='replace'`, or drop the value",
                    table=buf.table.name, column=column, row=row)
        raise AssertionError("unreachable: the batch did not encode")

    def flush_all(self) -> None:
        """Send every pending row. Encoding a held block can open new tables (a value that turned
        into a list makes a child table), so the tables are walked until none has rows left."""
        while pending := [buf for buf in self.buffers.values() if buf.lines or buf.block]:
            for buf in pending:
                self._flush(buf)


RESERVED_PREFIX = "_pg_assets_"


class KeyRefused(Exception):
    """A key of an item cannot become a column; the caller names the table and the row."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


class _Names:
    """The columns one table's keys became, and which key took each column first.

    Two keys that become one column (`Foo Bar`, `foo_bar`, `fooBar`) are refused
    whether they meet in one item or in two, so no value silently overwrites another.
    """

    __slots__ = ("top", "nested", "sources", "renamable", "renames")

    def __init__(self, renames: Mapping[str, str] | None) -> None:
        self.top: dict[str, str] = {}
        self.nested: dict[tuple[str, str], tuple[str, str]] = {}
        self.sources: dict[str, str] = {}  # column -> the key (and where) that became it first
        self.renamable = renames is not None  # a root table: `name` hints apply to its top-level keys
        self.renames = renames or {}

    def claim(self, column: str, source: str, key: str | None = None) -> str:
        """`column` for the key described by `source`, refused when another key already became it.

        `key` is given for a top-level key, which a `name` hint can rename: the message shows how.
        """
        first = self.sources.setdefault(column, source)
        if first != source:
            fix = (f", or give it a column of its own with a hint such as `columns: {{{key!r}: {{name: "
                   f"{column}_2}}}}`" if key is not None and self.renamable else "")
            raise KeyRefused(column, f"the keys {first} and {source} both become column `{column}` once "
                                     f"normalised; rename one of them{fix}")
        return column


def _cell_index(line: str, position: int, fmt: str) -> int:
    """Which cell of an encoded row `position` falls in: tabs split COPY rows (tabs in values are
    escaped), commas outside quotes split `(a,'b',...)` rows."""
    if fmt == "copy":
        return line.count("\t", 0, position)
    cell, quoted = 0, False
    for ch in line[:position]:
        if ch == "'":
            quoted = not quoted
        elif ch == "," and not quoted:
            cell += 1
    return cell
