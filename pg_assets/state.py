"""Pipeline state in the destination, and the lock that serialises runs of one pipeline.

State (incremental cursors, source state) is a JSON document stored in
`_dlt_pipeline_state` exactly as dlt stores it: base64 of zlib-compressed typed JSON
(datetimes, dates, Decimals keep their type, see `json_codec`), with a version and a
version hash, so dlt and pg_assets each resume the other's cursors. It is written in
the same transaction as the load's data and its `_dlt_loads` row, and read back only
through a completed load, so a failed or killed load can never move a cursor. No
local file is involved.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import logging
import time
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from pg_assets import json_codec, sql
from pg_assets.errors import ConfigError, LockTimeoutError, did_you_mean
from pg_assets.normalize.row_keys import digest_id

log = logging.getLogger("pg_assets")

STATE_ENGINE_VERSION = 4
_HASH_EXCLUDED = ("_state_version", "_state_engine_version", "_version_hash", "_local")

STATE_TABLE = "_dlt_pipeline_state"
LOADS_TABLE = "_dlt_loads"
VERSION_TABLE = "_dlt_version"


def new_state(pipeline_name: str, dataset: str, schema_name: str | None = None) -> dict[str, Any]:
    """The state of a pipeline that has never loaded; its schema is named after it unless told otherwise."""
    return {
        "_state_version": 0,
        "_state_engine_version": STATE_ENGINE_VERSION,
        "pipeline_name": pipeline_name,
        "default_schema_name": schema_name or pipeline_name,
        "schema_names": [schema_name or pipeline_name],
        "dataset_name": dataset,
        "destination_type": "dlt.destinations.postgres",
        "destination_name": None,  # dlt's value for a destination without a custom name
        # no `sources` yet: dlt adds it with the first resource state, and so does `resource_state`
    }


def add_schema_name(state: dict[str, Any], schema_name: str) -> None:
    """List `schema_name` among the pipeline's schemas: dlt restores only the listed ones
    (`sync_destination`), so a schema pg_assets writes must be named there."""
    names = state.setdefault("schema_names", [])
    if schema_name not in names:
        names.append(schema_name)
    state.setdefault("default_schema_name", schema_name)


def state_hash(state: Mapping[str, Any]) -> str:
    """The content hash dlt keeps in `_version_hash`: what changed, not when.

    sha3-256 of the key-sorted typed JSON, as dlt computes it, so a state that dlt wrote
    and pg_assets read unchanged keeps its version.
    """
    content = {k: v for k, v in state.items() if k not in _HASH_EXCLUDED}
    digest = hashlib.sha3_256(json_codec.typed_dumpb(content, sort_keys=True)).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_state(state: Mapping[str, Any]) -> str:
    """base64(zlib(typed json)), the text stored in `_dlt_pipeline_state.state`; `_local` stays out."""
    raw = json_codec.typed_dumpb({k: v for k, v in state.items() if k != "_local"})
    return base64.b64encode(zlib.compress(raw, level=9)).decode("ascii")


def decode_state(text: str) -> dict[str, Any]:
    """Read a stored state, typed values back in their types; uncompressed typed JSON is accepted too."""
    try:
        raw = zlib.decompress(base64.b64decode(text, validate=True))
    except (ValueError, zlib.error):  # not base64 (binascii.Error), or not ASCII at all: typed markers
        return json_codec.typed_loads(text)
    return json_codec.typed_loads(raw)


def bump(state: dict[str, Any], previous_hash: str | None) -> bool:
    """Advance version and hash if the content changed since `previous_hash`; True when it did."""
    new_hash = state_hash(state)
    if new_hash == previous_hash:
        return False
    state["_state_version"] = int(state.get("_state_version", 0)) + 1
    state["_version_hash"] = new_hash
    return True


def read_state(cursor: Any, dataset: str, pipeline_name: str) -> dict[str, Any] | None:
    """The newest state written by a completed load of `pipeline_name`, or None."""
    cursor.execute(sql.REGCLASSES, (sql.qualified(dataset, STATE_TABLE), sql.qualified(dataset, LOADS_TABLE)))
    if None in cursor.fetchone():
        return None
    cursor.execute(sql.newest_state(dataset, STATE_TABLE, LOADS_TABLE), (pipeline_name,))
    row = cursor.fetchone()
    return decode_state(row[0]) if row else None


def state_row(state: Mapping[str, Any], load_id: str, row_id: str, created_at: str) -> dict[str, Any]:
    """The `_dlt_pipeline_state` row of `state`, written by load `load_id`."""
    return {
        "version": state["_state_version"],
        "engine_version": STATE_ENGINE_VERSION,
        "pipeline_name": state["pipeline_name"],
        "state": encode_state(state),
        "created_at": created_at,
        "version_hash": state.get("_version_hash"),
        "_dlt_load_id": load_id,
        "_dlt_id": row_id,
    }


def insert_state_sql(dataset: str, state: Mapping[str, Any], load_id: str, created_at: str) -> str:
    """INSERT of the state row; it counts only once the `_dlt_loads` row of `load_id` commits."""
    row = state_row(state, load_id, digest_id(f"{load_id}_state"), created_at)
    return sql.insert_row(dataset, STATE_TABLE, row)


def insert_load_sql(dataset: str, load_id: str, schema_name: str, created_at: str,
                    schema_version_hash: str | None) -> str:
    """INSERT of the `_dlt_loads` row that marks load `load_id` (and its state) complete."""
    return sql.insert_row(dataset, LOADS_TABLE, {
        "load_id": load_id, "schema_name": schema_name, "status": 0, "inserted_at": created_at,
        "schema_version_hash": schema_version_hash})


def source_state(state: dict[str, Any], source: str) -> dict[str, Any]:
    """The mutable state of one source (`sources.<source>`), made empty when it is missing."""
    return state.setdefault("sources", {}).setdefault(source, {})


def resource_state(state: dict[str, Any], source: str, resource: str) -> dict[str, Any]:
    """The mutable state of one resource (`sources.<source>.resources.<resource>`)."""
    return source_state(state, source).setdefault("resources", {}).setdefault(resource, {})


def touch_replaced_sources(state: dict[str, Any], replaced: Iterable[str]) -> None:
    """dlt's mark of a `replace` load: the sources (by name) of resources given `write_disposition="replace"`.

    dlt 1.31 resets the state of such resources as it extracts them, and in doing so
    creates the source's entry (`sources.<source>: {}`) if it was missing; this writes that
    entry (the reset itself is not done here: a resource's cursor stays). Only the plain
    word counts: dlt compares the resource's disposition with `"replace"`, so the
    `{disposition: replace, ...}` form creates nothing, and neither does any other load
    without a cursor: dlt never writes an empty top-level `sources`.
    """
    for source in replaced:
        source_state(state, source)


def clone(state: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(state))


def resources_with_state(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(source, resource) of every resource that has stored state."""
    return [(source, name) for source, body in state.get("sources", {}).items()
            for name, rstate in body.get("resources", {}).items() if rstate]


def reset_resources(state: dict[str, Any], resource: str | None = None) -> list[str]:
    """Forget the cursors and saved state of `resource` (every resource when None), in place.

    The next load of a reset resource starts again from its `initial_value` (and a
    files source loads every file again). Returns the names of the resources reset.

    Raises:
        ConfigError: `resource` has no stored state.
    """
    found = resources_with_state(state)
    names = sorted({name for _, name in found})
    if resource is not None and resource not in names:
        have = ", ".join(f"`{n}`" for n in names) or "none"
        raise ConfigError(f"Pipeline `{state.get('pipeline_name')}` has no stored state for resource `{resource}` "
                          f"(resources with state: {have}).{did_you_mean(resource, names)}")
    for source, name in found:
        if resource in (None, name):
            del state["sources"][source]["resources"][name]
    return [n for n in names if resource in (None, n)]


# ---- the run lock ---------------------------------------------------------------------------


def lock_keys(dataset: str, pipeline_name: str) -> tuple[int, int]:
    """Two int4 keys for `pg_advisory_lock(int, int)` from the dataset and pipeline."""
    digest = hashlib.sha256(f"pg_assets\x00{dataset}\x00{pipeline_name}".encode()).digest()
    return (int.from_bytes(digest[:4], "big", signed=True), int.from_bytes(digest[4:8], "big", signed=True))


def acquire_lock(cursor: Any, dataset: str, pipeline_name: str, timeout: float) -> None:
    """Wait for the run lock of (dataset, pipeline), up to `timeout` seconds."""
    keys = lock_keys(dataset, pipeline_name)
    deadline = time.monotonic() + timeout
    waiting = False
    while True:
        cursor.execute(sql.TRY_ADVISORY_LOCK, keys)
        if cursor.fetchone()[0]:
            return
        if not waiting:
            waiting = True
            log.info("Pipeline `%s` into `%s` waits up to %.0fs for another run: %s", pipeline_name, dataset,
                     timeout, lock_holder(cursor, keys))
        if time.monotonic() >= deadline:
            raise LockTimeoutError(
                f"Another run of pipeline `{pipeline_name}` into dataset `{dataset}` still holds the lock after "
                f"{timeout:.0f}s: {lock_holder(cursor, keys)}. Wait for it to finish, or stop it, then run again.")
        time.sleep(0.2)


def lock_holder(cursor: Any, keys: tuple[int, int]) -> str:
    """Who holds the lock, from the holder's `application_name`, pid and start time."""
    # pg_locks shows the int4 keys as oids, i.e. unsigned (see `sql.LOCK_HOLDER`)
    cursor.execute(sql.LOCK_HOLDER, tuple(k & 0xFFFFFFFF for k in keys))
    row = cursor.fetchone()
    if row is None:
        return "the holder has just released it"
    name, pid, started, addr = row
    return f"`{name}` (server pid {pid}, connected {started:%Y-%m-%d %H:%M:%S %Z} from {addr or 'local socket'})"
