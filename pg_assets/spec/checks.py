"""Checks that need a resource's options merged: keys a strategy needs, partitions,
table names, and each kind's own checks (importable functions, existing files...).

They run on the raw data resource by resource, so a type error in one resource does
not hide the problems of the others, and an unknown key does not hide the kind's own
checks (they run on the options that are known). A source whose `kind` is unknown still
gets its resources' shared options (the ones every kind takes) checked. Each problem is
placed where the offending option was written: the resource, its source's `defaults`,
or the source itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pg_assets.normalize.naming import normalize_dataset_name, normalize_identifier
from pg_assets.sources import KINDS, CheckContext, get_kind
from pg_assets.spec.env import partition_references
from pg_assets.spec.issues import KeyPath, Problem, explain
from pg_assets.spec.models import ASSET_OPTIONS, ResourceSpec, StaticPartitions, merge_options
from pg_assets.vocabulary import NEEDS_PRIMARY_KEY

_NOT_TEMPLATED = set(ASSET_OPTIONS) | {"description", "columns", "incremental", "write_disposition"}


def check_document(data: Mapping[str, Any], base_dir: Path) -> Iterator[Problem]:
    """Every merged-option problem of the raw document `data`."""
    sources = data.get("sources")
    if not isinstance(sources, Mapping):
        return
    tables: dict[tuple[str, str], KeyPath] = {}
    for source_name, raw in sources.items():
        if not isinstance(raw, Mapping) or not isinstance(raw.get("kind"), str):
            continue
        if raw["kind"] in KINDS:
            yield from _check_source(str(source_name), raw, base_dir, tables)
        else:
            yield from _shared_options(str(source_name), raw)


class _SharedOptions(ResourceSpec):
    """The options every kind's resources take; a kind's own keys are left to the kind."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def _shared_options(name: str, raw: Mapping[str, Any]) -> Iterator[Problem]:
    """Problems of the shared options of each resource of a source whose `kind` is unknown."""
    resources = raw.get("resources")
    if not isinstance(resources, Mapping):
        return
    for resource_name, options in resources.items():
        if not isinstance(options, Mapping):
            continue
        try:
            _SharedOptions.model_validate(options)
        except ValidationError as exc:
            prefix = ("sources", name, "resources", str(resource_name))
            for p in explain(_SharedOptions, options, exc.errors(include_url=False), set()):
                yield Problem((*prefix, *p.path), p.message, of_key=p.of_key)


def _check_source(name: str, raw: Mapping[str, Any], base_dir: Path,
                  tables: dict[tuple[str, str], KeyPath]) -> Iterator[Problem]:
    kind = get_kind(raw["kind"])
    typed = _validated(kind.source_model, raw)
    resources = raw.get("resources") if isinstance(raw.get("resources"), Mapping) else {}
    context = CheckContext(name, base_dir, tuple(str(r) for r in resources))
    for resource_name in resources:
        resolved = _resolved(kind.source_model.resource_model, raw, resource_name)
        if resolved is None:
            continue
        found = [*common_problems(resolved), *kind.check(typed, resource_name, resolved, context)]
        for key, message in found:
            where = locate(name, raw, resource_name, key)
            yield Problem(where, message, of_key=where == ("sources", name, "resources", resource_name))
        yield from _table_collision(name, raw, resource_name, resolved, tables)


def _validated(model: type[BaseModel], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _resolved(model: type[ResourceSpec], raw: Mapping[str, Any], resource_name: str) -> Any:
    layers = [{k: raw[k] for k in ASSET_OPTIONS if k in raw}, raw.get("defaults"), raw["resources"][resource_name]]
    if not all(isinstance(layer, Mapping) for layer in layers[1:] if layer is not None):
        return None
    merged = merge_options(*(layer or {} for layer in layers))
    found = _validated(model, merged)
    if found is None:  # an unknown key (reported by the document's validation) must not hide the rest
        found = _validated(model, {k: v for k, v in merged.items() if k in model.model_fields})
    return found


def locate(source: str, raw: Mapping[str, Any], resource: str, key: KeyPath) -> KeyPath:
    """Where the option `key` of `resource` was written: in the resource, `defaults`, or the source."""
    own = raw["resources"][resource]
    if key and isinstance(own, Mapping) and key[0] in own:
        return ("sources", source, "resources", resource, *key)
    defaults = raw.get("defaults")
    if key and isinstance(defaults, Mapping) and key[0] in defaults:
        return ("sources", source, "defaults", *key)
    if key and key[0] in raw:
        return ("sources", source, *key)
    return ("sources", source, "resources", resource)


def common_problems(resource: ResourceSpec) -> Iterator[tuple[KeyPath, str]]:
    """Problems of the engine and asset options every kind shares."""
    keys = resource.primary_key_columns()
    # `delete-insert` without any key is allowed: the engine warns and appends, as dlt does.
    if resource.strategy in NEEDS_PRIMARY_KEY and not keys:
        yield ("write_disposition",), f"strategy `{resource.strategy}` needs a `primary_key`"
    yield from _partition_problems(resource)


def _partition_problems(resource: ResourceSpec) -> Iterator[tuple[KeyPath, str]]:
    partitions = resource.partitions
    if partitions and partitions.mode == "merge_key" and not resource.merge_key_columns():
        yield ("partitions", "mode"), "`mode: merge_key` needs the resource's `merge_key` (the partition column)"
    if "${" not in resource.model_dump_json(exclude=_NOT_TEMPLATED, exclude_none=True):
        return  # the common case, found in one pass in pydantic's Rust core
    available = {"partition_key"} if isinstance(partitions, StaticPartitions) else {
        "partition_key", "partition_start", "partition_end"}
    for key, text in _strings(resource.model_dump(exclude=_NOT_TEMPLATED, exclude_none=True), ()):
        for name in partition_references(text):
            if partitions is None:
                yield key, f"`${{{name}}}` is used but the resource has no `partitions`"
            elif name not in available:
                yield key, f"`${{{name}}}` is not defined for static partitions; use `${{partition_key}}`"


def _strings(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _table_collision(source: str, raw: Mapping[str, Any], resource: str, resolved: ResourceSpec,
                     tables: dict[tuple[str, str], KeyPath]) -> Iterator[Problem]:
    dataset = raw.get("dataset")
    if not isinstance(dataset, str):
        return
    dataset, table = normalize_dataset_name(dataset), normalize_identifier(resolved.table_name or resource)
    here = locate(source, raw, resource, ("table_name",))
    first = tables.setdefault((dataset, table), here)
    if first != here:
        yield Problem(here, f"table `{dataset}.{table}` is also loaded by `{'.'.join(map(str, first[1:4:2]))}`; "
                            "set a different `table_name`", of_key=here[-1] != "table_name")
