"""The dbt project in the asset graph (definition time): lineage from the loads, checks, pool, executable.

Built from the repository's own `pipelines.yaml` and `dbt_project/`, as `dagster dev`
builds them. Nothing here connects to Postgres.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from pg_assets.dagster.dbt import DBT_RESOURCE_KEY, OP_NAME, TRANSLATOR, prepared_project
from pg_assets.dagster.project import project_definitions

REPO = Path(__file__).resolve().parent.parent
SOURCES = yaml.safe_load((REPO / "dbt_project" / "models" / "sources.yml").read_text())["sources"]
SOURCE_TABLES = [(s["name"], t["name"]) for s in SOURCES for t in s["tables"]]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return project_definitions(REPO / "pipelines.yaml")


@pytest.fixture(scope="module")
def graph(defs: dg.Definitions) -> Any:
    return defs.resolve_asset_graph()


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    import json

    return json.loads(prepared_project(REPO / "dbt_project").manifest_path.read_text())


@pytest.mark.parametrize(("source", "table"), SOURCE_TABLES, ids=[f"{s}.{t}" for s, t in SOURCE_TABLES])
def test_each_dbt_source_is_the_pg_assets_asset_that_loads_it(source: str, table: str, graph: Any,
                                                              manifest: dict[str, Any]) -> None:
    unique_id = f"source.{manifest['metadata']['project_name']}.{source}.{table}"
    key = TRANSLATOR.get_asset_spec(manifest, unique_id, None).key
    node = graph.get(key)
    assert node.is_materializable and node.assets_def.op.name.startswith("load_"), key
    # A child table resolves to its root, whose asset loads it; a root table to itself.
    assert key == dg.AssetKey([source, table.split("__")[0]])


def test_no_unresolved_source_assets(graph: Any) -> None:
    stubs = [k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).is_materializable]
    assert stubs == []


@pytest.mark.parametrize(("model", "parents"), [
    ("staging/stg_shop__order_items", {"raw_shop/orders"}),  # the child table orders__items
    ("staging/stg_shop__product_tags", {"raw_shop/products"}),  # the child table products__tags
    ("staging/stg_events__page_views", {"events/page_views"}),
    ("analytics/customer_summary", {"staging/stg_shop__customers", "staging/stg_shop__orders",
                                    "staging/stg_shop__order_items", "staging/stg_events__page_views"}),
], ids=["child_table", "list_of_strings", "python_source", "mart"])
def test_models_depend_on_what_they_read(model: str, parents: set[str], graph: Any) -> None:
    node = graph.get(dg.AssetKey.from_user_string(model))
    assert {p.to_user_string() for p in node.parent_keys} == parents


def test_dbt_tests_are_asset_checks(graph: Any) -> None:
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("staging/stg_shop__orders", "accepted_values_stg_shop__orders_status__placed__shipped__delivered__cancelled"
            ) in checks
    assert ("analytics/customer_summary", "unique_customer_summary_customer_id") in checks


def test_dbt_shares_the_pool_of_the_loads(defs: dg.Definitions) -> None:
    pools = {a.op.name: a.op.pool for a in defs.assets if isinstance(a, dg.AssetsDefinition)}
    assert pools[OP_NAME] == pools["load_shop"] and pools[OP_NAME]


def test_groups_and_table_names(graph: Any) -> None:
    mart = graph.get(dg.AssetKey(["analytics", "customer_summary"]))
    assert mart.group_name == "marts"
    assert mart.metadata["dagster/table_name"].endswith(".analytics.customer_summary")
    assert graph.get(dg.AssetKey(["staging", "stg_shop__orders"])).group_name == "staging"


def test_dbt_runs_the_executable_next_to_python(defs: dg.Definitions) -> None:
    resource = defs.resources[DBT_RESOURCE_KEY]
    assert Path(resource.dbt_executable).parent == Path(sys.executable).parent


def test_materialize_names_the_sources_when_an_excluded_one_is_unknown() -> None:
    from pg_assets.dagster.materialize import _keys_of_sources
    from pg_assets.errors import ConfigError
    from pg_assets.spec import load_spec

    spec = load_spec(REPO / "pipelines.yaml")
    assert dg.AssetKey(["chess_data", "players_games"]) in _keys_of_sources(spec, ["chess"])
    with pytest.raises(ConfigError, match="no source `chees`.*`shop`, `events`, `chess`"):
        _keys_of_sources(spec, ["chees"])


def test_report_never_prints_a_password() -> None:
    from pg_assets.connection import ConnectionConfig
    from pg_assets.dagster.materialize import Outcome, report

    config = ConnectionConfig(database="dw", username="loader", password="s3cr3t-pw", host="db.internal")
    outcome = Outcome(success=True, seconds=1.0, tables={"analytics.customer_summary": 200}, checks_passed=3,
                      checks_failed=(), warned=(), failed_steps=(), destination=config)
    text = report(outcome)
    assert "s3cr3t-pw" not in text
    uri = "postgresql://loader@db.internal:5432/dw"
    assert f"psql '{uri}' -c 'select * from analytics.customer_summary limit 5'" in text
    assert "PGPASSWORD" in text


@pytest.mark.parametrize(("argv", "parses"), [
    (["dagster", "api", "execute_step", "{}"], False),  # a step process: the code server parsed already
    (["dagster", "api", "grpc", "--lazy-load-user-code"], True),  # the code server loading definitions
], ids=["step-process", "code-server"])
def test_under_dagster_dev_only_the_code_server_parses(monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                                       parses: bool) -> None:
    manifest = prepared_project(REPO / "dbt_project").manifest_path  # fresh: nothing else would parse
    before = manifest.stat().st_mtime_ns
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    monkeypatch.setattr(sys, "argv", argv)
    prepared_project(REPO / "dbt_project")
    assert (manifest.stat().st_mtime_ns != before) is parses


@pytest.mark.parametrize(("exclude", "name"), [
    ((), "materialize_all"),
    (("chess",), "materialize_all_except_chess"),
    (("chess", "my-api"), "materialize_all_except_chess_my_api"),
], ids=["all", "one_excluded", "not_an_identifier"])
def test_a_cli_run_is_a_job_named_after_what_it_ran(exclude: tuple[str, ...], name: str) -> None:
    from pg_assets.dagster.materialize import run_name

    assert run_name(exclude) == name
    dg.define_asset_job(run_name(exclude), selection=dg.AssetSelection.all())  # Dagster accepts the name
