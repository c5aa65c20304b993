"""When loads run: partitions, schedules, automation conditions, freshness.

Everything here is read from a resource's YAML settings (source settings already
merged in by the spec) and turned into Dagster's own objects at definition time;
the one run-time piece is `partition_params`, which hands a run's partition to the
source as template parameters.

Daily, weekly and monthly partitions reach the source as ISO dates: the partition
`2024-03-01` of a daily partitioning gives `partition_start=2024-03-01` and
`partition_end=2024-03-02` (exclusive); hourly ones as ISO datetimes
(`2024-03-01T05:00:00+00:00`). A run of a range (`backfill: single_run`) gets the
first partition's start and the last one's end, and `partition_key` `first...last`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

_TIME_PARTITIONS: Mapping[str, type[dg.TimeWindowPartitionsDefinition]] = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


def _bound(value: Any) -> dt.datetime | None:
    """A spec date or datetime as the datetime Dagster's constructors take (a date is its midnight)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time())


def partitions_def(partitions: Any) -> dg.PartitionsDefinition | None:
    """A spec's `TimePartitions` or `StaticPartitions` as Dagster partitions.

    Examples:
        >>> from pg_assets.spec.models import StaticPartitions, TimePartitions
        >>> partitions_def(TimePartitions(type="daily", start="2024-01-01")).get_first_partition_key()
        '2024-01-01'
        >>> partitions_def(StaticPartitions(type="static", keys=["eu", "us"])).get_partition_keys()
        ['eu', 'us']
    """
    if partitions is None:
        return None
    if partitions.type == "static":
        return dg.StaticPartitionsDefinition(list(partitions.keys))
    return _TIME_PARTITIONS[partitions.type](
        start_date=_bound(partitions.start), end_date=_bound(partitions.end), timezone=partitions.timezone,
    )


def backfill_policy(partitions: Any) -> dg.BackfillPolicy | None:
    """`backfill: single_run`: one run loads a whole range; else Dagster's default, one run per partition."""
    return dg.BackfillPolicy.single_run() if getattr(partitions, "backfill", None) == "single_run" else None


def partition_key_of(partitions: Any) -> str:
    """What resources must share to sit in one multi-asset (a multi-asset has one partitioning).

    The mode (`merge_key` or `replace`) is left out: it changes how a partition is
    written, which the runner decides per resource, not which partitions exist.
    """
    return "" if partitions is None else partitions.model_dump_json(exclude={"mode"})


def partition_params(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's partition (or range of partitions) as template parameters for the source."""
    keys = context.partition_key_range
    params = {"partition_key": keys.start if keys.start == keys.end else f"{keys.start}...{keys.end}"}
    pdef = context.assets_def.partitions_def
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        window = context.partition_time_window
        hourly = isinstance(pdef, dg.HourlyPartitionsDefinition)
        params["partition_start"] = window.start.isoformat() if hourly else window.start.date().isoformat()
        params["partition_end"] = window.end.isoformat() if hourly else window.end.date().isoformat()
    return params


def automation_condition(automation: Any) -> dg.AutomationCondition | None:
    """`eager`, or `{on_cron: "<cron>"}`.

    Examples:
        >>> automation_condition("eager").get_label()
        'eager'
    """
    if automation is None:
        return None
    if automation == "eager":
        return dg.AutomationCondition.eager()
    return dg.AutomationCondition.on_cron(automation.on_cron)


def freshness_policy(freshness: Any) -> dg.FreshnessPolicy | None:
    """`{max_lag_minutes: N}` (optionally `warn_lag_minutes`): fail when no materialization for N minutes."""
    if freshness is None:
        return None
    warn = freshness.warn_lag_minutes
    return dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(minutes=freshness.max_lag_minutes),
        warn_window=dt.timedelta(minutes=warn) if warn is not None else None,
    )


def automation_sensor(name: str, keys: Sequence[dg.AssetKey]) -> dg.AutomationConditionSensorDefinition | None:
    """A sensor that evaluates the YAML's automation conditions, RUNNING from the start.

    Dagster's implicit default sensor starts STOPPED in a fresh `dagster dev`, which would
    leave `automation:` in the YAML silently inert.
    """
    if not keys:
        return None
    return dg.AutomationConditionSensorDefinition(
        name, target=dg.AssetSelection.assets(*keys), default_status=dg.DefaultSensorStatus.RUNNING,
        description="Evaluates the `automation:` conditions declared in pipelines.yaml.",
    )


def _run_requests(pdef: dg.PartitionsDefinition | None,
                  context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
    if pdef is None:
        yield dg.RunRequest()
    elif isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        # The newest complete partition as of the tick: a daily schedule at 06:00 loads yesterday.
        keys = pdef.get_partition_keys(current_time=context.scheduled_execution_time)
        if keys:
            yield dg.RunRequest(partition_key=keys[-1])
    else:
        # Several requests per tick need run keys; the tick time keeps them unique across ticks.
        tick = context.scheduled_execution_time.isoformat()
        yield from (dg.RunRequest(partition_key=k, run_key=f"{k}@{tick}") for k in pdef.get_partition_keys())


def schedule(name: str, cron: str, keys: Sequence[dg.AssetKey],
             pdef: dg.PartitionsDefinition | None) -> dg.ScheduleDefinition:
    """A RUNNING schedule that materializes `keys` on `cron` (a YAML `schedule:` is a request to run).

    Partitioned assets get the newest complete time partition, or every static key.
    """

    @dg.schedule(name=name, cron_schedule=cron, target=dg.AssetSelection.assets(*keys),
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Materializes {len(keys)} table(s) on `{cron}` (pipelines.yaml `schedule:`).")
    def _tick(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        yield from _run_requests(pdef, context)

    return _tick
