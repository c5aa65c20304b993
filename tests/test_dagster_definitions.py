"""Definition time: what Dagster sees of a pipelines.yaml, built without a database."""

from __future__ import annotations

import datetime
from pathlib import Path

import dagster as dg
import pytest

from pg_assets.dagster import PgAssetsResource, build_definitions, definitions_from_spec
from pg_assets.errors import SpecError
from pg_assets.spec import load_spec
from dagster_projects import SHOP, write_project

CUSTOMERS = dg.AssetKey(["raw_shop", "customers"])
ORDER_LINES = dg.AssetKey(["raw_shop", "order_lines"])
PAGE_VIEWS = dg.AssetKey(["raw_shop_events", "page_views"])


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    return write_project(tmp_path, SHOP)


@pytest.fixture
def defs(spec_path: Path) -> dg.Definitions:
    return definitions_from_spec(spec_path)


def _spec(defs: dg.Definitions, key: dg.AssetKey) -> dg.AssetSpec:
    return next(s for s in defs.resolve_all_asset_specs() if s.key == key)


def _assets_def(defs: dg.Definitions, key: dg.AssetKey) -> dg.AssetsDefinition:
    return defs.resolve_assets_def(key)


def test_one_asset_per_table_keyed_dataset_table(defs: dg.Definitions) -> None:
    assert {s.key for s in defs.resolve_all_asset_specs()} == {CUSTOMERS, ORDER_LINES, PAGE_VIEWS}


def test_one_multi_asset_per_source_subsettable(defs: dg.Definitions) -> None:
    shop = _assets_def(defs, CUSTOMERS)
    assert shop is _assets_def(defs, ORDER_LINES)
    assert shop.can_subset and shop.node_def.name == "load_shop"
    assert _assets_def(defs, PAGE_VIEWS).node_def.name == "load_events"


@pytest.mark.parametrize(("key", "group"), [(CUSTOMERS, "shop"), (ORDER_LINES, "sales"), (PAGE_VIEWS, "events")],
                         ids=["source-name", "yaml-group", "other-source"])
def test_group_is_the_yaml_group_else_the_source(defs: dg.Definitions, key: dg.AssetKey, group: str) -> None:
    assert _spec(defs, key).group_name == group


def test_kinds_description_owners_tags(defs: dg.Definitions) -> None:
    customers, lines = _spec(defs, CUSTOMERS), _spec(defs, ORDER_LINES)
    assert customers.kinds == {"postgres", "python"}
    assert customers.description == "People who bought something."
    assert lines.description == "The web shop."  # the source's, for a resource without its own
    assert customers.owners == ["team:data"] and customers.tags["tier"] == "gold"


def test_table_name_defaults_to_the_embedded_database(defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _spec(defs, CUSTOMERS).metadata["dagster/table_name"] == "postgres.raw_shop.customers"


def test_table_name_takes_the_database_from_the_env_without_connecting(
        spec_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_ASSETS_CREDENTIALS", "postgresql://loader:secret@db.invalid:5433/analytics")
    defs = definitions_from_spec(spec_path)
    spec = _spec(defs, ORDER_LINES)
    assert spec.metadata["dagster/table_name"] == "analytics.raw_shop.order_lines"
    assert _assets_def(defs, ORDER_LINES).op.pool == "pg_assets:db.invalid:5433/analytics"
    assert "secret" not in repr(spec.metadata)


def test_pool_is_one_per_destination_and_can_be_overridden(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    assert {a.op.pool for a in build_definitions(spec).assets} == {"pg_assets"}
    assert {a.op.pool for a in build_definitions(spec, pool="warehouse").assets} == {"warehouse"}


def test_code_version_is_the_resource_fingerprint_and_follows_its_yaml(tmp_path: Path) -> None:
    path = write_project(tmp_path, SHOP)
    before = definitions_from_spec(path)
    spec = load_spec(path)
    assert _spec(before, ORDER_LINES).code_version == spec.sources["shop"].resource_fingerprint("order_lines")
    path.write_text(path.read_text().replace("a@x.io", "z@x.io"))
    after = definitions_from_spec(path)
    assert _spec(before, CUSTOMERS).code_version != _spec(after, CUSTOMERS).code_version
    assert _spec(before, ORDER_LINES).code_version == _spec(after, ORDER_LINES).code_version


def test_hinted_columns_are_the_definition_time_schema(defs: dg.Definitions) -> None:
    schema = _spec(defs, CUSTOMERS).metadata["dagster/column_schema"]
    (email,) = schema.columns
    assert (email.name, email.type, email.constraints.nullable, email.constraints.unique) == (
        "email", "text", False, True)


def _check_names(defs: dg.Definitions, key: dg.AssetKey) -> set[str]:
    return {k.name for k in _assets_def(defs, key).check_keys if k.asset_key == key}


@pytest.mark.parametrize(("key", "checks"), [
    (CUSTOMERS, {"primary_key_unique", "unique_email", "not_null_id", "not_null_email", "column_schema_change"}),
    (ORDER_LINES, {"column_schema_change"}),
    (PAGE_VIEWS, set()),
], ids=["hinted", "no-hints", "checks-off"])
def test_checks_follow_the_hints(defs: dg.Definitions, key: dg.AssetKey, checks: set[str]) -> None:
    assert _check_names(defs, key) == checks


def test_schedule_targets_its_tables_and_runs(defs: dg.Definitions) -> None:
    (schedule,) = defs.schedules
    assert schedule.name == "load_shop_schedule" and schedule.cron_schedule == "0 6 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def(schedule.job_name)
    assert job.asset_layer.selected_asset_keys == {ORDER_LINES}


def test_automation_freshness_and_a_running_sensor(defs: dg.Definitions) -> None:
    lines = _spec(defs, ORDER_LINES)
    assert lines.automation_condition.get_label() == "eager"
    assert lines.freshness_policy.fail_window.to_timedelta().total_seconds() == 3600
    (sensor,) = defs.sensors
    assert sensor.name == "load_shop_automation" and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert _spec(defs, CUSTOMERS).automation_condition is None


def test_daily_partitions_reach_the_multi_asset(defs: dg.Definitions) -> None:
    pdef = _assets_def(defs, PAGE_VIEWS).partitions_def
    assert isinstance(pdef, dg.DailyPartitionsDefinition)
    assert pdef.get_first_partition_key() == "2024-01-01"
    assert _assets_def(defs, CUSTOMERS).partitions_def is None


SPLIT = """
sources:
  web:
    kind: python
    dataset: web
    resources:
      clicks: {{function: "{module}:region_rows", args: {{region: "${{partition_key}}"}},
               partitions: {{type: static, keys: [eu, us]}}, schedule: "0 * * * *"}}
      users: {{function: "{module}:rows", args: {{rows: []}}}}
"""


def test_resources_with_different_partitionings_get_their_own_multi_assets(tmp_path: Path) -> None:
    defs = definitions_from_spec(write_project(tmp_path, SPLIT))
    clicks = _assets_def(defs, dg.AssetKey(["web", "clicks"]))
    users = _assets_def(defs, dg.AssetKey(["web", "users"]))
    assert clicks is not users
    assert clicks.partitions_def.get_partition_keys() == ["eu", "us"]
    assert {clicks.node_def.name, users.node_def.name} == {"load_web__clicks", "load_web__users"}


def test_a_static_partitioned_schedule_requests_every_key(tmp_path: Path) -> None:
    defs = definitions_from_spec(write_project(tmp_path, SPLIT))
    (schedule,) = defs.schedules
    tick = datetime.datetime(2024, 5, 1, 6, tzinfo=datetime.timezone.utc)
    context = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def())
    requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["eu", "us"]


def test_resource_is_bound_under_its_key(defs: dg.Definitions) -> None:
    assert isinstance(defs.resources["pg_assets"], PgAssetsResource)
    defs.resolve_implicit_global_asset_job_def()  # raises if a required resource were missing


def test_building_definitions_never_connects(spec_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg2

    from pg_assets import embedded

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("definitions must not touch the database")

    monkeypatch.setattr(psycopg2, "connect", refuse)
    monkeypatch.setattr(embedded, "ensure_running", refuse)
    definitions_from_spec(spec_path).resolve_implicit_global_asset_job_def()


def test_invalid_yaml_raises_the_located_validation_error(tmp_path: Path) -> None:
    path = write_project(tmp_path, SHOP.replace("write_disposition: merge", "write_disposition: mrege", 1))
    with pytest.raises(SpecError) as info:
        definitions_from_spec(path)
    assert f"{path.name}:" in str(info.value) and "mrege" in str(info.value)


REPO = Path(__file__).resolve().parents[1]


def test_the_repository_root_needs_no_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.dagster.project import load_definitions

    monkeypatch.delenv("PG_ASSETS_SPEC", raising=False)
    graph = load_definitions(REPO).resolve_asset_graph()
    assert {dg.AssetKey(["raw_shop", "orders"]), dg.AssetKey(["events", "page_views"])} <= set(graph.get_all_asset_keys())
    # dbt models hang below the loads; one on a child table (`orders__items`) below its root's asset
    assert graph.get(dg.AssetKey(["staging", "stg_shop__order_items"])).parent_keys == {
        dg.AssetKey(["raw_shop", "orders"])}


def test_pg_assets_spec_names_the_spec_and_it_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.dagster.project import load_definitions

    monkeypatch.setenv("PG_ASSETS_SPEC", str(write_project(tmp_path / "elsewhere", SHOP)))
    assert CUSTOMERS in load_definitions(tmp_path).resolve_all_asset_keys()
    monkeypatch.setenv("PG_ASSETS_SPEC", str(tmp_path / "missing.yaml"))
    with pytest.raises(SpecError, match="missing.yaml"):
        load_definitions(tmp_path)


def test_a_folder_without_a_spec_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets.dagster.project import load_definitions
    from pg_assets.errors import ConfigError

    monkeypatch.delenv("PG_ASSETS_SPEC", raising=False)
    with pytest.raises(ConfigError, match="PG_ASSETS_SPEC"):
        load_definitions(tmp_path)


DAILY = """
sources:
  web:
    kind: python
    dataset: web
    partitions: {{type: daily, start: "2024-01-01", mode: merge_key}}
    schedule: "0 6 * * *"
    automation: {{on_cron: "0 7 * * *"}}
    resources:
      views: {{function: "{module}:day_rows", args: {{day: "${{partition_start}}", end: "${{partition_end}}"}},
              merge_key: day}}
"""


def test_a_daily_schedule_requests_the_newest_complete_day(tmp_path: Path) -> None:
    defs = definitions_from_spec(write_project(tmp_path, DAILY))
    (schedule,) = defs.schedules
    tick = datetime.datetime(2024, 5, 1, 6, tzinfo=datetime.timezone.utc)
    context = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def())
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2024-04-30"


def test_on_cron_automation(tmp_path: Path) -> None:
    defs = definitions_from_spec(write_project(tmp_path, DAILY))
    condition = _spec(defs, dg.AssetKey(["web", "views"])).automation_condition
    assert condition == dg.AutomationCondition.on_cron("0 7 * * *")


def test_table_name_reads_the_secrets_file_beside_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PG_ASSETS_CREDENTIALS", raising=False)
    path = write_project(tmp_path, SHOP)
    (tmp_path / ".pg_assets").mkdir()
    (tmp_path / ".pg_assets" / "secrets.toml").write_text(
        '[destination.postgres.credentials]\ndatabase = "warehouse"\nusername = "u"\nhost = "db.invalid"\n')
    spec = _spec(definitions_from_spec(path), CUSTOMERS)
    assert spec.metadata["dagster/table_name"] == "warehouse.raw_shop.customers"


CRON = """
sources:
  shop:
    kind: python
    dataset: {dataset}
    resources:
      t: {{function: "{module}:rows", args: {{rows: []}}, schedule: "CRON"}}
"""


@pytest.mark.parametrize(("cron", "problem"), [
    ("0 6 * * 1#2", None),  # the second Monday: Dagster accepts it
    ("0 0 30 2 *", "no time ever matches it"),  # February 30: Dagster refuses it
    ("0 25 * * *", "hour `25` is outside 0-23"),  # our located explanation, Dagster's verdict
], ids=["nth-weekday", "february-30", "hour-25"])
def test_cron_strings_are_judged_by_dagster_with_located_messages(tmp_path: Path, cron: str,
                                                                   problem: str | None) -> None:
    from pg_assets.spec import validate_file

    path = write_project(tmp_path, CRON.replace("CRON", cron))
    issues = validate_file(path)
    if problem is None:
        assert issues == [] and definitions_from_spec(path).schedules
    else:
        (issue,) = issues
        assert issue.path == "sources.shop.resources.t.schedule" and issue.line == 7 and problem in issue.message


def test_pg_assets_validate_refuses_a_cron_that_never_fires(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write_project(tmp_path, CRON.replace("CRON", "0 0 30 2 *"))
    result = subprocess.run([sys.executable, "-m", "pg_assets.cli", "validate", "-f", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"{path}:7:" in result.stderr and "no time ever matches it" in result.stderr
    assert "Traceback" not in result.stderr
