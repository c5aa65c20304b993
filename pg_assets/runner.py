"""From a spec to loads: build each source's resources and run its pipeline.

One source is one pipeline (named after the source, loading into its `dataset`), and
one run of it is one atomic load of the selected resources. The CLI and the Dagster
layer both go through `run_source`; a partitioned run writes each resource as its
`partitions.mode` says. Everything that reads a spec's destination reaches it through
`credentials_for` and `connect`.

Examples:
    >>> from pg_assets.spec import load_spec                          # doctest: +SKIP
    >>> spec = load_spec("pipelines.yaml")                            # doctest: +SKIP
    >>> info = run_source(spec, "shop", ["customers"])                # doctest: +SKIP
    >>> info.row_counts["customers"]                                  # doctest: +SKIP
    200
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pg_assets
from pg_assets.connection import open_connection
from pg_assets.destination import resolve_credentials
from pg_assets.errors import ConfigError, LoadError, PgAssetsError, did_you_mean, user_code_location
from pg_assets.load.preflight import SessionFacts
from pg_assets.sources import SourceContext, get_kind
from pg_assets.spec.env import fill_partition
from pg_assets.spec.models import ResourceSpec, SourceSpec
from pg_assets.vocabulary import DEFAULT_MERGE_STRATEGY

if TYPE_CHECKING:
    from pg_assets.spec.document import PipelinesSpec

Progress = Callable[[pg_assets.ProgressEvent], None]

# How one partition's rows replace what the table held for it (`partitions.mode`):
# merge_key: delete the rows whose merge key the partition's rows carry, then insert;
# replace: the partition's rows become the whole table. Unset: the resource's own disposition.
_PARTITION_WRITES: Mapping[str, Any] = {
    "merge_key": {"disposition": "merge", "strategy": DEFAULT_MERGE_STRATEGY},
    "replace": "replace",
}


def source_of(spec: PipelinesSpec, source_name: str) -> SourceSpec:
    """The source `source_name`; ConfigError suggests the closest name."""
    try:
        return spec.sources[source_name]
    except KeyError:
        hint = did_you_mean(source_name, spec.sources)
        known = ", ".join(f"`{name}`" for name in spec.sources)
        raise ConfigError(f"no source `{source_name}` in {spec.path.name}; the sources are {known}.{hint}") from None


def resource_names_of(spec: PipelinesSpec, source_name: str, names: Sequence[str] | None) -> list[str]:
    """`names` checked against the source (all of its resources when None)."""
    source = source_of(spec, source_name)
    if names is None:
        return list(source.resources)
    for name in names:
        if name not in source.resources:
            hint = did_you_mean(name, source.resources)
            raise ConfigError(f"no resource `{name}` in source `{source_name}`.{hint}")
    return list(dict.fromkeys(names))


def resolved_for_run(source: SourceSpec, name: str, partition: Mapping[str, str] | None) -> ResourceSpec:
    """The resource's options with `${partition_key}` and friends filled in."""
    resolved = source.resolved(name)
    raw = resolved.model_dump(exclude_unset=True)
    missing: list[str] = []
    filled = _fill(raw, dict(partition or {}), missing)
    if missing:
        where = "this run has no partition" if not partition else f"the partition gives {', '.join(partition)}"
        raise ConfigError(f"resource `{name}` uses `${{{missing[0]}}}`, but {where}; run it partitioned "
                          "(from Dagster) or remove the placeholder")
    return resolved if filled == raw else type(resolved).model_validate(filled)


def _fill(value: Any, partition: Mapping[str, str], missing: list[str]) -> Any:
    if isinstance(value, str):
        text, absent = fill_partition(value, partition)
        missing += absent
        return text
    if isinstance(value, dict):
        return {k: _fill(v, partition, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, partition, missing) for v in value]
    return value


def _incremental(resource: ResourceSpec) -> pg_assets.Incremental | None:
    spec = resource.incremental
    if spec is None:
        return None
    return pg_assets.Incremental(**spec.model_dump())


def build_resources(spec: PipelinesSpec, source_name: str, resource_names: Sequence[str] | None = None, *,
                    partition: Mapping[str, str] | None = None) -> list[pg_assets.Resource]:
    """The engine resources of a source, their data read lazily when the pipeline runs.

    Args:
        partition: template parameters (`partition_key`, `partition_start`,
            `partition_end`) substituted where the options say `${partition_key}`; a
            partitioned resource is then written as its `partitions.mode` says.
    """
    source = source_of(spec, source_name)
    kind = get_kind(source.kind)
    names = resource_names_of(spec, source_name, resource_names)

    def read_other(other: str) -> Iterable[Any]:
        context = SourceContext(source_name, other, spec.base_dir, None, read_other)
        return kind.read(source, resolved_for_run(source, other, partition), context)

    resources = []
    for name in names:
        declared = resolved_for_run(source, name, partition)
        inc = _incremental(declared)
        context = SourceContext(source_name, name, spec.base_dir, inc, read_other)
        resolved = kind.prepare(source, declared, context)
        built = pg_assets.resource(_reader(kind.read, source, resolved, context), name=resolved.table_name or name,
                                   incremental=inc, source=source.schema_name or source_name,
                                   **resolved.engine_options())
        resources.append(built if partition is None else partition_write(built, declared.partitions))
    return resources


def partition_write(resource: pg_assets.Resource, partitions: Any) -> pg_assets.Resource:
    """The engine resource with the write disposition its partitions' `mode` asks for.

    Examples:
        >>> from pg_assets.spec.models import StaticPartitions
        >>> r = pg_assets.resource([], name="t", merge_key="region")
        >>> partition_write(r, StaticPartitions(type="static", keys=["eu"], mode="merge_key")).write_disposition
        {'disposition': 'merge', 'strategy': 'delete-insert'}
    """
    mode = partitions.mode if partitions is not None else None
    if mode is None:
        return resource
    return dataclasses.replace(resource, write_disposition=_PARTITION_WRITES[mode])


def _reader(read: Callable[..., Iterable[Any]], source: SourceSpec, resource: ResourceSpec,
            context: SourceContext) -> Callable[[], Iterator[Any]]:
    def data() -> Iterator[Any]:
        try:
            yield from read(source, resource, context)
        except PgAssetsError:
            raise
        except Exception as exc:  # user code (a python source) failed: say where, keep the cause
            where = f"resource `{context.resource_name}` of source `{context.source_name}`"
            location = user_code_location(exc)
            at = f" (raised at {location})" if location else ""
            raise LoadError(f"{where} failed while reading: {type(exc).__name__}: {exc}{at}",
                            table=resource.table_name or context.resource_name) from exc

    return data


def credentials_for(spec: PipelinesSpec, credentials: Any = None) -> pg_assets.ConnectionConfig:
    """The spec's destination: `credentials` (an override) if given, else the spec's, else the usual fallbacks."""
    chosen = credentials if credentials is not None else spec.destination.credentials
    return resolve_credentials(chosen, project_dir=spec.project_dir)


def connect(spec: PipelinesSpec, purpose: str, *, credentials: Any = None) -> Any:
    """An autocommit connection to the spec's destination with pg_assets' session settings.

    `purpose` ends up in `application_name` (`pg_assets:<purpose>`), so `pg_stat_activity`
    says what the session is for.
    """
    return open_connection(credentials_for(spec, credentials), f"pg_assets:{purpose}")


def pipeline_for(spec: PipelinesSpec, source_name: str, *, credentials: Any = None,
                 **overrides: Any) -> pg_assets.Pipeline:
    """The pipeline of a source: named after it, loading into its dataset."""
    source = source_of(spec, source_name)
    options = {**spec.destination.pipeline_options(), **overrides}
    return pg_assets.pipeline(source_name, dataset=source.dataset, credentials=credentials_for(spec, credentials),
                              schema_name=source.schema_name, **options)


def run_source(spec: PipelinesSpec, source_name: str, resource_names: Sequence[str] | None = None, *,
               partition: Mapping[str, str] | None = None, progress: Progress | None = None,
               credentials: Any = None, **overrides: Any) -> pg_assets.LoadInfo:
    """Load the named resources of one source (all when None) as one atomic load.

    Args:
        partition: the run's partition as template parameters (see `build_resources`).
        progress: called with the rows staged so far, about once a second.
        credentials: the destination, over the spec's.
        overrides: pipeline options over the spec's `destination:` (`workers`, `file_format`, ...).
    """
    own_run = get_kind(source_of(spec, source_name).kind).run
    if own_run is not None:  # the kind drives its loads (pg_replication: every table from one stream)
        resource_names_of(spec, source_name, resource_names)
        return own_run(spec, source_name, pipeline_for(spec, source_name, credentials=credentials, **overrides),
                       progress=progress)
    resources = build_resources(spec, source_name, resource_names, partition=partition)
    pipeline = pipeline_for(spec, source_name, credentials=credentials, **overrides)
    return pipeline.run(resources, progress=progress)


def check_source(spec: PipelinesSpec, source_name: str, resource_names: Sequence[str] | None = None, *,
                 credentials: Any = None) -> SessionFacts:
    """Check, loading nothing, that the destination and its role can take the source's load (`Pipeline.check`)."""
    resources = build_resources(spec, source_name, resource_names)
    return pipeline_for(spec, source_name, credentials=credentials).check(resources)


def parse_targets(spec: PipelinesSpec, targets: Sequence[str] | None) -> dict[str, list[str] | None]:
    """`["shop", "chess.players_games"]` -> `{"shop": None, "chess": ["players_games"]}`."""
    if not targets:
        return {name: None for name in spec.sources}
    chosen: dict[str, list[str] | None] = {}
    for target in targets:
        source_name, _, resource = target.partition(".")
        source_of(spec, source_name)
        if not resource:
            chosen[source_name] = None  # the whole source, whatever else was named
            continue
        resource_names_of(spec, source_name, [resource])
        if chosen.get(source_name, []) is not None:
            chosen.setdefault(source_name, []).append(resource)
    return chosen


def run_spec(spec: PipelinesSpec, targets: Sequence[str] | None = None, *, progress: Progress | None = None
             ) -> list[pg_assets.LoadInfo]:
    """Load `targets` (`SOURCE` or `SOURCE.RESOURCE`; everything when empty), one load per source."""
    return [run_source(spec, source_name, names, progress=progress)
            for source_name, names in parse_targets(spec, targets).items()]
