"""Run time: materializing the assets into the session's embedded Postgres."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pg_assets.dagster import PgAssetsResource, definitions_from_spec
from dagster_projects import SHOP, write_project

Query = Callable[..., list[tuple]]


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    # One instance for the module: every test has its own dataset, hence its own asset keys.
    with dg.instance_for_test() as instance:
        yield instance


def _keys(dataset: str) -> dict[str, dg.AssetKey]:
    return {"customers": dg.AssetKey([dataset, "customers"]), "lines": dg.AssetKey([dataset, "order_lines"]),
            "views": dg.AssetKey([f"{dataset}_events", "page_views"])}


def _materialize(defs: dg.Definitions, instance: dg.DagsterInstance, selection: Any = None,
                 partition_key: str | None = None, raise_on_error: bool = True,
                 resource: PgAssetsResource | None = None) -> dg.ExecuteInProcessResult:
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    return dg.materialize(assets, instance=instance, selection=selection, partition_key=partition_key,
                          resources={"pg_assets": resource or PgAssetsResource(progress_interval_seconds=0.05)},
                          raise_on_error=raise_on_error)


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    (event,) = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.fixture
def shop(tmp_path: Path, dataset: str) -> Iterator[dg.Definitions]:
    yield definitions_from_spec(write_project(tmp_path, SHOP, dataset))
    # The events source writes a second schema; the `dataset` fixture drops only its own.
    from pg_assets import resolve_credentials

    conn = resolve_credentials().connect()
    conn.autocommit = True
    with conn, conn.cursor() as cur:
        for schema in (f"{dataset}_events", f"{dataset}_events_staging"):
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    conn.close()


def test_materializing_a_source_loads_every_table_with_metadata_from_the_database(
        shop: dg.Definitions, instance: dg.DagsterInstance, dataset: str, query: Query) -> None:
    keys = _keys(dataset)
    result = _materialize(shop, instance, selection=[keys["customers"], keys["lines"]])
    lines = _metadata(result, keys["lines"])
    assert lines["dagster/table_name"] == f"postgres.{dataset}.order_lines"
    assert lines["dagster/row_count"] == 2 and lines["rows_loaded"] == 2
    assert lines["rows_loaded_by_table"] == {"order_lines": 2, "order_lines__items": 3}
    assert {c.name for c in lines["column_schema/order_lines__items"].columns} >= {"sku", "_dlt_parent_id"}
    assert {c.name for c in lines["dagster/column_schema"].columns} >= {"id", "_dlt_id", "_dlt_load_id"}
    event = next(m for m in result.get_asset_materialization_events() if m.asset_key == keys["lines"])
    assert event.materialization.tags["dagster/data_version"] == lines["load_id"]
    assert query(f'SELECT count(*) FROM "{dataset}".order_lines__items') == [(3,)]


def test_a_subset_loads_only_the_selected_table(shop: dg.Definitions, instance: dg.DagsterInstance,
                                                 dataset: str, query: Query) -> None:
    keys = _keys(dataset)
    result = _materialize(shop, instance, selection=[keys["customers"]])
    assert [m.asset_key for m in result.get_asset_materialization_events()] == [keys["customers"]]
    tables = query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (dataset,))
    assert ("customers",) in tables and ("order_lines",) not in tables


def test_declared_checks_pass_on_good_data(shop: dg.Definitions, instance: dg.DagsterInstance, dataset: str) -> None:
    result = _materialize(shop, instance, selection=[_keys(dataset)["customers"]])
    checks = _checks(result)
    assert set(checks) == {"primary_key_unique", "unique_email", "not_null_id", "not_null_email",
                           "column_schema_change"}
    assert all(c.passed for c in checks.values())


BAD = """
destination: {{create_indexes: false}}
sources:
  crm:
    kind: python
    dataset: {dataset}
    resources:
      people:
        function: {module}:rows
        args: {{rows: [{{id: 1, email: a@x.io}}, {{id: 2, email: a@x.io}}, {{id: 3, email: b@x.io}}]}}
        columns: {{email: {{data_type: text, unique: true, nullable: false}}}}
"""


def test_checks_fail_on_bad_data_with_the_violating_row_count(tmp_path: Path, dataset: str,
                                                              instance: dg.DagsterInstance) -> None:
    defs = definitions_from_spec(write_project(tmp_path, BAD, dataset))
    checks = _checks(_materialize(defs, instance))
    assert not checks["unique_email"].passed and checks["not_null_email"].passed
    assert checks["unique_email"].metadata["violating_rows"].value == 2
    assert checks["unique_email"].severity == dg.AssetCheckSeverity.ERROR


def test_checks_alone_evaluate_the_table_as_it_is_now(tmp_path: Path, dataset: str, query: Query,
                                                      instance: dg.DagsterInstance) -> None:
    defs = definitions_from_spec(write_project(tmp_path, BAD, dataset))
    _materialize(defs, instance)
    # The engine enforces `nullable: false`; someone else's later change may not.
    query(f'ALTER TABLE "{dataset}".people ALTER COLUMN email DROP NOT NULL')
    query(f'INSERT INTO "{dataset}".people (id, _dlt_id, _dlt_load_id) VALUES (4, \'x\', \'y\')')
    key = dg.AssetKey([dataset, "people"])
    result = _materialize(defs, instance, selection=dg.AssetSelection.checks(dg.AssetCheckKey(key, "not_null_email")))
    assert result.get_asset_materialization_events() == []
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["violating_rows"].value == 1


def test_schema_change_check_warns_on_a_new_column(tmp_path: Path, dataset: str,
                                                   instance: dg.DagsterInstance) -> None:
    first = _checks(_materialize(definitions_from_spec(write_project(tmp_path / "a", BAD, dataset)), instance))
    assert first["column_schema_change"].passed
    wider = BAD.replace("email: b@x.io}", "email: b@x.io, age: 40}")
    assert wider != BAD
    second = _checks(_materialize(definitions_from_spec(write_project(tmp_path / "b", wider, dataset)), instance))
    change = second["column_schema_change"]
    assert not change.passed and change.severity == dg.AssetCheckSeverity.WARN
    assert change.metadata["added"].value == ["people.age"]


def test_a_daily_partition_reaches_the_source_as_template_parameters(
        shop: dg.Definitions, instance: dg.DagsterInstance, dataset: str, query: Query) -> None:
    key = _keys(dataset)["views"]
    result = _materialize(shop, instance, selection=[key], partition_key="2024-03-01")
    assert query(f'SELECT day, day_end FROM "{dataset}_events".page_views') == [("2024-03-01", "2024-03-02")]
    assert _metadata(result, key)["dagster/partition_row_count"] == 1


FAILING = """
sources:
  broken:
    kind: python
    dataset: {dataset}
    resources:
      things: {{function: "{module}:boom"}}
"""


def test_a_failed_load_yields_no_materialization_and_says_why(tmp_path: Path, dataset: str,
                                                             instance: dg.DagsterInstance) -> None:
    defs = definitions_from_spec(write_project(tmp_path, FAILING, dataset))
    result = _materialize(defs, instance, raise_on_error=False)
    assert not result.success and result.get_asset_materialization_events() == []
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "source `broken`" in message and "nothing was committed" in message


def test_progress_is_streamed_to_the_run_log(shop: dg.Definitions, instance: dg.DagsterInstance,
                                             dataset: str) -> None:
    result = _materialize(shop, instance, selection=[_keys(dataset)["lines"]])
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    staged = [m for m in messages if "rows staged" in m]
    assert staged and not any("rows/s" in m for m in staged)  # a few rows: no rate, which would measure start-up


REGIONS = """
sources:
  web:
    kind: python
    dataset: {dataset}
    partitions: {{type: static, keys: [eu, us], mode: MODE}}
    resources:
      clicks: {{function: "{module}:region_rows", args: {{region: "${{partition_key}}"}}, merge_key: region}}
"""


@pytest.mark.parametrize(("mode", "regions"), [("merge_key", [("eu", 2), ("us", 2)]), ("replace", [("us", 2)])],
                         ids=["merge-key-replaces-the-partition", "replace-keeps-the-last-partition"])
def test_partition_mode_decides_what_a_partition_replaces(tmp_path: Path, dataset: str, query: Query,
                                                          instance: dg.DagsterInstance, mode: str,
                                                          regions: list[tuple[str, int]]) -> None:
    defs = definitions_from_spec(write_project(tmp_path, REGIONS.replace("MODE", mode), dataset))
    for key in ("eu", "eu", "us"):
        _materialize(defs, instance, partition_key=key)
    sql = f'SELECT region, count(*) FROM "{dataset}".clicks GROUP BY region ORDER BY region'
    assert query(sql) == regions


def test_checks_of_a_table_never_loaded_fail_and_say_so(tmp_path: Path, dataset: str,
                                                          instance: dg.DagsterInstance) -> None:
    defs = definitions_from_spec(write_project(tmp_path, BAD, dataset))
    key = dg.AssetKey([dataset, "people"])
    result = _materialize(defs, instance, selection=dg.AssetSelection.checks_for_assets(key))
    checks = _checks(result)
    assert checks and not any(c.passed for c in checks.values())
    assert "does not exist yet" in checks["unique_email"].description


HISTORY = """
sources:
  crm:
    kind: python
    dataset: {dataset}
    resources:
      people:
        function: {module}:rows
        args: {{rows: [{{id: 1, city: CITY}}]}}
        write_disposition: {{disposition: merge, strategy: scd2}}
        primary_key: id
"""


def test_an_scd2_table_keeps_versions_but_its_current_keys_are_unique(
        tmp_path: Path, dataset: str, query: Query, instance: dg.DagsterInstance) -> None:
    for city in ("Oslo", "Rome"):
        spec = write_project(tmp_path / city, HISTORY.replace("CITY", city), dataset)
        checks = _checks(_materialize(definitions_from_spec(spec), instance))
        assert checks["primary_key_unique"].passed
    assert query(f'SELECT count(*) FROM "{dataset}".people') == [(2,)]
