"""The only orchestrator: sources -> normalize -> load -> commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pg_assets.info import LoadInfo, ProgressEvent
from pg_assets.resource import Resource


class Pipeline:
    """Loads data into one dataset (a Postgres schema) of one destination."""

    def __init__(self, name: str, dataset: str | None = None, credentials: Any = None, *,
                 file_format: str = "insert_values", create_indexes: bool = True, workers: int = 20,
                 replace_strategy: str = "truncate-and-insert") -> None:
        raise NotImplementedError

    def run(self, data: Iterable[Any] | Resource | list[Resource], table_name: str | None = None, *,
            write_disposition: str | Mapping[str, Any] = "append", primary_key: Any = None, merge_key: Any = None,
            columns: Mapping[str, Mapping[str, Any]] | None = None, max_table_nesting: int | None = None,
            incremental: Any = None, schema_contract: Any = None,
            progress: Callable[[ProgressEvent], None] | None = None) -> LoadInfo:
        raise NotImplementedError


def pipeline(pipeline_name: str, dataset: str | None = None, credentials: Any = None, **options: Any) -> Pipeline:
    return Pipeline(pipeline_name, dataset, credentials, **options)
