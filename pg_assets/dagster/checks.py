"""Asset checks declared by column hints, evaluated with SQL on the committed table.

A resource's hints say what must hold in its table: `primary_key` columns are unique
together, `unique: true` columns are unique, `nullable: false` columns hold no NULL.
Each becomes an `AssetCheckSpec` at definition time and is evaluated after the load
commits, on the whole table. One more check per table, `column_schema_change`,
compares the column schema read from the database with the previous
materialization's and warns when columns were added, dropped or retyped.

`checks: false` on a source or resource switches all of them off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import dagster as dg

from pg_assets import normalize_identifier, sql

CheckKind = Literal["unique", "not_null", "schema_change"]
SCHEMA_CHANGE = "column_schema_change"

_SEVERITY: Mapping[CheckKind, dg.AssetCheckSeverity] = {
    "unique": dg.AssetCheckSeverity.ERROR,
    "not_null": dg.AssetCheckSeverity.ERROR,
    # A schema change is news, not a defect: the engine's schema evolution is additive.
    "schema_change": dg.AssetCheckSeverity.WARN,
}


@dataclass(frozen=True)
class CheckPlan:
    """One check of one table: its Dagster name, what it verifies, and on which columns."""

    name: str
    kind: CheckKind
    columns: tuple[str, ...] = ()
    current_rows: str | None = None  # scd2: the validity column that is NULL on current rows

    @property
    def description(self) -> str:
        cols = ", ".join(f"`{c}`" for c in self.columns)
        among = " current" if self.current_rows else ""
        return {
            "unique": f"No two{among} rows share a value of {cols}.",
            "not_null": f"{cols} holds no NULL.",
            "schema_change": "The column schema is the same as at the previous materialization.",
        }[self.kind]


def _check_name(*parts: str) -> str:
    # Dagster names allow only [A-Za-z0-9_]; normalised identifiers nearly always fit.
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def _hinted(columns: Mapping[str, Any] | None, hint: str, value: bool) -> list[str]:
    return [hints.column(name) for name, hints in (columns or {}).items() if getattr(hints, hint) is value]


def _valid_to(resource: Any) -> str | None:
    """The column that marks current rows of an scd2 table (NULL while current), else None."""
    if resource.strategy != "scd2":
        return None
    names = resource.write_disposition.validity_column_names
    return normalize_identifier(names[1]) if names else "_dlt_valid_to"


def plan_checks(resource: Any) -> tuple[CheckPlan, ...]:
    """The checks a resource's hints declare (`ResourceSpec`), the schema-change check last.

    Examples:
        >>> from pg_assets.spec.models import ResourceSpec
        >>> spec = ResourceSpec(primary_key="id", columns={"email": {"unique": True, "nullable": False}})
        >>> [c.name for c in plan_checks(spec)]
        ['primary_key_unique', 'unique_email', 'not_null_id', 'not_null_email', 'column_schema_change']
    """
    key = [normalize_identifier(c) for c in resource.primary_key_columns()]
    current = _valid_to(resource)
    plans = [CheckPlan("primary_key_unique", "unique", tuple(key), current)] if key else []
    plans += [CheckPlan(_check_name("unique", c), "unique", (c,), current)
              for c in _hinted(resource.columns, "unique", True) if [c] != key]
    # Primary key columns may not be NULL, whatever their own hints say.
    not_null = key + [c for c in _hinted(resource.columns, "nullable", False) if c not in key]
    plans += [CheckPlan(_check_name("not_null", c), "not_null", (c,)) for c in not_null]
    plans.append(CheckPlan(SCHEMA_CHANGE, "schema_change"))
    return tuple(plans)


def check_specs(key: dg.AssetKey, plans: Iterable[CheckPlan]) -> list[dg.AssetCheckSpec]:
    """Definition-time specs for one asset's checks."""
    return [dg.AssetCheckSpec(p.name, asset=key, description=p.description) for p in plans]


def _violations_sql(dataset: str, table: str, check: CheckPlan) -> str:
    if check.kind == "not_null":
        return sql.count_nulls(dataset, table, *check.columns)
    # Rows whose key value occurs more than once; NULL keys are the not-null check's business. An
    # scd2 table keeps every version of a key: only current ones must be unique.
    return sql.count_duplicates(dataset, table, check.columns, current=check.current_rows)


def _sql_result(cursor: Any, key: dg.AssetKey, dataset: str, table: str, check: CheckPlan) -> dg.AssetCheckResult:
    cursor.execute(_violations_sql(dataset, table, check))
    violations = int(cursor.fetchone()[0])
    return dg.AssetCheckResult(
        asset_key=key, check_name=check.name, passed=violations == 0, severity=_SEVERITY[check.kind],
        description=check.description, metadata={"violating_rows": violations, "columns": list(check.columns)},
    )


def _columns_of(schema: dg.TableSchema | None) -> dict[str, str]:
    return {c.name: c.type for c in schema.columns} if schema is not None else {}


def schema_diff(previous: Mapping[str, dg.TableSchema], current: Mapping[str, dg.TableSchema]) -> dict[str, list[str]]:
    """Columns added, dropped and retyped, per table, named `table.column`.

    Examples:
        >>> old = {"t": dg.TableSchema(columns=[dg.TableColumn("a", "bigint")])}
        >>> new = {"t": dg.TableSchema(columns=[dg.TableColumn("a", "text"), dg.TableColumn("b", "text")])}
        >>> schema_diff(old, new)
        {'added': ['t.b'], 'dropped': [], 'retyped': ['t.a: bigint -> text']}
    """
    diff: dict[str, list[str]] = {"added": [], "dropped": [], "retyped": []}
    for table in sorted(set(previous) | set(current)):
        old, new = _columns_of(previous.get(table)), _columns_of(current.get(table))
        diff["added"] += [f"{table}.{c}" for c in new if c not in old]
        diff["dropped"] += [f"{table}.{c}" for c in old if c not in new]
        diff["retyped"] += [f"{table}.{c}: {old[c]} -> {new[c]}" for c in new if c in old and old[c] != new[c]]
    return diff


def _schema_result(key: dg.AssetKey, previous: Mapping[str, dg.TableSchema] | None,
                   current: Mapping[str, dg.TableSchema]) -> dg.AssetCheckResult:
    if previous is None:
        return dg.AssetCheckResult(asset_key=key, check_name=SCHEMA_CHANGE, passed=True,
                                   description="First materialization with a column schema: nothing to compare.")
    diff = schema_diff(previous, current)
    changed = any(diff.values())
    return dg.AssetCheckResult(
        asset_key=key, check_name=SCHEMA_CHANGE, passed=not changed, severity=_SEVERITY["schema_change"],
        description="The column schema changed." if changed else "The column schema did not change.",
        metadata={name: dg.MetadataValue.json(cols) for name, cols in diff.items()},
    )


def evaluate(cursor: Any, key: dg.AssetKey, dataset: str, table: str, checks: Iterable[CheckPlan], *,
             previous_schema: Mapping[str, dg.TableSchema] | None,
             current_schema: Mapping[str, dg.TableSchema]) -> Iterator[dg.AssetCheckResult]:
    """Results of the given (selected) checks of one committed table (failed ones if it does not exist)."""
    for check in checks:
        if table not in current_schema:
            yield dg.AssetCheckResult(asset_key=key, check_name=check.name, passed=False,
                                      severity=_SEVERITY[check.kind],
                                      description=f"`{dataset}.{table}` does not exist yet: materialize it first.")
        elif check.kind == "schema_change":
            yield _schema_result(key, previous_schema, current_schema)
        else:
            yield _sql_result(cursor, key, dataset, table, check)
