"""Everything the commit transaction does after the DDL, in order.

Per resource: its disposition's SQL over its table chain; then the `_dlt_version` row
when the schema changed, the state row when the state changed, and last the
`_dlt_loads` row that marks the load complete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pg_assets import sql
from pg_assets import state as state_store
from pg_assets.load.dispositions import Staged, append_sql, replace_sql
from pg_assets.load.merge import merge_sql
from pg_assets.normalize.rows import TablePlan
from pg_assets.schema import Table, chain, version_hash

SCHEMA_ENGINE_VERSION = 11


def commit_statements(dest: Any, load_id: str, plans: Sequence[TablePlan], live: Mapping[str, Table],
                      stored: Mapping[str, Table], staged: Mapping[str, Staged], state: dict[str, Any],
                      previous_state_hash: str | None, created_at: str) -> list[str]:
    ds = dest.dataset
    out: list[str] = []
    for plan in plans:
        if plan.root not in live:
            continue
        tables = [live[name] for name in chain(live, plan.root)]
        out.extend(_disposition_sql(ds, plan, tables, staged, set(stored), load_id, created_at))
    schema_hash = _schema_version(dest, live)
    out.extend(_version_rows(dest, live, stored, schema_hash))
    if state_store.bump(state, previous_state_hash):
        out.append(state_store.insert_state_sql(ds, state, load_id, created_at))
    out.append(state_store.insert_load_sql(ds, load_id, dest.pipeline_name, created_at, schema_hash))
    return out


def _disposition_sql(ds: str, plan: TablePlan, tables: list[Table], staged: Mapping[str, Staged],
                     existing: set[str], load_id: str, created_at: str) -> list[str]:
    if plan.write_disposition == "replace":
        return replace_sql(plan.strategy or "truncate-and-insert", ds, tables, staged, existing)
    if plan.write_disposition == "merge":
        return merge_sql(ds, plan, tables, staged, existing, load_id, created_at)
    return [stmt for t in tables if t.name in staged for stmt in append_sql(ds, t.name, staged[t.name])]


def _own_tables(dest: Any, live: Mapping[str, Table]) -> dict[str, Table]:
    return {n: t for n, t in live.items() if t.resource is not None}


def _schema_version(dest: Any, live: Mapping[str, Table]) -> str:
    return version_hash(_own_tables(dest, live))


def _version_rows(dest: Any, live: Mapping[str, Table], stored: Mapping[str, Table], schema_hash: str) -> list[str]:
    own = _own_tables(dest, live)
    if version_hash({n: t for n, t in stored.items() if t.resource is not None}) == schema_hash:
        return []
    body = {"name": dest.pipeline_name, "version_hash": schema_hash, "engine_version": SCHEMA_ENGINE_VERSION,
            "tables": {n: t.to_dict() for n, t in own.items()}}
    schema_table = sql.qualified(dest.dataset, state_store.VERSION_TABLE)
    version = (f"(SELECT COALESCE(MAX(version), 0) + 1 FROM {schema_table} "
               f"WHERE schema_name = {sql.literal(dest.pipeline_name)})")
    return [f"INSERT INTO {schema_table} (version, engine_version, inserted_at, schema_name, version_hash, schema) "
            f"VALUES ({version}, {SCHEMA_ENGINE_VERSION}, now(), {sql.literal(dest.pipeline_name)}, "
            f"{sql.literal(schema_hash)}, {sql.literal(json.dumps(body))})"]
