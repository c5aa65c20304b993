"""The `pgoutput` logical replication protocol, version 1: bytes in, small tuples out.

Each message of a logical replication stream is one `XLogData` payload whose first byte
names it (Postgres docs, "Logical Replication Message Formats"):

- `B` Begin (final LSN, commit time, xid) and `C` Commit (commit LSN, end LSN, time)
  frame every transaction; the server sends only committed ones, in commit order;
- `R` Relation describes a table (its columns, which of them form the replica identity)
  before the first change of it on a connection, and again after its columns change;
- `I` Insert, `U` Update, `D` Delete carry tuples; `T` Truncate names relations;
- `Y` Type and `O` Origin are informational.

Values arrive in text form (`t`), as NULL (`n`), or as `u`: a TOASTed value the update did
not change, which the server does not send. Values stay `bytes` here: they are copied on
as COPY text without ever becoming Python objects.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from typing import NamedTuple

# a tuple value the update left unchanged (an out-of-line TOASTed value the server did not send)
UNCHANGED = object()

# commit timestamps count microseconds from the Postgres epoch
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)

_I16, _I32, _I64 = struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">q")
_BEGIN = struct.Struct(">qqi")
_COMMIT = struct.Struct(">bqqq")
_COLUMN = struct.Struct(">Ii")  # type oid, type modifier (-1: none)

Values = list  # one value per column: bytes, None or UNCHANGED


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    in_key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_time: int  # microseconds since 2000-01-01 UTC
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time: int


class Change(NamedTuple):
    """An insert (`I`), update (`U`) or delete (`D`) of one row of `relation` (its oid).

    `old` is the replica identity's old values (`K`: the key columns, others None; `O`:
    every column) when the server sent them: deletes always, updates when the key changed
    or the identity is FULL. `new` is the new row (inserts, updates).
    """

    op: str
    relation: int
    old: Values | None
    new: Values | None


@dataclass(frozen=True)
class Truncate:
    relations: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class Other:
    """A message nothing is done with (`Y` Type, `O` Origin, `M` Message)."""

    kind: str


def commit_time(micros: int) -> dt.datetime:
    return PG_EPOCH + dt.timedelta(microseconds=micros)


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\x00", at)
    return data[at:end].decode("utf-8"), end + 1


def tuple_data(data: bytes, at: int) -> tuple[Values, int]:
    """One TupleData: an Int16 column count, then per column `n`, `u` or `t` + Int32 length + text."""
    (count,) = _I16.unpack_from(data, at)
    at += 2
    values: Values = []
    append = values.append
    for _ in range(count):
        kind = data[at]
        at += 1
        if kind == 0x74:  # t
            (length,) = _I32.unpack_from(data, at)
            at += 4
            append(data[at:at + length])
            at += length
        elif kind == 0x6E:  # n
            append(None)
        elif kind == 0x75:  # u
            append(UNCHANGED)
        else:
            raise ValueError(f"pgoutput: unexpected tuple value kind {chr(kind)!r} (binary mode is not requested)")
    return values, at


def _relation(data: bytes) -> Relation:
    (oid,) = _I32.unpack_from(data, 1)
    schema, at = _string(data, 5)
    name, at = _string(data, at)
    identity = chr(data[at])
    (count,) = _I16.unpack_from(data, at + 1)
    at += 3
    columns = []
    for _ in range(count):
        flags = data[at]
        column, at = _string(data, at + 1)
        type_oid, modifier = _COLUMN.unpack_from(data, at)
        at += 8
        columns.append(Column(column, type_oid, modifier, bool(flags & 1)))
    return Relation(oid & 0xFFFFFFFF, schema, name, identity, tuple(columns))


def _insert(data: bytes) -> Change:
    (oid,) = _I32.unpack_from(data, 1)
    new, _ = tuple_data(data, 6)  # 5 is the `N` marker
    return Change("I", oid & 0xFFFFFFFF, None, new)


def _update(data: bytes) -> Change:
    (oid,) = _I32.unpack_from(data, 1)
    old = None
    at = 5
    if data[at] in (0x4B, 0x4F):  # K or O: the old identity first
        old, at = tuple_data(data, at + 1)
    new, _ = tuple_data(data, at + 1)  # skip the `N`
    return Change("U", oid & 0xFFFFFFFF, old, new)


def _delete(data: bytes) -> Change:
    (oid,) = _I32.unpack_from(data, 1)
    old, _ = tuple_data(data, 6)
    return Change("D", oid & 0xFFFFFFFF, old, None)


def _truncate(data: bytes) -> Truncate:
    (count,) = _I32.unpack_from(data, 1)
    options = data[5]
    oids = struct.unpack_from(f">{count}I", data, 6)
    return Truncate(tuple(oids), bool(options & 1), bool(options & 2))


def _begin(data: bytes) -> Begin:
    return Begin(*_BEGIN.unpack_from(data, 1))


def _commit(data: bytes) -> Commit:
    _flags, commit_lsn, end_lsn, time = _COMMIT.unpack_from(data, 1)
    return Commit(commit_lsn, end_lsn, time)


_DECODERS = {"B": _begin, "C": _commit, "R": _relation, "I": _insert, "U": _update, "D": _delete, "T": _truncate}


def decode(data: bytes) -> Begin | Commit | Relation | Change | Truncate | Other:
    """One pgoutput message.

    Examples:
        >>> decode(bytes.fromhex("49" "00004000" "4e" "0002" "7400000001" "31" "6e"))
        Change(op='I', relation=16384, old=None, new=[b'1', None])
    """
    kind = chr(data[0])
    decoder = _DECODERS.get(kind)
    return decoder(data) if decoder is not None else Other(kind)


def format_lsn(lsn: int) -> str:
    """`16/B374D848`, the way Postgres spells an LSN.

    Examples:
        >>> format_lsn(0x16B374D848), parse_lsn("16/B374D848") == 0x16B374D848
        ('16/B374D848', True)
    """
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
