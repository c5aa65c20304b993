"""The schema document in `_dlt_version`, in dlt's stored-schema format (engine 11).

dlt reads this document to restore a pipeline on a new machine (`sync_destination`)
and to open the dataset (`dlt.dataset`), so it must be one that dlt 1.31 loads as it
is: the version bookkeeping (`version`, `version_hash`, `previous_hashes`) computed as
dlt computes it, dlt's `settings` and `normalizers`, the `_dlt_*` system tables, and
table and column hints in dlt's words.

A dataset may be shared with dlt and with other pipelines, so a document is never
written from scratch when one exists: the newest stored document of the schema is
updated table by table, and whatever it holds that pg_assets does not know (tables
without data, descriptions, `x-` hints) is kept.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from pg_assets.errors import StoredSchemaError
from pg_assets.json_codec import plain_dumpb
from pg_assets.normalize.naming import MAX_SCHEMA_NAME_CHARS, join_path
from pg_assets.schema import ROOT_ID, ROW_ID, Column, Table, merge_strategy, needs_root_ids
from pg_assets.vocabulary import DATA_TYPES

ENGINE_VERSION = 11
MAX_PREVIOUS_HASHES = 10
VERSION_TABLE, LOADS_TABLE, STATE_TABLE = "_dlt_version", "_dlt_loads", "_dlt_pipeline_state"
_RELATIONAL = "dlt.common.normalizers.json.relational"
_NORMALIZER_HINTS = "x-normalizer"

# dlt's default column hints: which system columns are NOT NULL and which carry key hints
_DEFAULT_HINTS = {
    "not_null": [ROW_ID, ROOT_ID, "_dlt_parent_id", "_dlt_list_idx", "_dlt_load_id"],
    "parent_key": ["_dlt_parent_id"],
    "root_key": [ROOT_ID],
    "unique": [ROW_ID],
    "row_key": [ROW_ID],
}


def _system_table(name: str, disposition: str, *columns: Column) -> Table:
    return Table(name, write_disposition=disposition, columns={c.name: c for c in columns}, resource=name)


def _required(name: str, data_type: str, **hints: Any) -> Column:
    return Column(name, data_type, nullable=False, **hints)


# dlt's system tables, in dlt's column order. `_dlt_loads` has no `_dlt_id`: loads are
# not rows of any resource.
SYSTEM_TABLES: dict[str, Table] = {
    VERSION_TABLE: _system_table(
        VERSION_TABLE, "skip", _required("version", "bigint"), _required("engine_version", "bigint"),
        _required("inserted_at", "timestamp"), _required("schema_name", "text"),
        _required("version_hash", "text"), _required("schema", "text")),
    LOADS_TABLE: _system_table(
        LOADS_TABLE, "skip", _required("load_id", "text", precision=64), Column("schema_name", "text"),
        _required("status", "bigint"), _required("inserted_at", "timestamp"), Column("schema_version_hash", "text")),
    STATE_TABLE: _system_table(
        STATE_TABLE, "append", _required("version", "bigint"), _required("engine_version", "bigint"),
        _required("pipeline_name", "text"), _required("state", "text"), _required("created_at", "timestamp"),
        Column("version_hash", "text"), _required("_dlt_load_id", "text", precision=64),
        _required(ROW_ID, "text", unique=True)),
}
# tables whose rows are data in dlt's eyes (they get `seen-data`), besides the data tables
_STATE_TABLE_EXTRA = {"file_format": "preferred"}
# The `description`s dlt 1.31 stores on its system tables and their columns: document data,
# repeated word for word so that a document pg_assets starts equals the one dlt starts.
_SYSTEM_DESCRIPTIONS: dict[str, tuple[str | None, dict[str, str]]] = {
    VERSION_TABLE: ("Created by DLT. Tracks schema updates", {
        "version": "Numeric version of the schema, incremented on each schema change",
        "engine_version": "Version of the dlt schema engine that created this schema",
        "inserted_at": "Timestamp when this schema version was stored",
        "schema_name": "Name of the schema",
        "version_hash": "Unique hash of the schema content, used to detect changes",
        "schema": "JSON representation of the complete schema definition"}),
    LOADS_TABLE: ("Created by DLT. Tracks completed loads", {
        "load_id": "Unique identifier of the load operation",
        "schema_name": "Name of the schema associated with this load",
        "status": "Status of the load operation (0 = success)",
        "inserted_at": "Timestamp when the load was completed",
        "schema_version_hash": "Hash of the schema version used during this load"}),
    # the state table's entry comes from dlt's normalizer, which keeps no table description
    STATE_TABLE: (None, {
        "version": "Numeric version of the pipeline state",
        "engine_version": "Version of the dlt state engine",
        "pipeline_name": "Name of the pipeline this state belongs to",
        "state": "Compressed JSON representation of the pipeline state",
        "created_at": "Timestamp when this state was created",
        "version_hash": "Hash of the state content, used to detect changes",
        "_dlt_load_id": "Load identifier linking this row to its load operation"}),
}


def schema_name_problem(name: Any) -> str | None:
    """Why `name` cannot name a stored schema, or None: dlt wants a Python identifier of at most 64
    characters (`dlt.common.schema.utils.is_valid_schema_name`)."""
    if not isinstance(name, str) or not name.isidentifier():
        return f"`{name}` is not a valid schema name: use letters, digits and `_`, not starting with a digit"
    if len(name) > MAX_SCHEMA_NAME_CHARS:
        return f"schema name `{name}` is {len(name)} characters long; dlt allows {MAX_SCHEMA_NAME_CHARS}"
    return None


# ---- reading ----------------------------------------------------------------------------


def decode(text: str, schema_name: str, dataset: str) -> dict[str, Any]:
    """A stored document: plain JSON, or base64 of zlib-compressed JSON (dlt compresses huge ones).

    Raises:
        StoredSchemaError: the text is neither.
    """
    try:
        return json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
    except (binascii.Error, ValueError, zlib.error):
        pass
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise _unreadable(schema_name, dataset, f"it is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _unreadable(schema_name, dataset, f"it is a JSON {type(doc).__name__}, not an object")
    return doc


def check_readable(doc: Mapping[str, Any], schema_name: str, dataset: str) -> None:
    """Refuse a document pg_assets cannot update without damaging it.

    Raises:
        StoredSchemaError: a newer schema engine wrote it, or its tables are not a mapping.
    """
    engine = doc.get("engine_version")
    if isinstance(engine, int) and engine > ENGINE_VERSION:
        raise _unreadable(schema_name, dataset, f"it was written by schema engine {engine}, and pg_assets reads "
                                                f"engine {ENGINE_VERSION} (dlt 1.31). Upgrade pg_assets")
    if not isinstance(doc.get("tables", {}), Mapping):
        raise _unreadable(schema_name, dataset, "its `tables` is not a mapping")


def _unreadable(schema_name: str, dataset: str, why: str) -> StoredSchemaError:
    return StoredSchemaError(
        f"The newest stored schema `{schema_name}` in dataset `{dataset}` (table `{VERSION_TABLE}`) cannot be read: "
        f"{why}. Nothing was written; the dataset is unchanged.", schema_name=schema_name, dataset=dataset)


def is_current(doc: Mapping[str, Any] | None) -> bool:
    """A document in this engine's format, which can be updated in place (older ones are rewritten)."""
    return bool(doc) and doc.get("engine_version") == ENGINE_VERSION and "normalizers" in doc \
        and isinstance(doc.get("version"), int)


def tables_of(doc: Mapping[str, Any]) -> dict[str, Table]:
    """The tables a document describes, with their hints."""
    return {name: Table.from_dict(t, name) for name, t in (doc.get("tables") or {}).items()
            if isinstance(t, Mapping)}


# ---- writing ----------------------------------------------------------------------------


def new_document(name: str) -> dict[str, Any]:
    """A fresh schema holding only the system tables, at version 1, as dlt starts one."""
    doc: dict[str, Any] = {
        "version": None, "version_hash": None, "engine_version": ENGINE_VERSION, "name": name,
        "tables": {n: t.to_dict() for n, t in SYSTEM_TABLES.items() if n != STATE_TABLE},
        "settings": {"detections": ["iso_timestamp"], "default_hints": copy.deepcopy(_DEFAULT_HINTS)},
        "normalizers": {"names": "snake_case", "json": {"module": _RELATIONAL}},
        "previous_hashes": [],
    }
    bump(doc)
    return doc


def updated_document(previous: Mapping[str, Any] | None, name: str, tables: Mapping[str, Table],
                     names: Iterable[str], column_hints: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
                     table_hints: Mapping[str, Mapping[str, Any]] | None = None,
                     extracted: Iterable[str] = ()) -> dict[str, Any]:
    """`previous` (or a new document) with the tables `names` written from `tables`, version bumped.

    Each written table is merged over its stored entry, so keys pg_assets does not
    model stay. Every written table exists in the dataset, so it carries dlt's
    `seen-data` mark, which dlt's dataset readers go by. `column_hints` adds hints per
    table and column (dlt's `x-` hints of scd2 validity columns), `table_hints` per table
    (scd2's `x-boundary-timestamp`; an `x-normalizer` given, a resource's `max_nesting`, is
    merged into the table's own). `extracted` are the root tables whose resources brought
    rows: their table hints are what dlt's extract step writes (see `_bump_in_steps`).
    """
    fresh = not is_current(previous)
    doc = new_document(name) if fresh else copy.deepcopy(dict(previous))
    base = copy.deepcopy(doc)
    stored = doc.setdefault("tables", {})
    written = [*SYSTEM_TABLES.values(), *(tables[n] for n in names if n not in SYSTEM_TABLES)]
    for table in written:
        table_name = table.name
        entry = _entry(table)
        _add_table_hints(entry, (table_hints or {}).get(table_name, {}))
        for column, hints in (column_hints or {}).get(table_name, {}).items():
            if column in entry["columns"]:
                entry["columns"][column].update(hints)
        stored[table_name] = _merged(stored.get(table_name), entry)
        if table.parent is None and table_name not in SYSTEM_TABLES and needs_root_ids(
                tables, table_name, merge_strategy(table), root_key_everywhere(doc)):
            _propagate_root_id(doc, table_name)
    _bump_in_steps(doc, base, extracted, fresh)
    return doc


# table keys a resource's hints set in dlt's extract step; the rest comes with its normalize step
_EXTRACT_KEYS = ("write_disposition", "resource", "x-merge-strategy", "x-boundary-timestamp")


def _bump_in_steps(doc: dict[str, Any], base: dict[str, Any], extracted: Iterable[str], fresh: bool) -> None:
    """dlt's version bookkeeping over one run: one bump for each of its steps that changed the schema.

    dlt's extract step writes the resources' table hints (`_EXTRACT_KEYS`, `max_nesting`), its
    normalize step the columns, child tables and `seen-data` marks; each saves the schema,
    so a load that changes both adds two versions. A new schema's extract step starts it at
    version 1, replacing the empty schema, whose hash it keeps among the previous ones.
    """
    mid = copy.deepcopy(base)
    for table_name in extracted:
        if table_name in doc["tables"]:
            mid["tables"][table_name] = _extract_step_entry(mid["tables"].get(table_name), doc["tables"][table_name])
    if fresh:
        empty_hash, mid["version_hash"] = mid["version_hash"], content_hash(mid)
        if mid["version_hash"] != empty_hash:
            mid["previous_hashes"] = [empty_hash]
    else:
        bump(mid)
    doc.update({key: copy.deepcopy(mid[key]) for key in ("version", "version_hash", "previous_hashes")})
    bump(doc)


def _extract_step_entry(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A table as dlt's extract step leaves it: `old` (or a new table without columns) with the
    table hints of `new`."""
    out = dict(old) if isinstance(old, Mapping) else {"name": new["name"], "columns": {}}
    for key in _EXTRACT_KEYS:
        if key in new:
            out[key] = new[key]
        else:
            out.pop(key, None)
    nesting = (new.get(_NORMALIZER_HINTS) or {}).get("max_nesting")
    if nesting is not None:
        out[_NORMALIZER_HINTS] = {**(out.get(_NORMALIZER_HINTS) or {}), "max_nesting": nesting}
    return out


def _add_table_hints(entry: dict[str, Any], hints: Mapping[str, Any]) -> None:
    for key, value in hints.items():
        entry[key] = {**value, **entry.get(key, {})} if key == _NORMALIZER_HINTS else value


def _entry(table: Table) -> dict[str, Any]:
    entry = table.to_dict()
    if table.name == STATE_TABLE:
        entry.update(_STATE_TABLE_EXTRA)
    if table.name in _SYSTEM_DESCRIPTIONS:
        _describe_system_table(entry, *_SYSTEM_DESCRIPTIONS[table.name])
    else:
        _mark_variants(entry["columns"])
    if not table.name.startswith("_dlt_") or table.name == STATE_TABLE:
        entry[_NORMALIZER_HINTS] = {"seen-data": True}
    return entry


def _describe_system_table(entry: dict[str, Any], description: str | None, columns: Mapping[str, str]) -> None:
    if description is not None:
        entry["description"] = description
    for name, text in columns.items():
        if name in entry["columns"]:
            entry["columns"][name]["description"] = text


def _mark_variants(columns: dict[str, dict[str, Any]]) -> None:
    """dlt's marks on a variant column (`<column>__v_<type>`, shortened like any long name):
    `variant: true` and its description."""
    variants = {join_path(base, f"v_{data_type}"): data_type for base in columns for data_type in DATA_TYPES}
    for name, column in columns.items():
        if variants.get(name) == column.get("data_type"):
            column.update(variant=True, description=f"Variant of column {name} generated by dlt")


def _merged(old: Mapping[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """`new` over `old`: table keys replaced, columns merged one by one in their stored order."""
    if not isinstance(old, Mapping):
        return new
    out = {**old, **{k: v for k, v in new.items() if k != "columns"}}
    if isinstance(old.get(_NORMALIZER_HINTS), Mapping) and _NORMALIZER_HINTS in new:
        # dlt's own normalizer hints (`max_nesting`, ...) stay beside the `seen-data` mark
        out[_NORMALIZER_HINTS] = {**old[_NORMALIZER_HINTS], **new[_NORMALIZER_HINTS]}
    if "parent" not in new and "x-merge-strategy" not in new:
        out.pop("x-merge-strategy", None)  # the table is no longer an upsert/insert-only/scd2 merge
    columns = {n: dict(c) for n, c in (old.get("columns") or {}).items()}
    for col_name, col in new["columns"].items():
        columns[col_name] = {**columns.get(col_name, {}), **col}
    out["columns"] = columns
    return out


def _propagate_root_id(doc: dict[str, Any], root: str) -> None:
    """dlt copies a root's `_dlt_id` into `_dlt_root_id` of every row below it when the config says so;
    it writes the entry for the roots `schema.needs_root_ids` names, and never removes one."""
    config = doc.setdefault("normalizers", {}).setdefault("json", {"module": _RELATIONAL}).setdefault("config", {})
    config.setdefault("propagation", {}).setdefault("tables", {}).setdefault(root, {ROW_ID: ROOT_ID})


def _json_config(doc: Mapping[str, Any] | None) -> Mapping[str, Any]:
    found = ((doc or {}).get("normalizers") or {}).get("json") or {}
    return (found.get("config") or {}) if isinstance(found, Mapping) else {}


def root_key_everywhere(doc: Mapping[str, Any] | None) -> bool:
    """The stored `root_key_propagation: true`: every table's child rows carry `_dlt_root_id`."""
    return _json_config(doc).get("root_key_propagation") is True


def propagated_roots(doc: Mapping[str, Any] | None) -> frozenset[str]:
    """Roots whose `_dlt_id` the stored config copies into `_dlt_root_id` below them: dlt
    keeps doing so for the child tables they gain, whatever their strategy is now."""
    tables = (_json_config(doc).get("propagation") or {}).get("tables") or {}
    return frozenset(name for name, mapping in tables.items()
                     if isinstance(mapping, Mapping) and mapping.get(ROW_ID) == ROOT_ID)


def bump(doc: dict[str, Any]) -> bool:
    """dlt's version bookkeeping: a new content hash increments `version` and remembers the old hash.

    A document without a hash is a new schema: it gets version 1 and no previous hash.
    Returns True when the content changed.
    """
    new_hash = content_hash(doc)
    old_hash = doc.get("version_hash")
    if not old_hash:
        doc["version"] = doc.get("version") or 1
    elif new_hash != old_hash:
        doc["version"] = int(doc.get("version") or 0) + 1
        previous = doc.setdefault("previous_hashes", [])
        if old_hash not in previous:
            previous.insert(0, old_hash)
            del previous[MAX_PREVIOUS_HASHES:]
    doc.setdefault("previous_hashes", [])
    doc["version_hash"] = new_hash
    return new_hash != old_hash


def content_hash(doc: Mapping[str, Any]) -> str:
    """dlt's schema version hash: sha3-256 of the sorted JSON without the bookkeeping keys,
    then every table name (sorted) followed by its column names in order, so that a
    reordered column changes the hash too."""
    content = {k: v for k, v in doc.items()
               if k not in ("version", "version_hash", "imported_version_hash", "previous_hashes")}
    digest = hashlib.sha3_256(plain_dumpb(content))
    tables = content.get("tables") or {}
    for table_name in sorted(tables):
        digest.update(table_name.encode("utf-8"))
        for column_name in tables[table_name].get("columns") or {}:
            digest.update(column_name.encode("utf-8"))
    return base64.b64encode(digest.digest()).decode("ascii")


def to_text(doc: Mapping[str, Any]) -> str:
    """The `_dlt_version.schema` text: plain JSON, as dlt stores documents below 1 GB."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
