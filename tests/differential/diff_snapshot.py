"""A dataset read whole, and two of them compared table by table, column by column, key by key.

What is compared, each difference tagged with its aspect:

- `ddl`: every table's columns in their order (type, length, precision, scale, nullability)
  and its constraints (`UNIQUE`, primary and foreign keys, checks);
- `rows`: every value of every row, as psycopg2 reads it back;
- `row_keys`: `_dlt_id`, `_dlt_parent_id`, `_dlt_root_id`. Where dlt draws a root key at
  random (append, replace, delete-insert, the state table), the other dataset's root rows
  are paired with the reference's by content (their child rows included) and its keys are
  renamed to the paired ones; child keys must be dlt's hash of their parent key, table and
  position, and are renamed through the same pairing. Hashed keys (upsert, insert-only,
  scd2 and every child row under them) are compared exactly;
- `stored_schema`: the newest `_dlt_version.schema` of each schema name, key by key (the order
  of columns too), without `version_hash` and with `previous_hashes` as their number;
- `state`: the newest pipeline state, decoded by dlt, without `_version_hash` and with the
  dataset name in common;
- `bookkeeping`: the rows of `_dlt_loads`, `_dlt_version` and `_dlt_pipeline_state` without
  their times and hashes (load ids become `load 1`, `load 2` ... in load order).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dlt.common.normalizers.json.helpers import get_nested_row_hash
from dlt.common.versioned_state import decompress_state

from pg_assets.sql.quoting import ident, qualified

ID_COLUMNS = ("_dlt_id", "_dlt_parent_id", "_dlt_root_id")
LOAD_ID, LIST_IDX = "_dlt_load_id", "_dlt_list_idx"
SYSTEM_TABLES = ("_dlt_loads", "_dlt_version", "_dlt_pipeline_state")
DATASET = "(dataset)"  # the case of a difference outside every case's tables
MISSING = "<missing>"
MAX_PER_TABLE = 12  # row differences reported per table and aspect


@dataclass(frozen=True)
class Difference:
    """One thing the compared dataset has otherwise than dlt's: where, dlt's value, the other value."""

    aspect: str
    case: str
    where: str
    reference: Any
    other: Any

    def __str__(self) -> str:
        return f"[{self.aspect}] {self.where}: dlt={self.reference!r} | other={self.other!r}"


@dataclass
class Snapshot:
    """Everything of one dataset the comparison looks at."""

    dataset: str
    columns: dict[str, list[tuple[Any, ...]]]
    constraints: dict[str, list[tuple[Any, ...]]]
    rows: dict[str, list[dict[str, Any]]]
    parents: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # load id -> `load <n>`

    def schemas(self) -> dict[str, dict[str, Any]]:
        """The newest stored schema of each name."""
        newest = {}
        for row in sorted(self.rows.get("_dlt_version", []), key=lambda r: r["inserted_at"]):
            newest[row["schema_name"]] = json.loads(row["schema"])
        return newest

    def state(self) -> dict[str, Any] | None:
        rows = sorted(self.rows.get("_dlt_pipeline_state", []), key=lambda r: r["created_at"])
        return decompress_state(rows[-1]["state"]) if rows else None

    def children(self, table: str) -> list[str]:
        return sorted(t for t, parent in self.parents.items() if parent == table and t in self.rows)

    def depth(self, table: str) -> int:
        return 0 if table not in self.parents else 1 + self.depth(self.parents[table])


def snapshot(conn: Any, dataset: str) -> Snapshot:
    """Read `dataset` whole (tables, columns, constraints, rows, stored schemas)."""
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, "
                    "numeric_scale, datetime_precision, is_nullable FROM information_schema.columns "
                    "WHERE table_schema = %s ORDER BY table_name, ordinal_position", (dataset,))
        columns: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for table, *column in cur.fetchall():
            columns[table].append(tuple(column))
        cur.execute("SELECT conrelid::regclass::text, contype, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE connamespace = %s::regnamespace ORDER BY 1, 3", (ident(dataset),))
        constraints: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for table, kind, name, definition in cur.fetchall():
            if kind == "n":  # NOT NULL, already in `is_nullable`; its generated name says only the order of DDL
                continue
            constraints[table.rsplit(".", 1)[-1].strip('"')].append((kind, name, definition))
        rows = {t: _rows(cur, dataset, t) for t in columns}
    snap = Snapshot(dataset, dict(columns), dict(constraints), rows)
    for doc in snap.schemas().values():
        snap.parents.update({t: s["parent"] for t, s in doc.get("tables", {}).items() if s.get("parent")})
    loads = sorted(rows.get("_dlt_loads", []), key=lambda r: float(r["load_id"]))
    snap.labels = {r["load_id"]: f"load {n}" for n, r in enumerate(loads, 1)}
    return snap


def _rows(cur: Any, dataset: str, table: str) -> list[dict[str, Any]]:
    cur.execute(f"SELECT * FROM {qualified(dataset, table)}")
    names = [d.name for d in cur.description]
    return [{n: bytes(v) if isinstance(v, memoryview) else v for n, v in zip(names, row)} for row in cur.fetchall()]


def compare(reference: Snapshot, other: Snapshot, cases: Mapping[str, Any]) -> list[Difference]:
    """Every difference of `other` from `reference` (dlt's), each tagged with its aspect and case."""
    def case_of(table: str) -> str:
        while table in reference.parents or table in other.parents:
            table = reference.parents.get(table) or other.parents[table]
        return table if table in cases else DATASET

    found: list[tuple[str, str, str, Any, Any]] = []
    found += _ddl(reference, other)
    found += _all_rows(reference, other, cases)
    found += _stored_schemas(reference, other)
    found += _states(reference, other)
    found += _bookkeeping(reference, other)
    return [Difference(aspect, case_of(table), where, a, b) for aspect, table, where, a, b in found]


Found = list[tuple[str, str, str, Any, Any]]  # (aspect, table, where, dlt's value, the other value)


def _ddl(ref: Snapshot, other: Snapshot) -> Found:
    out: Found = []
    for table in sorted(set(ref.columns) | set(other.columns)):
        a, b = ref.columns.get(table), other.columns.get(table)
        if a is None or b is None:
            out.append(("ddl", table, f"table `{table}`", a is not None, b is not None))
            continue
        by_name_a, by_name_b = {c[0]: c for c in a}, {c[0]: c for c in b}
        common = [n for n in by_name_a if n in by_name_b]
        if common != [n for n in by_name_b if n in by_name_a]:
            out.append(("ddl", table, f"`{table}` column order", list(by_name_a), list(by_name_b)))
        for name in [*by_name_a, *(n for n in by_name_b if n not in by_name_a)]:
            if by_name_a.get(name) != by_name_b.get(name):
                out.append(("ddl", table, f"`{table}`.`{name}`", by_name_a.get(name, MISSING),
                            by_name_b.get(name, MISSING)))
        if ref.constraints.get(table, []) != other.constraints.get(table, []):
            out.append(("ddl", table, f"`{table}` constraints", ref.constraints.get(table, []),
                        other.constraints.get(table, [])))
    return out


def _freeze(value: Any) -> str:
    """A value as a comparable, sortable key that keeps its type (1, 1.0 and True stay apart)."""
    if isinstance(value, (dict, list)):
        return "json:" + json.dumps(value, sort_keys=True, default=repr)
    return f"{type(value).__name__}:{value!r}"


def _labelled(row: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    return {k: labels.get(v, v) if k == LOAD_ID else v for k, v in row.items()}


def _signatures(side: Snapshot, table: str, nested: bool = True) -> dict[str, str]:
    """`_dlt_id` -> a digest of the row's content without its keys, its child rows' included (`nested`)."""
    by_parent: dict[str, dict[str, list[str]]] = {}
    for child in side.children(table) if nested else ():
        signatures = _signatures(side, child)
        grouped: dict[str, list[str]] = defaultdict(list)
        for row in side.rows[child]:
            grouped[row.get("_dlt_parent_id")].append(signatures.get(row.get("_dlt_id"), ""))
        by_parent[child] = grouped
    out = {}
    for row in side.rows[table]:
        own = sorted((k, _freeze(v)) for k, v in _labelled(row, side.labels).items() if k not in ID_COLUMNS)
        kids = [(child, sorted(grouped.get(row.get("_dlt_id"), []))) for child, grouped in by_parent.items()]
        out[row.get("_dlt_id")] = hashlib.sha1(repr((own, kids)).encode()).hexdigest()
    return out


def _paired_roots(ref: Snapshot, other: Snapshot, table: str) -> dict[str, str]:
    """The other side's random root keys -> the reference's keys of the same content: with their child rows
    first, then by their own values alone (so a difference in a child row pairs its root all the same)."""
    pairs: dict[str, str] = {}
    for nested in (True, False):
        theirs: dict[str, list[str]] = defaultdict(list)
        taken = set(pairs.values())
        for row_id, signature in _signatures(ref, table, nested).items():
            if row_id not in taken:
                theirs[signature].append(row_id)
        for row_id, signature in sorted(_signatures(other, table, nested).items(), key=lambda kv: (kv[1],
                                                                                                   str(kv[0]))):
            if row_id not in pairs and theirs.get(signature):
                pairs[row_id] = theirs[signature].pop(0)
    return pairs


def _renamed(other: Snapshot, id_map: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The other side's rows with root keys paired and child keys re-hashed from their new parents.

    A child key that is not dlt's hash of its own parent key keeps its value (and shows as a difference).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for table in sorted(other.rows, key=other.depth):
        renamed = []
        for row in other.rows[table]:
            new = _labelled(row, other.labels)
            parent, idx = row.get("_dlt_parent_id"), row.get(LIST_IDX)
            if parent is not None and idx is not None:
                new["_dlt_parent_id"] = id_map.get(parent, parent)
                if row.get("_dlt_id") == get_nested_row_hash(parent, table, idx):
                    id_map[row["_dlt_id"]] = get_nested_row_hash(new["_dlt_parent_id"], table, idx)
            for key in ("_dlt_id", "_dlt_root_id"):
                if row.get(key) is not None:
                    new[key] = id_map.get(row[key], row[key])
            renamed.append(new)
        out[table] = renamed
    return out


def _all_rows(ref: Snapshot, other: Snapshot, cases: Mapping[str, Any]) -> Found:
    id_map: dict[str, str] = {}
    for table in other.rows:
        case = cases.get(table)
        if case is not None and case.random_root and table in ref.rows and table not in other.parents:
            id_map.update(_paired_roots(ref, other, table))
    renamed = _renamed(other, id_map)
    out: Found = []
    for table in sorted(set(ref.rows) & set(other.rows) - set(SYSTEM_TABLES)):
        out += _table_rows(table, [_labelled(r, ref.labels) for r in ref.rows[table]], renamed[table])
    return out


def _table_rows(table: str, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> Found:
    """Rows only one side has, paired by closeness: each differing column with both values."""
    frozen = lambda rows: Counter(tuple(sorted((k, _freeze(v)) for k, v in r.items())) for r in rows)  # noqa: E731
    a, b = frozen(ours), frozen(theirs)
    only_a, only_b = [dict(r) for r in (a - b).elements()], [dict(r) for r in (b - a).elements()]
    out: Found = []
    for ra, rb in _closest_pairs(only_a, only_b):
        if ra is None or rb is None:
            out.append(("rows", table, f"`{table}` row {_label(ra or rb)} only in "
                        f"{'dlt' if rb is None else 'other'}", _shown(ra), _shown(rb)))
            continue
        columns = [k for k in {**ra, **rb} if ra.get(k, MISSING) != rb.get(k, MISSING)]
        aspect = "row_keys" if set(columns) <= set(ID_COLUMNS) else "rows"
        for k in columns:
            out.append((aspect, table, f"`{table}` row {_label(ra)} column `{k}`", _shown_value(ra, k),
                        _shown_value(rb, k)))
    return out[:MAX_PER_TABLE * 4]


def _closest_pairs(a: list[dict[str, str]], b: list[dict[str, str]]) -> Iterable[tuple[Any, Any]]:
    """Greedy pairs of rows with the fewest differing columns; leftovers paired with None."""
    left = list(b)
    for ra in a[:MAX_PER_TABLE]:
        if not left:
            yield ra, None
            continue
        best = min(left, key=lambda rb: sum(ra.get(k) != rb.get(k) for k in {**ra, **rb}))
        left.remove(best)
        yield ra, best
    for rb in left[:MAX_PER_TABLE]:
        yield None, rb


def _label(row: Mapping[str, str] | None) -> str:
    row = row or {}
    keys = [k for k in ("id", LIST_IDX, "_dlt_valid_from", "_dlt_id") if k in row]
    return "(" + ", ".join(f"{k}={row[k].split(':', 1)[-1]}" for k in keys) + ")"


def _shown(row: Mapping[str, str] | None) -> Any:
    return None if row is None else {k: v.split(":", 1)[-1] for k, v in sorted(row.items())}


def _shown_value(row: Mapping[str, str], key: str) -> str:
    return row.get(key, MISSING)


def _walk(a: Any, b: Any, path: str, out: list[tuple[str, Any, Any]]) -> None:
    """Differences of two JSON documents, key by key; `columns` mappings also by their order."""
    if isinstance(a, dict) and isinstance(b, dict):
        if path.endswith(".columns"):
            common = [k for k in a if k in b]
            if common != [k for k in b if k in a]:
                out.append((f"{path} (order)", list(a), list(b)))
        for key in [*a, *(k for k in b if k not in a)]:
            _walk(a.get(key, MISSING), b.get(key, MISSING), f"{path}.{key}" if path else key, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}[{n}]", out)
    elif _freeze(a) != _freeze(b):
        out.append((path, a, b))


def _document(doc: dict[str, Any]) -> dict[str, Any]:
    normal = {k: v for k, v in doc.items() if k != "version_hash"}
    normal["previous_hashes"] = len(doc.get("previous_hashes", []))
    return normal


def _stored_schemas(ref: Snapshot, other: Snapshot) -> Found:
    a, b = ref.schemas(), other.schemas()
    out: Found = []
    for name in sorted(set(a) | set(b)):
        walked: list[tuple[str, Any, Any]] = []
        _walk(_document(a[name]) if name in a else MISSING, _document(b[name]) if name in b else MISSING,
              f"schema `{name}`", walked)
        for where, x, y in walked:
            parts = where.split(".")
            table = parts[2] if len(parts) > 2 and parts[1] == "tables" else ""
            out.append(("stored_schema", table, where, x, y))
    return out


def _state_document(state: dict[str, Any] | None, dataset: str) -> Any:
    if state is None:
        return MISSING
    normal = {k: v for k, v in state.items() if k != "_version_hash"}
    if normal.get("dataset_name") == dataset:
        normal["dataset_name"] = "<the dataset>"
    return normal


def _states(ref: Snapshot, other: Snapshot) -> Found:
    walked: list[tuple[str, Any, Any]] = []
    _walk(_state_document(ref.state(), ref.dataset), _state_document(other.state(), other.dataset), "state",
          walked)
    out: Found = []
    for where, x, y in walked:
        parts = where.split(".")
        table = parts[4] if len(parts) > 4 and parts[1] == "sources" and parts[3] == "resources" else ""
        out.append(("state", table, where, x, y))
    return out


def _bookkeeping_rows(side: Snapshot) -> dict[str, list[tuple[Any, ...]]]:
    versions = sorted(side.rows.get("_dlt_version", []), key=lambda r: r["inserted_at"])
    version_of = {r["version_hash"]: r["version"] for r in versions}
    loads = sorted(side.rows.get("_dlt_loads", []), key=lambda r: float(r["load_id"]))
    states = sorted(side.rows.get("_dlt_pipeline_state", []), key=lambda r: r["created_at"])
    return {
        "_dlt_loads": [(side.labels[r["load_id"]], r["schema_name"], r["status"],
                        f"version {version_of.get(r['schema_version_hash'], '?')}") for r in loads],
        "_dlt_version": [(r["version"], r["engine_version"], r["schema_name"]) for r in versions],
        "_dlt_pipeline_state": [(r["version"], r["engine_version"], r["pipeline_name"],
                                 side.labels.get(r[LOAD_ID], r[LOAD_ID])) for r in states],
    }


def _bookkeeping(ref: Snapshot, other: Snapshot) -> Found:
    a, b = _bookkeeping_rows(ref), _bookkeeping_rows(other)
    return [("bookkeeping", table, f"`{table}` rows", a[table], b[table]) for table in a if a[table] != b[table]]
