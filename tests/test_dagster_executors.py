"""The same assets under Dagster's multiprocess executor: each source's step in its own process.

Nothing is shared through local disk or memory: each step process re-imports the
definitions (`pg_assets.definitions`, reading `PG_ASSETS_SPEC`), reads state from
the destination and writes through its own connections.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from dagster_projects import write_project

TWO_SOURCES = """
sources:
  shop:
    kind: python
    dataset: {dataset}
    resources:
      customers: {{function: "{module}:rows", args: {{rows: [{{id: 1}}, {{id: 2}}]}}, primary_key: id}}
  crm:
    kind: python
    dataset: {dataset}
    resources:
      people: {{function: "{module}:nested"}}
"""
JOB = "every_table"


def every_table_job() -> dg.JobDefinition:
    """Rebuilt in each step process from `PG_ASSETS_SPEC`, as `dagster dev` would."""
    from pg_assets.dagster.project import load_definitions

    job = dg.define_asset_job(JOB, executor_def=dg.multiprocess_executor)
    return dg.Definitions.merge(load_definitions(), dg.Definitions(jobs=[job])).resolve_job_def(JOB)


def test_sources_load_in_separate_processes(tmp_path: Path, dataset: str, query: Callable[..., list[tuple]],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_ASSETS_SPEC", str(write_project(tmp_path, TWO_SOURCES, dataset)))
    with dg.instance_for_test() as instance:
        result = dg.execute_job(dg.reconstructable(every_table_job), instance=instance)
        assert result.success
        starts = {e.step_key: e.pid for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert set(starts) == {"load_shop", "load_crm"}
    assert len(set(starts.values()) | {os.getpid()}) == 3
    assert materialized == {dg.AssetKey([dataset, "customers"]), dg.AssetKey([dataset, "people"])}
    assert query(f'SELECT count(*) FROM "{dataset}".people__items') == [(3,)]
