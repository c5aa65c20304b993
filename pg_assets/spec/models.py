"""The options every source kind shares: engine options, asset options, destination.

Each source kind (see `pg_assets.sources`) subclasses `ResourceSpec` and `SourceSpec`
with its own fields. Every model forbids unknown keys and is frozen; the vocabularies
come from `pg_assets.vocabulary`, where each is written once.
"""

from __future__ import annotations

import collections

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, ValidationInfo,
                      field_validator, model_validator)

from pg_assets.errors import did_you_mean
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.spec.cron import cron_problem
from pg_assets.stored_schema import schema_name_problem
from pg_assets.vocabulary import (DEFAULT_FILE_FORMAT, DEFAULT_REPLACE_STRATEGY, STRATEGIES, ContractMode,
                                  DataType, FileFormat, PartitionMode, ReplaceStrategy, Strategy,
                                  TimePartitionType, WriteDisposition)

_ASSET_KEY = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_TAG_KEY = re.compile(r"^([A-Za-z0-9_.-]{1,63}/)?[A-Za-z0-9_.-]{1,63}$")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"`{value}` is not {what}")
        return value

    return AfterValidator(check)


def _cron(value: str) -> str:
    problem = cron_problem(value)
    if problem:
        raise ValueError(f"invalid cron string: {problem}")
    return value


def _schema_name(value: str) -> str:
    problem = schema_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _owner(value: str) -> str:
    if _EMAIL.match(value) or (value.startswith("team:") and len(value) > 5):
        return value
    raise ValueError(f"owner `{value}` is neither an email address nor `team:<name>`")


# dataset, table and source names are normalised like dlt does (`Raw Shop` -> `raw_shop`)
Name = Annotated[str, Field(min_length=1)]
AssetKey = Annotated[str, _matching(_ASSET_KEY, "an asset key like `raw_shop/customers`")]
Owner = Annotated[str, AfterValidator(_owner)]
Group = Annotated[str, _matching(re.compile(r"^[A-Za-z0-9_]+$"), "a group name (letters, digits and `_`)")]
TagKey = Annotated[str, _matching(_TAG_KEY, "a tag key (letters, digits, `_.-`, an optional `prefix/`)")]
TagValue = Annotated[str, _matching(_TAG_VALUE, "a tag value (at most 63 letters, digits or `_.-`)")]
Cron = Annotated[str, AfterValidator(_cron)]
Key = str | list[str]


class Strict(BaseModel):
    """Unknown keys are errors and specs never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class WriteDispositionSpec(Strict):
    """`{disposition: merge, strategy: upsert}` and the scd2 options."""

    disposition: WriteDisposition
    """`append`, `replace` or `merge`."""
    strategy: Strategy | None = None
    """merge: `delete-insert` (default), `upsert`, `insert-only`, `scd2`; replace: as `replace_strategy`."""
    validity_column_names: list[str] | None = Field(default=None, min_length=2, max_length=2)
    """scd2: the two columns of a version's validity, default `[_dlt_valid_from, _dlt_valid_to]`."""
    active_record_timestamp: str | None = None
    """scd2: the `valid_to` value of the current version; empty (NULL) by default."""
    boundary_timestamp: str | None = None
    """scd2: the timestamp that retires and starts versions; the load's time by default."""
    row_version_column_name: str | None = None
    """scd2: the column whose value tells versions apart; a hash of the row by default."""

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_fits(cls, value: Any, info: ValidationInfo) -> Any:
        disposition = info.data.get("disposition")
        allowed = STRATEGIES.get(disposition, ()) if disposition else sum(STRATEGIES.values(), ())
        if value is None or value in allowed:
            return value
        if not allowed:
            raise ValueError(f"`{disposition}` has no strategies; remove `strategy`")
        expected = ", ".join(f"`{s}`" for s in allowed)
        label = f"{disposition} strategy" if disposition else "strategy"
        raise ValueError(f"unknown {label} `{value}`; expected one of {expected}.{did_you_mean(value, allowed)}")

    @model_validator(mode="after")
    def _scd2_options(self) -> WriteDispositionSpec:
        scd2_only = ("validity_column_names", "active_record_timestamp", "boundary_timestamp",
                     "row_version_column_name")
        misplaced = [k for k in scd2_only if getattr(self, k) is not None]
        if misplaced and self.strategy != "scd2":
            raise ValueError(f"`{misplaced[0]}` applies only to `strategy: scd2`")
        return self


class ColumnHint(Strict):
    """Hints for one column; unset hints leave the inferred behaviour alone."""

    name: str | None = Field(default=None, min_length=1)
    """The column this source key becomes instead of its normalised self (keys that collide once normalised)."""
    data_type: DataType | None = None
    """The column's type instead of the inferred one (`text`, `bigint`, `timestamp`, `json`...)."""
    nullable: bool | None = None
    """`false` makes the column `NOT NULL` (and adds a not-null check)."""
    unique: bool | None = None
    """A `UNIQUE` constraint with `create_indexes`, and a uniqueness check."""
    primary_key: bool | None = None
    """The column is (part of) the primary key."""
    merge_key: bool | None = None
    """The column is (part of) the merge key."""
    precision: PositiveInt | None = None
    """Digits of a `decimal`; fractional-second digits of a `timestamp`; bits of a `bigint`
    (16: `smallint`, 32: `integer`)."""
    scale: Annotated[int, Field(ge=0)] | None = None
    """Digits after the point of a `decimal`."""
    timezone: bool | None = None
    """`false` stores a timestamp without its zone (`timestamp`, not `timestamptz`)."""
    dedup_sort: Literal["asc", "desc"] | None = None
    """merge: among duplicate keys of one load keep the row with the highest (`desc`) or lowest (`asc`) value."""
    hard_delete: bool | None = None
    """merge: a row whose value here is set deletes its key instead of loading."""

    def column(self, key: str) -> str:
        """The column the source key `key` of this hint becomes: its `name`, else the key, normalised."""
        return normalize_identifier(self.name or key)


class IncrementalSpec(Strict):
    """Load only items whose cursor moved past the stored one."""

    cursor_path: str = Field(min_length=1)
    """The field whose value moves forward (`updated_at`, `id`); a top-level key."""
    initial_value: Any = None
    """Where the first load starts."""
    end_value: Any = None
    """Load up to here only (a fixed window); the stored cursor is left alone."""
    last_value_func: Literal["max", "min"] = "max"
    """`max`: the cursor moves up; `min`: it moves down."""
    primary_key: Key | None = None
    """Column(s) identifying a row (merge, upsert, dedup)."""


class SchemaContractSpec(Strict):
    tables: ContractMode | None = None
    """`evolve`, `freeze`, `discard_row` or `discard_value` for new tables."""
    columns: ContractMode | None = None
    """`evolve`, `freeze`, `discard_row` or `discard_value` for new columns."""
    data_type: ContractMode | None = None
    """`evolve`, `freeze`, `discard_row` or `discard_value` for new data types."""


class TimePartitions(Strict):
    """One partition per hour, day, week or month from `start` (YYYY-MM-DD, or an ISO datetime for hourly)."""

    type: TimePartitionType
    """`hourly`, `daily`, `weekly` or `monthly`."""
    start: datetime | date
    """The first partition's start: YYYY-MM-DD, or an ISO datetime for `hourly`."""
    end: datetime | date | None = None
    """The end of the last partition (exclusive); open-ended by default."""
    timezone: str | None = None
    """The zone partitions are cut in (`Europe/Paris`); UTC by default."""
    mode: PartitionMode | None = None
    """`merge_key`: a run replaces its partition's rows (by `merge_key`); `replace`: the whole table."""
    backfill: Literal["single_run"] | None = None
    """`single_run`: a backfill of a range is one run and one atomic load, `${partition_start}` the
    first partition's start and `${partition_end}` the last one's end; unset: one run per partition."""


class StaticPartitions(Strict):
    """A fixed list of partition keys (regions, tenants...)."""

    type: Literal["static"]
    """`static`."""
    keys: list[str] = Field(min_length=1)
    """The partition keys; a run's key reaches the source as `${partition_key}`."""
    mode: PartitionMode | None = None
    """`merge_key`: a run replaces its partition's rows (by `merge_key`); `replace`: the whole table."""

    @model_validator(mode="after")
    def _unique(self) -> StaticPartitions:
        doubles = sorted(k for k, n in collections.Counter(self.keys).items() if n > 1)
        if doubles:
            raise ValueError(f"partition keys must be unique; `{doubles[0]}` is listed twice")
        return self


Partitions = Annotated[TimePartitions | StaticPartitions, Field(discriminator="type")]


class OnCron(Strict):
    on_cron: Cron
    """Materialize on this cron schedule (Dagster's `AutomationCondition.on_cron`)."""


class Freshness(Strict):
    """Fail (and optionally warn earlier) when the data is older than this."""

    max_lag_minutes: PositiveInt
    """The freshness check fails when the last load is older than this."""
    warn_lag_minutes: PositiveInt | None = None
    """It warns when older than this (smaller than `max_lag_minutes`)."""

    @model_validator(mode="after")
    def _warn_first(self) -> Freshness:
        if self.warn_lag_minutes is not None and self.warn_lag_minutes >= self.max_lag_minutes:
            raise ValueError("`warn_lag_minutes` must be smaller than `max_lag_minutes`")
        return self


class AssetOptions(Strict):
    """How the tables appear in Dagster. Set per resource, in `defaults`, or on the source."""

    group: Group | None = None
    """Dagster asset group."""
    owners: list[Owner] | None = None
    """Owners: email addresses or `team:<name>`."""
    tags: dict[TagKey, TagValue] | None = None
    """Dagster tags on the assets."""
    schedule: Cron | None = None
    """Cron string: run the load on this schedule."""
    partitions: Partitions | None = None
    """Daily, weekly, monthly or static partitions; `${partition_key}` fills options."""
    automation: Literal["eager"] | OnCron | None = None
    """`eager`, or `{on_cron: "<cron>"}`."""
    freshness: Freshness | None = None
    """How old the data may get before its freshness check fails."""
    checks: bool = True
    """Attach the row-count and schema checks."""
    deps: list[AssetKey] | None = None
    """Upstream asset keys (`a/b`) the tables depend on."""


ASSET_OPTIONS = tuple(AssetOptions.model_fields)

# mappings that `defaults` and resources combine key by key instead of replacing
MERGED_MAPPINGS = frozenset({"columns", "tags", "args", "params", "headers"})


class ResourceSpec(AssetOptions):
    """One table: the engine options shared by every kind (kinds add their own fields)."""

    description: str | None = None
    """The table's description in Dagster."""
    table_name: Name | None = None
    """The table to load into; the resource name by default."""
    write_disposition: WriteDisposition | WriteDispositionSpec = "append"
    """`append`, `replace`, `merge`, or `{disposition, strategy}`."""
    primary_key: Key | None = None
    """Column(s) identifying a row: merges match on them, checks test them unique."""
    merge_key: Key | None = None
    """Column(s) whose values replace all existing rows with those values."""
    columns: dict[str, ColumnHint] | None = None
    """Column hints: data_type, nullable, unique, precision..."""
    max_table_nesting: Annotated[int, Field(ge=0)] | None = None
    """Nested levels flattened into child tables; deeper data is stored as JSON."""
    schema_contract: ContractMode | SchemaContractSpec | None = None
    """`evolve`, `freeze`, `discard_row`, `discard_value`, or per entity."""
    incremental: IncrementalSpec | None = None
    """Load only items whose cursor moved past the stored one."""

    @property
    def disposition(self) -> str:
        """`append`, `replace` or `merge`."""
        wd = self.write_disposition
        return wd if isinstance(wd, str) else wd.disposition

    @property
    def strategy(self) -> str | None:
        """The merge or replace strategy, when one is set."""
        wd = self.write_disposition
        return None if isinstance(wd, str) else wd.strategy

    def primary_key_columns(self) -> list[str]:
        """The primary key, from `primary_key` or from column hints."""
        return _key_columns(self.primary_key, self.columns, "primary_key")

    def merge_key_columns(self) -> list[str]:
        return _key_columns(self.merge_key, self.columns, "merge_key")

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments for `pg_assets.resource()`, except `data` and `incremental`."""
        wd = self.write_disposition
        return {
            "write_disposition": wd if isinstance(wd, str) else wd.model_dump(exclude_none=True),
            "primary_key": self.primary_key,
            "merge_key": self.merge_key,
            "columns": {c: h.model_dump(exclude_none=True) for c, h in (self.columns or {}).items()} or None,
            "max_table_nesting": self.max_table_nesting,
            "schema_contract": _dump(self.schema_contract),
        }


def _key_columns(key: Key | None, columns: Mapping[str, ColumnHint] | None, hint: str) -> list[str]:
    if key:
        return [key] if isinstance(key, str) else list(key)
    return [name for name, h in (columns or {}).items() if getattr(h, hint)]


def _dump(value: Any) -> Any:
    return value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value


class SourceSpec(AssetOptions):
    """A source: one kind, one dataset, many resources. Kinds subclass it.

    `resolved(name)` gives a resource's options with the source's asset options and
    `defaults` applied under the resource's own.
    """

    resource_model: ClassVar[type[ResourceSpec]] = ResourceSpec

    kind: str
    """The source kind: `python`, `files`, `rest_api`, `sql_database`."""
    dataset: Name
    """The Postgres schema the tables land in."""
    schema_name: Annotated[str, AfterValidator(_schema_name)] | None = None
    """dlt's source (schema) name, `@dlt.source(name=...)`: the stored schema the loads update and the
    `sources.<name>` key of the state. Defaults to the source's own name (its pipeline's name)."""
    description: str | None = None
    """The source's description."""
    defaults: ResourceSpec = Field(default_factory=ResourceSpec)
    """Options every resource of the source starts from."""
    resources: dict[Name, ResourceSpec] = Field(min_length=1)
    """The tables: one resource each, by name."""

    _resolved: dict[str, ResourceSpec] = PrivateAttr(default_factory=dict)

    def resolved(self, name: str) -> ResourceSpec:
        """The options of resource `name` with source options and `defaults` merged in."""
        if name not in self._resolved:
            own = self.resources[name]  # KeyError names the missing resource
            self._resolved[name] = type(own).model_validate(self.resolved_raw(name))
        return self._resolved[name]

    def resolved_raw(self, name: str) -> dict[str, Any]:
        return merge_options(
            self.model_dump(include=set(ASSET_OPTIONS), exclude_unset=True),
            self.defaults.model_dump(exclude_unset=True),
            self.resources[name].model_dump(exclude_unset=True),
        )

    def source_options(self) -> dict[str, Any]:
        """The kind's own source-level options (`base_url`, `headers`...)."""
        shared = set(SourceSpec.model_fields)
        return self.model_dump(exclude=shared, exclude_none=True)

    def asset_uri(self, name: str) -> str | None:
        """Where resource `name` reads from, for Dagster's `dagster/uri` (no secrets); None when unsaid."""
        return None

    def resource_fingerprint(self, name: str) -> str:
        """A sha256 of everything that decides how `name` loads, for Dagster's `code_version`."""
        document = {"kind": self.kind, "dataset": self.dataset, "source": self.source_options(),
                    "resource": self.resolved(name).model_dump(mode="json", exclude_none=True)}
        if self.schema_name is not None:  # it decides which cursors the load resumes
            document["schema_name"] = self.schema_name
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def merge_options(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win; the mappings in `MERGED_MAPPINGS` combine key by key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in MERGED_MAPPINGS and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


class DestinationSpec(Strict):
    """Where every source loads; without `credentials`, the embedded Postgres."""

    credentials: str | dict[str, Any] | None = Field(default=None, repr=False)
    """A postgresql:// URI or fields; write `${VAR}`, never the secret."""
    create_indexes: bool = True
    """`UNIQUE` constraints for `unique` hints and key indexes on merge tables."""
    workers: Annotated[int, Field(ge=1, le=256)] = 20
    """Parallel connections loading batches."""
    file_format: FileFormat = DEFAULT_FILE_FORMAT
    """How rows travel: `INSERT ... VALUES` or `COPY`."""
    replace_strategy: ReplaceStrategy = DEFAULT_REPLACE_STRATEGY
    """How `replace` swaps a table: `truncate-and-insert`, `insert-from-staging` or `staging-optimized`."""

    @model_validator(mode="after")
    def _empty_is_embedded(self) -> DestinationSpec:
        # `credentials: ${PG_ASSETS_CREDENTIALS:-}` means "the embedded server unless set"
        if self.credentials == "":
            object.__setattr__(self, "credentials", None)
        return self

    def pipeline_options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"credentials"})
