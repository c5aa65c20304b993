"""Dagster decides which cron strings are valid: its own public constructor is asked.

Importing this module registers the judge with `pg_assets.spec.cron`, so a spec
read by the Dagster layer (definitions, the component, `dg check`) or by
`pg-assets validate` is checked by the rules the schedules will be built with,
and its errors stay located in `pipelines.yaml`.
"""

from __future__ import annotations

import functools

import dagster as dg

from pg_assets.spec.cron import use_judge


@functools.cache
def dagster_accepts(cron: str) -> bool:
    """Whether Dagster builds a schedule on `cron`.

    Examples:
        >>> dagster_accepts("0 6 * * 1#2"), dagster_accepts("0 0 30 2 *")
        (True, False)
    """
    try:
        dg.ScheduleDefinition(name="pg_assets_cron_check", cron_schedule=cron, job_name="pg_assets_cron_check")
    except dg.DagsterInvalidDefinitionError:
        return False
    return True


use_judge(dagster_accepts)
