"""The closed vocabularies of pg_assets, each written once.

The spec's pydantic models, the resource planner, `Pipeline` and the load stages all
import these names, so a disposition, strategy, data type or file format is added (or
renamed) here and nowhere else. Each `Literal` is the type; the tuple next to it is the
runtime set, derived with `get_args` so the two cannot drift. The defaults live here too.
"""

from __future__ import annotations

from typing import Literal, get_args

WriteDisposition = Literal["append", "replace", "merge"]
MergeStrategy = Literal["delete-insert", "upsert", "insert-only", "scd2"]
ReplaceStrategy = Literal["truncate-and-insert", "insert-from-staging", "staging-optimized"]
Strategy = Literal[MergeStrategy, ReplaceStrategy]
# dlt's column types; `wei` is a decimal wide enough for EVM amounts (numeric(156,78) in Postgres)
DataType = Literal["text", "bigint", "double", "bool", "timestamp", "date", "time", "decimal", "json", "binary", "wei"]
FileFormat = Literal["insert_values", "copy"]
ContractEntity = Literal["tables", "columns", "data_type"]
ContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]
TimePartitionType = Literal["hourly", "daily", "weekly", "monthly"]
PartitionMode = Literal["merge_key", "replace"]

WRITE_DISPOSITIONS: tuple[str, ...] = get_args(WriteDisposition)
MERGE_STRATEGIES: tuple[str, ...] = get_args(MergeStrategy)
REPLACE_STRATEGIES: tuple[str, ...] = get_args(ReplaceStrategy)
STRATEGIES: dict[str, tuple[str, ...]] = {"merge": MERGE_STRATEGIES, "replace": REPLACE_STRATEGIES}
DATA_TYPES: tuple[str, ...] = get_args(DataType)
FILE_FORMATS: tuple[str, ...] = get_args(FileFormat)
CONTRACT_ENTITIES: tuple[str, ...] = get_args(ContractEntity)
CONTRACT_MODES: tuple[str, ...] = get_args(ContractMode)
TIME_PARTITION_TYPES: tuple[str, ...] = get_args(TimePartitionType)
PARTITION_MODES: tuple[str, ...] = get_args(PartitionMode)

# strategies that key root rows by the primary key, so they need one
NEEDS_PRIMARY_KEY: tuple[str, ...] = ("upsert", "insert-only")
# strategies whose child rows carry their root's `_dlt_id` in `_dlt_root_id`, as dlt 1.31 makes
# them (its `requires_root_key`): they delete child rows by root. scd2 child rows are insert-only
ROOT_KEY_STRATEGIES: tuple[str, ...] = ("delete-insert", "upsert", "insert-only")

DEFAULT_MERGE_STRATEGY: MergeStrategy = "delete-insert"
DEFAULT_REPLACE_STRATEGY: ReplaceStrategy = "truncate-and-insert"
DEFAULT_FILE_FORMAT: FileFormat = "insert_values"

# precision and scale of a `wei` column, as dlt's Postgres destination creates it
WEI_PRECISION, WEI_SCALE = 156, 78
# precision and scale of a `decimal` column without hints, as dlt's Postgres destination creates it
DECIMAL_PRECISION, DECIMAL_SCALE = 38, 9


def disposition_label(disposition: str, strategy: str | None) -> str:
    """A disposition as one word for display: `append`, `replace`, or `merge:upsert` when a strategy is set.

    The engine carries the two apart (`TablePlan.write_disposition`, `.strategy`); this
    label is only how metadata and messages show them.

    Examples:
        >>> disposition_label("merge", "upsert"), disposition_label("append", None)
        ('merge:upsert', 'append')
    """
    return f"{disposition}:{strategy}" if strategy else disposition
