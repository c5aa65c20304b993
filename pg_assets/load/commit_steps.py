"""Everything the commit transaction does after the DDL, in order.

Per resource: its disposition's SQL over its table chain, built from the catalog as it
is once the commit holds its locks; then the bookkeeping, built once per load: the
`_dlt_version` row when the schema document changed, the state row when the state
changed, and last the `_dlt_loads` row that marks the load complete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pg_assets import sql
from pg_assets import state as state_store
from pg_assets import stored_schema
from pg_assets import dependents
from pg_assets.catalog import Catalog
from pg_assets.dependents import DependentView, TableAccess
from pg_assets.load.dispositions import Staged, append_or_adopt_sql, replace_sql
from pg_assets.load.merge import merge_sql
from pg_assets.load.session import Destination
from pg_assets.schema import Table, chain
from pg_assets.table_plan import UNLIMITED_NESTING, TablePlan
from pg_assets.vocabulary import DEFAULT_REPLACE_STRATEGY


def written_tables(plans: Sequence[TablePlan], live: Mapping[str, Table]) -> list[str]:
    """Every table this load's resources write or empty, roots before their children."""
    out: list[str] = []
    for plan in plans:
        if plan.root in live:
            out.extend(n for n in chain(live, plan.root) if n not in out)
    return out


def swapped_tables(plans: Sequence[TablePlan], live: Mapping[str, Table]) -> list[str]:
    """The tables of resources replaced `staging-optimized`: a staged table may take their place."""
    return [name for plan in plans if plan.root in live and plan.write_disposition == "replace"
            and (plan.strategy or DEFAULT_REPLACE_STRATEGY) == "staging-optimized"
            for name in chain(live, plan.root)]


def disposition_statements(dest: Destination, plans: Sequence[TablePlan], live: Mapping[str, Table], existing: set[str],
                           staged: Mapping[str, Staged], created_at: str,
                           views: Sequence[DependentView] = (), access: Sequence[TableAccess] = ()) -> list[str]:
    """Each resource's disposition SQL; `existing` are the tables in the dataset right now.

    The `views` over tables a swap drops are dropped before every disposition and created again
    after the last, so a view reading tables of two resources sees both in place; the tables
    that took the dropped ones' place get their owner, privileges and comment (`access`) first.
    """
    out: list[str] = []
    for plan in plans:
        if plan.root in live:
            tables = [live[name] for name in chain(live, plan.root)]
            out.extend(_disposition_sql(dest, plan, tables, staged, existing, created_at))
    dropped = [n for n in swapped_tables(plans, live) if n in existing and n in staged]
    kept = dependents.on_tables(views, dropped)
    given = [stmt for a in access if a.table in dropped
             for stmt in dependents.access_sql(dest.dataset, a.table, a.access, "TABLE")]
    return dependents.drop_sql(kept) + out + given + dependents.recreate_sql(kept)


def _disposition_sql(dest: Destination, plan: TablePlan, tables: list[Table], staged: Mapping[str, Staged],
                     existing: set[str], created_at: str) -> list[str]:
    ds = dest.dataset
    if plan.write_disposition == "replace":
        return replace_sql(plan.strategy or DEFAULT_REPLACE_STRATEGY, ds, tables, staged, existing,
                           dest.create_indexes)
    if plan.write_disposition == "merge":
        return merge_sql(ds, plan, tables, staged, existing, created_at)
    return [stmt for t in tables if t.name in staged
            for stmt in append_or_adopt_sql(ds, t, staged[t.name], existing, dest.create_indexes)]


def bookkeeping(dest: Destination, load_id: str, plans: Sequence[TablePlan], live: Mapping[str, Table], catalog: Catalog,
                state: dict[str, Any], previous_state_hash: str | None, created_at: str,
                fed: Collection[str]) -> list[str]:
    """The schema document, state and `_dlt_loads` rows; advances `state`'s version once.

    `fed` are the root tables that got rows: only their resources' table hints are written,
    as dlt's extract step touches no table of a resource that yielded nothing.

    The `_dlt_loads` row is stamped with the clock at its INSERT, the last statement of
    the commit: its `inserted_at` is the commit time.
    """
    ds, name = dest.dataset, dest.schema_name
    fed_plans = [plan for plan in plans if plan.root in fed]
    out, doc = _version_rows(ds, name, live, catalog, written_tables(plans, live), _column_hints(plans),
                             _table_hints(fed_plans), [plan.root for plan in fed_plans])
    if state_store.bump(state, previous_state_hash):
        out.append(state_store.insert_state_sql(ds, state, load_id, created_at))
    out.append(state_store.insert_load_sql(ds, load_id, name, sql.NOW, doc["version_hash"]))
    return out


def _column_hints(plans: Sequence[TablePlan]) -> dict[str, dict[str, dict[str, Any]]]:
    """The hints dlt stores on columns that pg_assets' columns do not carry: scd2's and the cursor's."""
    out = _scd2_hints(plans)
    for plan in plans:
        if plan.cursor_column is not None:
            out.setdefault(plan.root, {}).setdefault(plan.cursor_column, {})["incremental"] = True
    return out


def _scd2_hints(plans: Sequence[TablePlan]) -> dict[str, dict[str, dict[str, Any]]]:
    """dlt's hints that name an scd2 table's validity and row version columns."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for plan in plans:
        if plan.scd2 is not None:
            out[plan.root] = {plan.scd2.valid_from: {"x-valid-from": True},
                              plan.scd2.valid_to: {"x-valid-to": True,
                                                   "x-active-record-timestamp": plan.scd2.active_record_timestamp}}
            if plan.scd2.row_version_column:
                out[plan.root][plan.scd2.row_version_column] = {"x-row-version": True}
    return out


def _table_hints(plans: Sequence[TablePlan]) -> dict[str, dict[str, Any]]:
    """dlt's hints on a resource's root table: `x-normalizer.max_nesting` when it limits its
    nesting, and an scd2 `boundary_timestamp` as given (dlt stores it as ISO text)."""
    out: dict[str, dict[str, Any]] = {}
    for plan in plans:
        if plan.max_nesting != UNLIMITED_NESTING:
            out.setdefault(plan.root, {})["x-normalizer"] = {"max_nesting": plan.max_nesting}
        if plan.scd2 is not None and plan.scd2.boundary_timestamp is not None:
            out.setdefault(plan.root, {})["x-boundary-timestamp"] = _iso_text(plan.scd2.boundary_timestamp)
    return out


def _iso_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, (dt.date, dt.time)) else str(value)


def _version_rows(ds: str, name: str, live: Mapping[str, Table], catalog: Catalog, written: list[str],
                  column_hints: Mapping[str, Mapping[str, Mapping[str, Any]]],
                  table_hints: Mapping[str, Mapping[str, Any]], extracted: Sequence[str]
                  ) -> tuple[list[str], dict[str, Any]]:
    """The `_dlt_version` row of this load's schema document, unless the document is unchanged.

    The document keeps every table it already had, refreshes those that exist from the
    catalog (columns another writer added included), and adds the tables written now.
    """
    previous = catalog.document(name)
    names = [n for n in (previous or {}).get("tables", {}) if n in live] + [n for n in written]
    doc = stored_schema.updated_document(previous, name, live, dict.fromkeys(names), column_hints, table_hints,
                                          extracted)
    if stored_schema.is_current(previous) and previous and doc["version_hash"] == previous.get("version_hash"):
        return [], doc
    row = {"version": doc["version"], "engine_version": stored_schema.ENGINE_VERSION, "inserted_at": sql.NOW,
           "schema_name": name, "version_hash": doc["version_hash"], "schema": stored_schema.to_text(doc)}
    return [sql.insert_row(ds, stored_schema.VERSION_TABLE, row)], doc
