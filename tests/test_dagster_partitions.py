"""Hourly partitions and `backfill: single_run`: a range of partitions as one run and one atomic load."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pg_assets.dagster import PgAssetsResource, definitions_from_spec
from dagster_projects import write_project

Query = Callable[..., list[tuple]]

WINDOWS = """
sources:
  feed:
    kind: python
    dataset: {dataset}
    partitions: {{type: TYPE, start: "START", BACKFILL}}
    resources:
      windows:
        function: {module}:day_rows
        args: {{day: "${{partition_start}}", end: "${{partition_end}}"}}
        write_disposition: merge
        primary_key: id
"""


def _defs(tmp_path: Path, dataset: str, type_: str, start: str, backfill: str | None) -> dg.Definitions:
    text = WINDOWS.replace("TYPE", type_).replace("START", start)
    text = text.replace(", BACKFILL", f", backfill: {backfill}" if backfill else "")
    return definitions_from_spec(write_project(tmp_path, text, dataset))


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _run_range(defs: dg.Definitions, instance: dg.DagsterInstance, first: str, last: str) -> dg.ExecuteInProcessResult:
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize(list(defs.assets), instance=instance, tags=tags,
                          resources={"pg_assets": PgAssetsResource(progress_interval_seconds=0.05)})


@pytest.mark.parametrize(("backfill", "policy"), [("single_run", dg.BackfillPolicy.single_run()), (None, None)],
                         ids=["single-run", "one-run-per-partition"])
def test_backfill_decides_the_backfill_policy(tmp_path: Path, backfill: str | None, policy: Any) -> None:
    (assets,) = _defs(tmp_path, "raw_feed", "daily", "2024-01-01", backfill).assets
    assert assets.backfill_policy == policy


def test_hourly_partitions_start_at_an_iso_datetime(tmp_path: Path) -> None:
    (assets,) = _defs(tmp_path, "raw_feed", "hourly", "2024-01-01T05:00:00", None).assets
    assert isinstance(assets.partitions_def, dg.HourlyPartitionsDefinition)
    assert assets.partitions_def.get_first_partition_key() == "2024-01-01-05:00"


def test_a_daily_range_is_one_atomic_load_from_the_first_start_to_the_last_end(
        tmp_path: Path, dataset: str, query: Query, instance: dg.DagsterInstance) -> None:
    defs = _defs(tmp_path, dataset, "daily", "2024-01-01", "single_run")
    result = _run_range(defs, instance, "2024-03-01", "2024-03-05")
    assert result.success
    assert query(f'SELECT day, day_end FROM "{dataset}".windows') == [("2024-03-01", "2024-03-06")]
    assert query(f'SELECT count(DISTINCT _dlt_load_id) FROM "{dataset}".windows') == [(1,)]
    # One load, and Dagster records it against each partition of the range.
    partitions = [e.partition for e in result.get_asset_materialization_events()]
    assert partitions == [f"2024-03-0{day}" for day in range(1, 6)]


def test_an_hourly_range_passes_iso_datetimes(tmp_path: Path, dataset: str, query: Query,
                                              instance: dg.DagsterInstance) -> None:
    defs = _defs(tmp_path, dataset, "hourly", "2024-01-01T00:00:00", "single_run")
    assert _run_range(defs, instance, "2024-03-01-05:00", "2024-03-01-07:00").success
    # ISO datetimes, which the load types as timestamptz, as dlt does.
    utc = datetime.timezone.utc
    assert query(f'SELECT day, day_end FROM "{dataset}".windows') == [
        (datetime.datetime(2024, 3, 1, 5, tzinfo=utc), datetime.datetime(2024, 3, 1, 8, tzinfo=utc))]
