"""End to end: every offline asset of the repository into a fresh database, then the marts, checked.

One fresh database on the session's embedded server holds the whole run: the loads
of `shop` and `events`, then `dbt build`, exactly as `pg-assets materialize --exclude
chess` runs them. The marts are compared with figures computed here, in Python, from
the shipped data files. Then bad data is loaded with the engine and the dbt test on it
must fail as an asset check.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pg_assets.connection import ENV_VAR, ConnectionConfig
from pg_assets.dagster.materialize import Outcome, materialize_project, report

REPO = Path(__file__).resolve().parent.parent
CENT = Decimal("0.01")
NULLS = ("NA", "")


@pytest.fixture(scope="module")
def fresh_db(pg_credentials: ConnectionConfig) -> Iterator[ConnectionConfig]:
    """A new database on the session's own server; every load and dbt resolve to it through the env var.

    A fixed name, as the server is new in every session: dbt's manifest for it
    (`target/<database>/`) then survives from one session to the next.
    """
    name = "dbt_e2e"
    admin = pg_credentials.connect()
    admin.autocommit = True
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    config = replace(pg_credentials, database=name)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(ENV_VAR, config.uri())
            yield config
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def built(fresh_db: ConnectionConfig) -> Outcome:
    return materialize_project(REPO / "pipelines.yaml", exclude=["chess"])


def _rows(config: ConnectionConfig, sql: str) -> list[tuple]:
    conn = config.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


# --- expected figures, from the shipped files ---------------------------------------------------------------------

def _orders() -> list[dict[str, Any]]:
    files = sorted((REPO / "data" / "shop" / "orders").glob("*.jsonl.gz"))
    return [json.loads(line) for path in files for line in gzip.open(path, "rt", encoding="utf-8")]


def _page_views() -> list[dict[str, Any]]:
    sys.path.insert(0, str(REPO))
    try:
        from examples.sources import page_views
    finally:
        sys.path.remove(str(REPO))
    return [view for page in page_views(days=3) for view in page]  # the args pipelines.yaml gives


def _line_amount(item: dict[str, Any]) -> Decimal:
    return (Decimal(str(item["unit_price"])) * item["quantity"]).quantize(CENT)


def expected_customer_summary() -> dict[int, tuple]:
    with open(REPO / "data" / "shop" / "customers.csv", newline="", encoding="utf-8") as handle:
        customers = {int(row["id"]): row for row in csv.DictReader(handle)}
    counts, items, revenue = Counter(), Counter(), defaultdict(Decimal)
    for order in _orders():
        if order["status"] == "cancelled":
            continue
        counts[order["customer_id"]] += 1
        items[order["customer_id"]] += sum(i["quantity"] for i in order["items"])
        revenue[order["customer_id"]] += sum(_line_amount(i) for i in order["items"])
    views = Counter(v["customer_id"] for v in _page_views() if v["customer_id"] is not None)
    return {
        cid: (_text(row["name"]), _text(row["country"]), counts[cid], items[cid], revenue[cid], views[cid])
        for cid, row in customers.items()
    }


def _text(value: str) -> str | None:
    return None if value in NULLS else value  # the `null_values` pipelines.yaml gives the CSV


def expected_product_sales() -> dict[str, tuple]:
    products = json.loads((REPO / "data" / "shop" / "products.json").read_text(encoding="utf-8"))["products"]
    units, revenue = Counter(), defaultdict(Decimal)
    for order in _orders():
        if order["status"] != "cancelled":
            for item in order["items"]:
                units[item["sku"]] += item["quantity"]
                revenue[item["sku"]] += _line_amount(item)
    return {p["sku"]: (p["category"], ", ".join(p.get("tags") or []) or None, units[p["sku"]], revenue[p["sku"]])
            for p in products}


# --- the run ----------------------------------------------------------------------------------------------------

def test_everything_materializes_and_every_check_passes(built: Outcome) -> None:
    assert built.success, built.failed_steps
    assert built.checks_failed == () and built.checks_passed > 30
    assert built.tables["raw_shop.orders"] == 2000
    assert built.tables["analytics.customer_summary"] == 200


def test_customer_summary_rows(built: Outcome, fresh_db: ConnectionConfig) -> None:
    rows = _rows(fresh_db, "SELECT customer_id, customer_name, country, order_count, items_bought, revenue, page_views "
                           "FROM analytics.customer_summary")
    assert {r[0]: tuple(r[1:]) for r in rows} == expected_customer_summary()


def test_product_sales_rows(built: Outcome, fresh_db: ConnectionConfig) -> None:
    rows = _rows(fresh_db, "SELECT sku, category, tags, units_sold, revenue FROM analytics.product_sales")
    assert {r[0]: tuple(r[1:]) for r in rows} == expected_product_sales()


def test_dbt_materializations_carry_row_counts_and_columns(built: Outcome) -> None:
    events = {e.asset_key.to_user_string(): e.materialization for e in built.result.get_asset_materialization_events()}
    mart = events["analytics/customer_summary"].metadata
    assert mart["dagster/row_count"].value == 200
    columns = [c.name for c in mart["dagster/column_schema"].schema.columns]
    assert columns[:3] == ["customer_id", "customer_name", "country"]


def test_report_says_where_the_data_is(built: Outcome, fresh_db: ConnectionConfig) -> None:
    text = report(built)
    assert f"psql '{fresh_db.uri()}'" in text
    assert "select * from analytics." in text


def test_a_failing_dbt_test_on_bad_loaded_data_is_a_failed_check(built: Outcome, fresh_db: ConnectionConfig) -> None:
    from pg_assets import runner
    from pg_assets.dagster.project import project_definitions
    from pg_assets.spec import load_spec

    # An order in a status the shop does not have, loaded by the engine like any other.
    bad = {"id": 999_001, "customer_id": 1, "ordered_at": "2024-05-01T10:00:00Z", "status": "lost",
           "shipping": {"city": "Lyon", "country": "FR"},
           "items": [{"sku": "SKU-001", "quantity": 1, "unit_price": 1.5}]}
    spec = load_spec(REPO / "pipelines.yaml")
    runner.pipeline_for(spec, "shop").run([bad], table_name="orders", write_disposition="merge", primary_key="id")

    defs = project_definitions(REPO / "pipelines.yaml")
    orders = dg.AssetKey(["staging", "stg_shop__orders"])
    result = dg.materialize(list(defs.assets), selection=[orders], resources=defs.resources, raise_on_error=False)

    failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    name = "accepted_values_stg_shop__orders_status__placed__shipped__delivered__cancelled"
    assert set(failed) == {name}
    assert failed[name].asset_key == orders and failed[name].severity == dg.AssetCheckSeverity.ERROR
    assert not result.success  # dbt build exits non-zero on a failed test, so the step fails too


def test_dbt_build_keeps_the_partial_parse_of_the_prepared_project(built: Outcome) -> None:
    # dagster-dbt gives each build its own target folder; the prepared project's partial parse,
    # parsed with the run's profile, is seeded into it, so dbt parses nothing again.
    run_id = built.result.run_id
    (folder,) = (REPO / "dbt_project" / "target").glob(f"dbt_build-{run_id[:8]}-*")
    log = (folder / "dbt.log").read_text(encoding="utf-8")
    assert "Partial parsing enabled" in log and "Unable to do partial parsing" not in log


def test_dbt_models_carry_dagster_dbts_column_schema_and_lineage(built: Outcome) -> None:
    events = {e.asset_key: e.materialization for e in built.result.get_asset_materialization_events()}
    staging = events[dg.AssetKey(["staging", "stg_shop__orders"])].metadata
    lineage = staging["dagster/column_lineage"].value
    upstream = {dep.asset_key for deps in lineage.deps_by_column.values() for dep in deps}
    assert upstream == {dg.AssetKey(["raw_shop", "orders"])}
    assert {c.name for c in staging["dagster/column_schema"].value.columns} >= {"order_id"}
    assert isinstance(staging["dagster/row_count"].value, int)


def test_column_lineage_follows_the_keys_a_translator_gives(built: Outcome) -> None:
    from pg_assets.dagster import PgAssetsTranslator
    from pg_assets.dagster.project import project_definitions

    class Warehouse(PgAssetsTranslator):
        def get_asset_spec(self, props: Any) -> dg.AssetSpec:
            spec = super().get_asset_spec(props)
            return spec.replace_attributes(key=spec.key.with_prefix("warehouse"))

    defs = project_definitions(REPO / "pipelines.yaml", translator=Warehouse())
    model = dg.AssetKey(["staging", "stg_shop__orders"])
    # Not raising: a test before this one may have loaded rows that fail the model's dbt tests.
    result = dg.materialize(list(defs.assets), selection=[model], resources=defs.resources, raise_on_error=False)
    (event,) = [e.materialization for e in result.get_asset_materialization_events() if e.asset_key == model]
    lineage = event.metadata["dagster/column_lineage"].value
    assert {d.asset_key for deps in lineage.deps_by_column.values() for d in deps} == {
        dg.AssetKey(["warehouse", "raw_shop", "orders"])}
