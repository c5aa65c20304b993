"""Definition time: a `pipelines.yaml` spec becomes multi-assets, checks, schedules and sensors.

One `multi_asset` per source (split only where resources of a source declare different
partitionings, as a multi-asset has one), one `AssetSpec` per resource table,
`can_subset=True` so materializing one table loads only that table, and a concurrency
`pool` per destination. Building never connects to the database and never runs a
source: it reads the spec and nothing else.

Examples:
    >>> from pg_assets.dagster import definitions_from_spec   # doctest: +SKIP
    >>> defs = definitions_from_spec("pipelines.yaml")       # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from pg_assets.dagster import automation
from pg_assets.dagster.checks import check_specs
from pg_assets.dagster.asset_plan import AssetPlan, LoadPlan
from pg_assets.dagster.load_resource import PgAssetsResource
from pg_assets.dagster.translator import (DestinationRef, PgAssetsTranslator, asset_spec, dagster_name, destination,
                                          translator_data)

RESOURCE_KEY = "pg_assets"


@dataclass
class _Built:
    """What building a spec collects on the way."""

    assets: list[dg.AssetsDefinition] = field(default_factory=list)
    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)
    sensors: list[dg.SensorDefinition] = field(default_factory=list)


def _partition_groups(source: Any) -> list[list[str]]:
    """Resource names of a source, grouped by partitioning, in spec order."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in source.resources:
        groups[automation.partition_key_of(source.resolved(name).partitions)].append(name)
    return list(groups.values())


def _op_name(source_name: str, names: list[str], split: bool) -> str:
    base = f"load_{dagster_name(source_name)}"
    return f"{base}__{dagster_name(names[0])}" if split else base


def _multi_asset(plan: LoadPlan, specs: list[dg.AssetSpec], *, name: str, pdef: dg.PartitionsDefinition | None,
                 backfill: dg.BackfillPolicy | None, pool: str, resource_key: str) -> dg.AssetsDefinition:
    checks = [c for a in plan.assets for c in check_specs(a.key, a.checks)]

    @dg.multi_asset(name=name, specs=specs, check_specs=checks, can_subset=True, pool=pool, partitions_def=pdef,
                    required_resource_keys={resource_key}, backfill_policy=backfill,
                    description=f"Loads source `{plan.source}` of {Path(str(plan.spec.path)).name}.")
    def _load(context):  # noqa: ANN001, ANN202 - Dagster reads this signature; it rejects postponed hints
        yield from getattr(context.resources, resource_key).load(context, plan)

    return _load


def _schedules(op_name: str, plans: Iterable[AssetPlan], crons: dict[dg.AssetKey, str],
               pdef: dg.PartitionsDefinition | None) -> list[dg.ScheduleDefinition]:
    by_cron: dict[str, list[dg.AssetKey]] = defaultdict(list)
    for a in plans:
        if crons.get(a.key):
            by_cron[crons[a.key]].append(a.key)
    many = len(by_cron) > 1
    return [automation.schedule(f"{op_name}{'_' + str(i) if many else ''}_schedule", cron, keys, pdef)
            for i, (cron, keys) in enumerate(by_cron.items(), start=1)]


def _build_group(built: _Built, spec: Any, source_name: str, names: list[str], *, split: bool,
                 dest: DestinationRef, pool: str, resource_key: str, translator: PgAssetsTranslator | None) -> None:
    source = spec.sources[source_name]
    pairs = [asset_spec(translator_data(spec, source_name, n, dest), translator) for n in names]
    settings = [source.resolved(n) for n in names]
    pdef = automation.partitions_def(settings[0].partitions)
    plan = LoadPlan(spec, source_name, tuple(p for _, p in pairs), partitioned=pdef is not None)
    name = _op_name(source_name, names, split)
    built.assets.append(_multi_asset(plan, [s for s, _ in pairs], name=name, pdef=pdef, pool=pool,
                                     backfill=automation.backfill_policy(settings[0].partitions),
                                     resource_key=resource_key))
    crons = {p.key: r.schedule for (_, p), r in zip(pairs, settings, strict=True)}
    built.schedules += _schedules(name, plan.assets, crons, pdef)
    # One sensor per multi-asset, named after it: unique even when several specs share a code location.
    sensor = automation.automation_sensor(f"{name}_automation",
                                          [s.key for s, _ in pairs if s.automation_condition is not None])
    built.sensors += [sensor] if sensor is not None else []


def _build(spec: Any, *, pool: str | None, resource_key: str, translator: PgAssetsTranslator | None) -> _Built:
    built, dest = _Built(), destination(spec.destination.credentials, spec.project_dir)
    for source_name, source in spec.sources.items():
        groups = _partition_groups(source)
        for names in groups:
            _build_group(built, spec, source_name, names, split=len(groups) > 1, dest=dest,
                         pool=pool or dest.pool, resource_key=resource_key, translator=translator)
    return built


def build_assets(spec: Any, *, pool: str | None = None, resource_key: str = RESOURCE_KEY,
                 translator: PgAssetsTranslator | None = None) -> list[dg.AssetsDefinition]:
    """One multi-asset per source of `spec` (a loaded `PipelinesSpec`), checks included.

    Args:
        spec: the loaded spec.
        pool: the concurrency pool; default one per destination (`pg_assets` for the embedded one).
        resource_key: the key under which a `PgAssetsResource` is bound.
        translator: decides each table's `AssetSpec`; default `PgAssetsTranslator()`.
    """
    return _build(spec, pool=pool, resource_key=resource_key, translator=translator).assets


def build_definitions(spec: Any, *, resource: PgAssetsResource | None = None, pool: str | None = None,
                      resource_key: str = RESOURCE_KEY, translator: PgAssetsTranslator | None = None) -> dg.Definitions:
    """Assets, checks, schedules and automation sensors of `spec`, with the resource bound.

    `translator` (a `PgAssetsTranslator`) decides each table's key, group and metadata;
    checks, schedules and sensors follow the keys it returns.

    Examples:
        >>> from pg_assets.spec import load_spec                                  # doctest: +SKIP
        >>> defs = build_definitions(load_spec("pipelines.yaml"),
        ...                          resource=PgAssetsResource(workers=4))        # doctest: +SKIP
    """
    built = _build(spec, pool=pool, resource_key=resource_key, translator=translator)
    return dg.Definitions(
        assets=built.assets,
        schedules=built.schedules,
        sensors=built.sensors,
        resources={resource_key: resource if resource is not None else PgAssetsResource()},
    )


def definitions_from_spec(path: str | Path, **options: Any) -> dg.Definitions:
    """Read a `pipelines.yaml` and build its definitions; an invalid file raises `SpecError`, located."""
    from pg_assets.spec import load_spec

    return build_definitions(load_spec(Path(path)), **options)
