"""Views owned by other roles through a `staging-optimized` replace, on Debian's PostgreSQL over TCP.

dbt runs as its own role and grants its models to readers; the loading role is a member of the
dbt role (as `GRANT dbt TO loader`). After the swap every view has the same owner, privileges and
comments, the swapped tables the same privileges, and the reader still reads the models, now over
the new rows. A view whose owner the loading role cannot act for refuses the load before staging.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest

import pg_assets
import pg_server
from pg_assets.connection import ConnectionConfig

SWAP = {"disposition": "replace", "strategy": "staging-optimized"}
READER_PASSWORD = "Reader-Pw:1"


@pytest.fixture
def admin(tcp_server: pg_server.Server) -> Iterator[Callable[..., list[tuple]]]:
    """Statements as the superuser in the `faults` database (over the server's socket)."""
    conn = psycopg2.connect(host=str(tcp_server.home), port=tcp_server.port, user="admin", dbname=pg_server.DATABASE)
    conn.autocommit = True

    def run(statement: str, params: Any = None) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description is not None else []

    try:
        yield run
    finally:
        conn.close()


@pytest.fixture
def names(admin: Callable[..., list[tuple]]) -> Iterator[dict[str, str]]:
    """A dataset, a dbt schema and roles of this test's own; all dropped afterwards."""
    tag = secrets.token_hex(3)
    n = {"ds": f"shop_{tag}", "dbt_schema": f"analytics_{tag}", "dbt": f"dbt_{tag}", "reader": f"reader_{tag}",
         "outsider": f"outsider_{tag}"}
    admin(f'CREATE ROLE "{n["dbt"]}" NOLOGIN')
    admin(f'CREATE ROLE "{n["outsider"]}" NOLOGIN')
    admin(f'CREATE ROLE "{n["reader"]}" LOGIN PASSWORD %s', (READER_PASSWORD,))
    admin(f'GRANT "{n["dbt"]}" TO {pg_server.USER}')
    try:
        yield n
    finally:
        for schema in (n["ds"], f'{n["ds"]}_staging', n["dbt_schema"]):
            admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        for role in (n["dbt"], n["outsider"], n["reader"]):
            admin(f'DROP OWNED BY "{role}" CASCADE')
            admin(f'DROP ROLE "{role}"')


def orders(tag: str, n: int) -> list[dict[str, Any]]:
    return [{"id": i, "status": f"{tag}{i}", "items": [{"sku": f"{tag}{i}-{k}", "qty": k + 1} for k in range(2)]}
            for i in range(n)]


def relations(admin: Callable[..., list[tuple]], *schemas: str) -> list[tuple]:
    """Each relation's kind, owner, privileges, comment and (for views) definition."""
    return admin(
        "SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner), "
        "ARRAY(SELECT x::text FROM unnest(c.relacl) x ORDER BY 1), obj_description(c.oid, 'pg_class'), "
        "CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm') ORDER BY 1, 2", (list(schemas),))


def make_models(admin: Callable[..., list[tuple]], n: dict[str, str]) -> None:
    """What a dbt project running as role `dbt` makes: views and a materialized view, granted to a reader."""
    ds, a, dbt, reader = n["ds"], n["dbt_schema"], n["dbt"], n["reader"]
    admin(f'GRANT USAGE ON SCHEMA "{ds}" TO "{dbt}"')
    admin(f'GRANT SELECT ON "{ds}".orders, "{ds}".orders__items TO "{dbt}"')
    admin(f'GRANT USAGE ON SCHEMA "{ds}" TO "{reader}"')
    admin(f'GRANT SELECT ON "{ds}".orders TO "{reader}"')
    admin(f'COMMENT ON TABLE "{ds}".orders IS %s', ("raw orders, loaded by pg_assets",))
    admin(f'CREATE SCHEMA "{a}" AUTHORIZATION "{dbt}"')
    admin(f'GRANT USAGE ON SCHEMA "{a}" TO "{reader}"')
    admin(f'SET ROLE "{dbt}"')
    try:
        admin(f'CREATE VIEW "{a}".stg_items AS SELECT sku, qty, _dlt_parent_id FROM "{ds}".orders__items')
        admin(f'CREATE VIEW "{a}".order_totals AS SELECT o.id, o.status, sum(i.qty) AS qty FROM "{ds}".orders o '
              f'JOIN "{a}".stg_items i ON i._dlt_parent_id = o._dlt_id GROUP BY o.id, o.status')
        admin(f'CREATE MATERIALIZED VIEW "{a}".busy AS SELECT id FROM "{a}".order_totals WHERE qty > 2')
        admin(f'CREATE INDEX busy_id ON "{a}".busy (id)')
        admin(f'GRANT SELECT ON "{a}".order_totals TO "{reader}"')
        admin(f'GRANT SELECT ON "{a}".busy TO "{reader}" WITH GRANT OPTION')
        admin(f'REVOKE TRUNCATE ON "{a}".order_totals FROM "{dbt}"')
        admin(f'COMMENT ON VIEW "{a}".order_totals IS %s', ("one row per order",))
    finally:
        admin("RESET ROLE")


def as_reader(tcp_server: pg_server.Server, reader: str, statement: str) -> list[tuple]:
    config = ConnectionConfig(pg_server.DATABASE, reader, READER_PASSWORD, "127.0.0.1", port=tcp_server.port)
    conn = config.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def test_models_of_another_role_keep_owner_privileges_and_comments_through_the_swap(tcp_server, admin, names):
    p = pg_assets.pipeline("shop", dataset=names["ds"], credentials=tcp_server.config)
    p.run(orders("a", 2), table_name="orders", write_disposition=SWAP)
    make_models(admin, names)
    before = relations(admin, names["ds"], names["dbt_schema"])
    p.run(orders("b", 3), table_name="orders", write_disposition=SWAP)
    assert relations(admin, names["ds"], names["dbt_schema"]) == before
    a = names["dbt_schema"]
    assert as_reader(tcp_server, names["reader"], f'SELECT id, status, qty FROM "{a}".order_totals ORDER BY id') \
        == [(i, f"b{i}", 3) for i in range(3)]
    assert as_reader(tcp_server, names["reader"], f'SELECT id FROM "{a}".busy ORDER BY id') == [(0,), (1,), (2,)]
    assert as_reader(tcp_server, names["reader"], f'SELECT count(*) FROM "{names["ds"]}".orders') == [(3,)]


def test_a_view_whose_owner_the_loading_role_cannot_act_for_refuses_before_staging(tcp_server, admin, names):
    ds = names["ds"]
    p = pg_assets.pipeline("shop", dataset=ds, credentials=tcp_server.config)
    p.run(orders("a", 2), table_name="orders", write_disposition=SWAP)
    admin(f'CREATE VIEW "{ds}".odd AS SELECT id FROM "{ds}".orders')
    admin(f'ALTER VIEW "{ds}".odd OWNER TO "{names["outsider"]}"')
    with pytest.raises(pg_assets.DependentObjectsError, match=f"owned by `{names['outsider']}`.*GRANT"):
        p.run(orders("b", 3), table_name="orders", write_disposition=SWAP)
    assert admin(f'SELECT count(*) FROM "{ds}".orders') == [(2,)]
    assert admin("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (f"{ds}_staging",)) == [(0,)]
