"""Views through a `staging-optimized` replace: dbt-like views over root and child tables survive the swap.

The swap drops the old tables; the views over them (views on views, materialized views with
their indexes) are created again in the same transaction with the same definition, options,
comments, owner and privileges, and read the new rows. What cannot be created again (a rule, a
trigger, a foreign key from another table, a function taking the table's row type) refuses the
load before anything is staged, naming it. Owners and grants need a second role: those tests run
on Debian's PostgreSQL over TCP (`tests/faults/test_views_roles.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import pytest

import pg_assets

Query = Callable[..., list[tuple]]
SWAP = {"disposition": "replace", "strategy": "staging-optimized"}


def orders(tag: str, n: int) -> list[dict[str, Any]]:
    return [{"id": i, "status": f"{tag}{i}", "items": [{"sku": f"{tag}-{i}-{k}", "qty": k} for k in range(2)]}
            for i in range(n)]


def views_state(query: Query, dataset: str) -> list[tuple]:
    """What defines each view of `dataset`: kind, definition, owner, privileges, options, comments, indexes."""
    return query(
        "SELECT c.relname, c.relkind, pg_get_viewdef(c.oid), pg_get_userbyid(c.relowner), "
        "ARRAY(SELECT x::text FROM unnest(c.relacl) x ORDER BY 1), c.reloptions, c.relispopulated, "
        "obj_description(c.oid, 'pg_class'), ARRAY(SELECT coalesce(col_description(c.oid, a.attnum), '') "
        "FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 ORDER BY a.attnum), "
        "ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = c.oid ORDER BY 1) "
        "FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('v', 'm') ORDER BY 1",
        (dataset,))


def make_views(query: Query, dataset: str) -> None:
    """A dbt-like stack: a staging view per table, a mart joining them, a view on the child table only,
    a materialized view with an index, comments and options."""
    d = f'"{dataset}"'
    query(f"CREATE VIEW {d}.stg_orders AS SELECT * FROM {d}.orders")
    query(f"CREATE VIEW {d}.stg_items WITH (security_barrier = true) AS SELECT sku, qty, _dlt_parent_id "
          f"FROM {d}.orders__items WHERE qty >= 0")
    query(f"CREATE VIEW {d}.order_totals AS SELECT o.id, o.status, sum(i.qty) AS qty FROM {d}.stg_orders o "
          f"JOIN {d}.stg_items i ON i._dlt_parent_id = o._dlt_id GROUP BY o.id, o.status")
    query(f"CREATE MATERIALIZED VIEW {d}.big_orders AS SELECT id, qty FROM {d}.order_totals WHERE qty > 0")
    query(f"CREATE UNIQUE INDEX big_orders_id ON {d}.big_orders (id)")
    query(f"CREATE MATERIALIZED VIEW {d}.sku_count AS SELECT count(*) AS n FROM {d}.orders__items WITH NO DATA")
    query(f"COMMENT ON VIEW {d}.order_totals IS 'the mart; it''s dbt''s'")
    query(f"COMMENT ON COLUMN {d}.order_totals.qty IS 'items ordered'")
    query(f"COMMENT ON MATERIALIZED VIEW {d}.big_orders IS 'orders with items'")


def test_views_over_root_and_child_tables_survive_the_swap(dataset: str, query: Query) -> None:
    p = pg_assets.pipeline("views", dataset=dataset)
    p.run(orders("a", 3), table_name="orders", write_disposition=SWAP)
    make_views(query, dataset)
    before = views_state(query, dataset)
    old_oid = query(f"SELECT '\"{dataset}\".orders'::regclass::oid")
    p.run(orders("b", 4), table_name="orders", write_disposition=SWAP)
    assert query(f"SELECT '\"{dataset}\".orders'::regclass::oid") != old_oid  # the table was swapped
    assert views_state(query, dataset) == before
    d = f'"{dataset}"'
    assert query(f"SELECT id, status, qty FROM {d}.order_totals ORDER BY id") == [
        (i, f"b{i}", 1) for i in range(4)]
    assert query(f"SELECT id FROM {d}.big_orders ORDER BY id") == [(i,) for i in range(4)]  # filled anew
    with pytest.raises(psycopg2.errors.ObjectNotInPrerequisiteState):
        query(f"SELECT * FROM {d}.sku_count")  # WITH NO DATA stays so


def test_a_view_keeps_its_column_list_when_a_load_adds_a_column(dataset: str, query: Query) -> None:
    """As in Postgres itself: `SELECT *` was expanded when the view was made; dbt's next run widens it."""
    p = pg_assets.pipeline("widen", dataset=dataset)
    p.run([{"id": 1}], table_name="t", write_disposition=SWAP)
    query(f'CREATE VIEW "{dataset}".v AS SELECT * FROM "{dataset}".t')
    p.run([{"id": 2, "extra": "x"}], table_name="t", write_disposition=SWAP)
    assert query(f'SELECT * FROM "{dataset}".v') == [(2, *query(f'SELECT _dlt_load_id, _dlt_id FROM "{dataset}".t')[0])]
    assert query(f'SELECT extra FROM "{dataset}".t') == [("x",)]


@pytest.mark.parametrize(("make", "named"), [
    ('CREATE RULE no_delete AS ON DELETE TO {d}.t DO INSTEAD NOTHING', "rule no_delete on table"),
    ("CREATE FUNCTION {d}.label(r {d}.t) RETURNS text LANGUAGE sql AS $$ SELECT r._dlt_id $$", "function"),
    ("CREATE TABLE {d}.refs (id varchar REFERENCES {d}.t (_dlt_id))", "constraint refs_id_fkey on table"),
    ("CREATE VIEW {d}.v AS SELECT * FROM {d}.t; CREATE RULE keep AS ON INSERT TO {d}.v DO INSTEAD NOTHING",
     "rule keep on view"),
    ("CREATE FUNCTION {d}.f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; "
     "CREATE TRIGGER touch BEFORE INSERT ON {d}.t FOR EACH ROW EXECUTE FUNCTION {d}.f()", "trigger touch on table"),
], ids=["rule-on-table", "function-of-row-type", "foreign-key", "rule-on-view", "trigger"])
def test_what_a_swap_cannot_recreate_refuses_the_load_before_staging(make: str, named: str, dataset: str,
                                                                    query: Query) -> None:
    p = pg_assets.pipeline("blocked", dataset=dataset)
    p.run([{"id": 1}], table_name="t", write_disposition=SWAP)
    query(make.format(d=f'"{dataset}"'))
    with pytest.raises(pg_assets.DependentObjectsError, match=named) as caught:
        p.run([{"id": 2}], table_name="t", write_disposition=SWAP)
    assert "truncate-and-insert" in str(caught.value) and "Nothing was loaded" in str(caught.value)
    assert query(f'SELECT id FROM "{dataset}".t') == [(1,)]
    assert query(f"SELECT count(*) FROM pg_tables WHERE schemaname = '{dataset}_staging'") == [(0,)]


# ---- real dbt: views and a materialized view made by `dbt run`, through the swap --------------------


DBT_MODELS = {
    "stg_orders.sql": "{{ config(materialized='view') }} select id, status, _dlt_id "
                      "from {{ source('shop', 'orders') }}",
    "stg_items.sql": "{{ config(materialized='view') }} select sku, qty, _dlt_parent_id "
                     "from {{ source('shop', 'orders__items') }}",
    "order_totals.sql": "{{ config(materialized='view') }} select o.id, o.status, sum(i.qty) as qty "
                        "from {{ ref('stg_orders') }} o join {{ ref('stg_items') }} i on i._dlt_parent_id = o._dlt_id "
                        "group by o.id, o.status",
    "busy.sql": "{{ config(materialized='materialized_view') }} select id from {{ ref('order_totals') }} "
                "where qty > 0",
}


def dbt_project(root: Path, dataset: str, config: Any) -> Path:
    """A dbt project over the `orders` source of `dataset`, with descriptions persisted as comments."""
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: swap\nversion: '1.0'\nprofile: swap\nmodels:\n  swap:\n    +persist_docs: {relation: true, "
        "columns: true}\n")
    (root / "profiles.yml").write_text(
        f"swap:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: '{config.host}'\n"
        f"      port: {config.port}\n      user: '{config.username}'\n      password: ''\n"
        f"      dbname: '{config.database}'\n      schema: '{dataset}_dbt'\n      threads: 1\n")
    (root / "models" / "schema.yml").write_text(
        f"version: 2\nsources:\n  - name: shop\n    schema: '{dataset}'\n    tables: [{{name: orders}}, "
        "{name: orders__items}]\nmodels:\n  - name: order_totals\n    description: one row per order\n"
        "    columns: [{name: qty, description: items ordered}]\n")
    for name, text in DBT_MODELS.items():
        (root / "models" / name).write_text(text)
    return root


def dbt_run(project: Path) -> None:
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - dbt is imported by the dbt tests only

    result = dbtRunner().invoke(["run", "--project-dir", str(project), "--profiles-dir", str(project), "--quiet"])
    assert result.success, result.exception


def test_dbt_views_and_materialized_view_survive_the_swap(dataset: str, query: Query, pg_credentials: Any,
                                                          tmp_path: Path) -> None:
    p = pg_assets.pipeline("dbt_swap", dataset=dataset)
    p.run(orders("a", 3), table_name="orders", write_disposition=SWAP)
    project = dbt_project(tmp_path / "dbt", dataset, pg_credentials)
    try:
        dbt_run(project)
        before = views_state(query, f"{dataset}_dbt")
        assert [(name, kind, comment) for name, kind, _, _, _, _, _, comment, *_ in before] == [
            ("busy", "m", None), ("order_totals", "v", "one row per order"), ("stg_items", "v", None),
            ("stg_orders", "v", None)]
        p.run(orders("b", 4), table_name="orders", write_disposition=SWAP)
        assert views_state(query, f"{dataset}_dbt") == before
        models = f'"{dataset}_dbt"'
        assert query(f"SELECT id, status, qty FROM {models}.order_totals ORDER BY id") == [
            (i, f"b{i}", 1) for i in range(4)]
        assert query(f"SELECT id FROM {models}.busy ORDER BY id") == [(i,) for i in range(4)]
    finally:
        query(f'DROP SCHEMA IF EXISTS "{dataset}_dbt" CASCADE')
