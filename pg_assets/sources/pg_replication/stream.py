"""Reading one load's worth of changes from the slot, exactly once.

The position committed with the replica (`Position`) is the end LSN of the last
transaction applied in full, plus, when a load had to stop inside a transaction (before
a `TRUNCATE`), that transaction's commit LSN and how many of its changes were applied.
On the way in, a transaction that committed before the position is skipped whole, and
in the transaction applied in part the changes already applied are skipped by count: the
server replays a transaction's changes in the same order every time. So a killed load, a
cut connection or a rerun replays, and the replay changes nothing twice.

A read ends at the first of: caught up with the WAL position seen when the run started
(`end_lsn`), the change or time budget (at the next commit), or a `TRUNCATE` of a
replicated table, which is a load of its own (`Batch.truncated`).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pg_assets.errors import TerminalLoadError
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.sources.pg_replication import pgoutput
from pg_assets.sources.pg_replication.catalog import SourceTable, TypeInfo
from pg_assets.sources.pg_replication.pgoutput import UNCHANGED, format_lsn, parse_lsn
from pg_assets.sources.pg_replication.spec import DELETED_COLUMN, LSN_COLUMN
from pg_assets.sources.pg_replication.spool import NULL, Spool, array_json, copy_field, has_special

# seconds without any message, at a position short of `end_lsn`, after which a read ends anyway
IDLE_LIMIT = 20.0
# a row whose text is at least this long may have values stored out of line (TOAST): keep its
# long values, a later update that leaves them unchanged does not send them
TOASTABLE_ROW = 256

Lookup = Callable[[SourceTable, str, Sequence[bytes]], bytes]


@dataclass(frozen=True)
class Position:
    lsn: int
    within: tuple[int, int] | None = None

    def state(self) -> dict[str, Any]:
        within = None if self.within is None else [format_lsn(self.within[0]), self.within[1]]
        return {"lsn": format_lsn(self.lsn), "within": within}

    @classmethod
    def from_state(cls, saved: dict[str, Any]) -> Position:
        within = saved.get("within")
        return cls(parse_lsn(saved["lsn"]), None if not within else (parse_lsn(within[0]), int(within[1])))


@dataclass
class Batch:
    """What one read produced: rows in `spool`, or `truncated` tables; the position after them."""

    position: Position
    truncated: tuple[str, ...] = ()
    changes: int = 0
    caught_up: bool = False
    columns: dict[str, dict[str, int]] = field(default_factory=dict)  # resource -> column -> type oid


@dataclass
class _Relation:
    table: SourceTable
    names: tuple[str, ...]
    columns: tuple[str, ...]  # the file's columns: names, lsn, deleted_ts
    key: tuple[int, ...]
    arrays: tuple[str | None, ...]
    varlena: tuple[bool, ...]
    plain: bool = False  # no array column: every value goes as it came, escaped at most

    def __post_init__(self) -> None:
        self.plain = all(a is None for a in self.arrays)


def _filled(rel: _Relation, old: list[Any] | None, new: list[Any] | None) -> list[Any] | None:
    """An update's new row with its unchanged TOASTed values taken from the old row, when the table's
    replica identity is FULL: the server sends that old row whole (detoasted)."""
    if old is None or new is None or rel.table.replica_identity != "f" or UNCHANGED not in new:
        return new
    return [o if n is UNCHANGED else n for o, n in zip(old, new)]


class Reader:
    """One read of the slot into a `Spool` (see the module docstring)."""

    def __init__(self, tables: Sequence[SourceTable], position: Position, end_lsn: int, spool: Spool,
                 types: Callable[[Sequence[int]], dict[int, TypeInfo]], lookup: Lookup, *,
                 max_changes: int | None = None, max_seconds: float | None = None) -> None:
        self.tables = {(t.schema, t.name): t for t in tables}
        self.position, self.end_lsn, self.spool = position, end_lsn, spool
        self.types, self.lookup = types, lookup
        self.max_changes, self.deadline = max_changes, None if max_seconds is None else time.monotonic() + max_seconds
        self.relations: dict[int, _Relation | None] = {}
        self.kept: dict[tuple[str, tuple[bytes, ...]], dict[str, bytes]] = {}
        self.batch = Batch(position)
        self._txn: pgoutput.Begin | None = None
        self._skip_txn, self._index, self._skip_upto = False, 0, 0

    # ---- the loop

    def read(self, cursor: Any) -> Batch:
        """Messages from a started replication cursor until the read ends."""
        cursor.send_feedback(flush_lsn=self.position.lsn)  # committed at the destination
        quiet_since = time.monotonic()
        while True:
            message = cursor.read_message()
            if message is None:
                if self._txn is None and cursor.wal_end >= self.end_lsn:
                    self.batch.caught_up = True
                    return self.batch
                if time.monotonic() - quiet_since > IDLE_LIMIT:
                    return self.batch
                if not select.select([cursor], [], [], 0.2)[0]:
                    cursor.send_feedback(reply=True)  # a keepalive says how far the server has decoded
                continue
            quiet_since = time.monotonic()
            if self._handle(pgoutput.decode(message.payload)):
                return self.batch

    def _handle(self, message: Any) -> bool:
        """Apply one message; True when the read ends here."""
        if isinstance(message, pgoutput.Change):
            return self._change(message)
        if isinstance(message, pgoutput.Begin):
            return self._begin(message)
        if isinstance(message, pgoutput.Commit):
            return self._commit(message)
        if isinstance(message, pgoutput.Relation):
            self._relation(message)
        elif isinstance(message, pgoutput.Truncate):
            return self._truncate(message)
        return False

    def _begin(self, begin: pgoutput.Begin) -> bool:
        if begin.final_lsn >= self.end_lsn or self._over_budget():
            self.batch.caught_up = begin.final_lsn >= self.end_lsn
            return True
        self._txn, self._index = begin, 0
        self._skip_txn = begin.final_lsn < self.position.lsn
        within = self.position.within
        self._skip_upto = within[1] if within is not None and within[0] == begin.final_lsn else 0
        return False

    def _commit(self, commit: pgoutput.Commit) -> bool:
        self._txn = None
        if not self._skip_txn:
            self.batch.position = Position(commit.end_lsn)
        if commit.end_lsn >= self.end_lsn:
            self.batch.caught_up = True
            return True
        return self._over_budget()

    def _over_budget(self) -> bool:
        if self.max_changes is not None and self.batch.changes >= self.max_changes:
            return True
        return self.deadline is not None and time.monotonic() > self.deadline

    def _applies(self) -> bool:
        """Count the change; False when it was applied by an earlier load."""
        self._index += 1
        return not self._skip_txn and self._index > self._skip_upto

    # ---- relations and changes

    def _relation(self, rel: pgoutput.Relation) -> None:
        table = self.tables.get((rel.schema, rel.name))
        if table is None:
            self.relations[rel.oid] = None  # published, but not replicated by this source
            return
        names = tuple(normalize_identifier(c.name) for c in rel.columns)
        by_name = {c.name: i for i, c in enumerate(rel.columns)}
        missing = [k for k in table.key if k not in by_name]
        if missing:
            raise ValueError(f"table `{table.qualified}`: key column `{missing[0]}` is not in the stream")
        types = self.types([c.type_oid for c in rel.columns])
        infos = [types[c.type_oid] for c in rel.columns]
        self.relations[rel.oid] = _Relation(
            table, names, (*names, LSN_COLUMN, DELETED_COLUMN), tuple(by_name[k] for k in table.key),
            tuple(i.element if i.array else None for i in infos), tuple(i.varlena for i in infos))
        seen = self.batch.columns.setdefault(table.resource, {})
        seen.update({n: c.type_oid for n, c in zip(names, rel.columns)})

    def _change(self, change: pgoutput.Change) -> bool:
        if not self._applies():
            return False
        rel = self.relations.get(change.relation)
        if rel is None:
            return False
        self.batch.changes += 1
        assert self._txn is not None
        lsn = str(self._txn.final_lsn).encode()
        if change.op == "I":
            self._write(rel, change.new, lsn, None)
        elif change.op == "U":
            new = _filled(rel, change.old, change.new)
            if change.old is not None and self._key(rel, change.old) != self._key(rel, new):
                self._write(rel, change.old, lsn, self._deleted_at())
            self._write(rel, new, lsn, None)
        else:
            self._write(rel, change.old, lsn, self._deleted_at())
        return False

    def _truncate(self, truncate: pgoutput.Truncate) -> bool:
        """A TRUNCATE of replicated tables is a load of its own: this read ends before it, unless it
        is the read's first change; then it is the whole read."""
        ours = [r.table.resource for oid in truncate.relations if (r := self.relations.get(oid)) is not None]
        applies = not self._skip_txn and self._index + 1 > self._skip_upto
        assert self._txn is not None
        if not ours or not applies:
            self._index += 1
            return False
        if self.batch.changes:  # stop before it, inside the transaction
            self.batch.position = Position(self.batch.position.lsn, (self._txn.final_lsn, self._index))
            return True
        self._index += 1
        self.batch.truncated = tuple(dict.fromkeys(ours))
        self.batch.changes += 1
        self.batch.position = Position(self.batch.position.lsn, (self._txn.final_lsn, self._index))
        return True

    def _deleted_at(self) -> bytes:
        assert self._txn is not None
        return pgoutput.commit_time(self._txn.commit_time).isoformat().encode()

    @staticmethod
    def _key(rel: _Relation, values: list[Any] | None) -> tuple[Any, ...]:
        return tuple(values[i] for i in rel.key) if values is not None else ()

    def _write(self, rel: _Relation, values: list[Any] | None, lsn: bytes, deleted: bytes | None) -> None:
        assert values is not None
        key = self._key(rel, values)
        if rel.plain and UNCHANGED not in values and not has_special(values):  # most rows: no escaping
            fields = [NULL if v is None else v for v in values]
        else:
            fields = [self._field(rel, i, v, key) for i, v in enumerate(values)]
        data = b"\t".join(fields)
        self._keep(rel, key, values, fields, deleted, len(data))
        self.spool.write(rel.table.resource, rel.columns,
                         b"\t".join((data, lsn, NULL if deleted is None else deleted)))

    def _field(self, rel: _Relation, i: int, value: Any, key: tuple[Any, ...]) -> bytes:
        if value is None:
            return NULL
        if value is UNCHANGED:
            return self._unchanged(rel, i, key)
        element = rel.arrays[i]
        if element is not None:
            return copy_field(array_json(value.decode("utf-8"), element).encode("utf-8"))
        return copy_field(value)

    def _keep(self, rel: _Relation, key: tuple[Any, ...], values: list[Any], fields: list[bytes],
              deleted: bytes | None, size: int) -> None:
        """Remember a wide row's long values for a later update that leaves them unchanged."""
        at = (rel.table.resource, key)
        if deleted is not None:
            self.kept.pop(at, None)
            return
        if size < TOASTABLE_ROW:
            return
        kept = self.kept.setdefault(at, {})
        for i, value in enumerate(values):
            if rel.varlena[i] and value is not UNCHANGED:
                kept[rel.names[i]] = fields[i]

    def _unchanged(self, rel: _Relation, i: int, key: tuple[Any, ...]) -> bytes:
        """An unchanged TOASTed value: as this read last saw it, else as the replica holds it."""
        if UNCHANGED in key:
            raise TerminalLoadError(f"table `{rel.table.qualified}`: an update left a TOASTed key value out, so its "
                                    "row cannot be found; run `ALTER TABLE ... REPLICA IDENTITY FULL` on the source",
                                    table=rel.table.resource)
        kept = self.kept.get((rel.table.resource, key), {}).get(rel.names[i])
        return kept if kept is not None else self.lookup(rel.table, rel.names[i], key)
