"""What a committed load reports to Dagster: one materialization per table, then checks.

Totals come from the database after the commit (the row count, exact unless the
table is large, see `introspect.row_count_metadata`; the catalog's column schema,
child tables included); this load's numbers (rows per table, load id,
timings) come from its `LoadInfo`. The load id is the data version.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from pg_assets.dagster import checks, introspect
from pg_assets.dagster.asset_plan import AssetPlan, LoadPlan
from pg_assets.info import LoadInfo
from pg_assets.vocabulary import disposition_label

Event = dg.MaterializeResult | dg.AssetCheckResult
SCHEMA_PREFIX = "column_schema/"


def previous_schemas(instance: dg.DagsterInstance, asset: AssetPlan) -> dict[str, dg.TableSchema] | None:
    """Column schemas (root and child tables) of the asset's latest materialization, if it had one."""
    event = instance.get_latest_materialization_event(asset.key)
    materialization = event.asset_materialization if event is not None else None
    metadata = materialization.metadata if materialization is not None else {}
    root = metadata.get("dagster/column_schema")
    if root is None:
        return None
    children = {k.removeprefix(SCHEMA_PREFIX): v.schema for k, v in metadata.items() if k.startswith(SCHEMA_PREFIX)}
    return {asset.table: root.schema, **children}


def _rows_metadata(asset: AssetPlan, info: LoadInfo | None) -> dict[str, Any]:
    if info is None:
        return {}
    loads = info.tables_of(asset.table)
    return {
        "rows_loaded": loads[asset.table].rows if asset.table in loads else 0,
        "rows_loaded_by_table": dg.MetadataValue.json({t: tl.rows for t, tl in sorted(loads.items())}),
        "load_id": info.load_id,
        "started_at": info.started_at,
        "finished_at": info.finished_at,
        "duration_seconds": float(info.timings.get("total", 0.0)),
        "timings": dg.MetadataValue.json({k: round(v, 3) for k, v in info.timings.items()}),
        "destination": info.destination,
        "pipeline_name": info.pipeline_name,
        "retries": info.retries,
        **info.source_metadata,
    }


def materialization(cursor: Any, database: str, asset: AssetPlan, schemas: Mapping[str, dg.TableSchema],
                    info: LoadInfo, partitioned: bool) -> dg.MaterializeResult:
    """One table's materialization: totals read from the database, this load's numbers from `info`."""
    rows = _rows_metadata(asset, info)
    metadata: dict[str, Any] = {
        "dagster/table_name": f"{database}.{asset.dataset}.{asset.table}",
        "dagster/storage_kind": "postgres",
        **introspect.row_count_metadata(cursor, asset.dataset, asset.table, rows.get("rows_loaded", 0)),
        "write_disposition": disposition_label(asset.disposition, asset.strategy),
        **rows,
    }
    if partitioned:
        metadata["dagster/partition_row_count"] = metadata["rows_loaded"]
    if asset.table in schemas:
        metadata["dagster/column_schema"] = schemas[asset.table]
    metadata.update({f"{SCHEMA_PREFIX}{t}": s for t, s in schemas.items() if t != asset.table})
    return dg.MaterializeResult(asset_key=asset.key, metadata=metadata, data_version=dg.DataVersion(info.load_id))


def _schemas(cursor: Any, plan: LoadPlan, asset: AssetPlan) -> dict[str, dg.TableSchema]:
    children = introspect.child_tables(cursor, asset.dataset, asset.table, plan.roots)
    return introspect.column_schemas(cursor, asset.dataset, [asset.table, *children])


def report(cursor: Any, plan: LoadPlan, info: LoadInfo | None, assets: Sequence[AssetPlan],
           to_check: Mapping[dg.AssetKey, Sequence[checks.CheckPlan]],
           previous: Mapping[dg.AssetKey, Any]) -> Iterator[Event]:
    """Materializations of the loaded `assets` (none without `info`), then the selected checks."""
    involved = [a for a in plan.assets if a in assets or to_check[a.key]]
    schemas = {a.key: _schemas(cursor, plan, a) for a in involved}
    if info is not None:
        for asset in assets:
            yield materialization(cursor, info.database, asset, schemas[asset.key], info, plan.partitioned)
    for asset in involved:
        yield from checks.evaluate(cursor, asset.key, asset.dataset, asset.table, to_check[asset.key],
                                   previous_schema=previous.get(asset.key), current_schema=schemas[asset.key])
