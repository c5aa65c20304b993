"""Least-privilege roles on a real server: what loads, what is refused before staging, and the GRANTs that fix it.

The roles are made by `cluster.py`: nobody has the database's `CREATE` or `TEMP`.
"""

from __future__ import annotations

import pytest

from pg_assets import LoadError, PrivilegeError, TerminalLoadError, UnsuitableDestinationError, pipeline, resource
from pg_assets.load.privileges import DISPOSITION_PRIVILEGES, Need, Present, load_needs
from pg_assets.table_plan import plan_resource

DISPOSITIONS = {
    "append": "append",
    "truncate-and-insert": {"disposition": "replace", "strategy": "truncate-and-insert"},
    "insert-from-staging": {"disposition": "replace", "strategy": "insert-from-staging"},
    "staging-optimized": {"disposition": "replace", "strategy": "staging-optimized"},
    "delete-insert": {"disposition": "merge", "strategy": "delete-insert"},
    "delete-insert-merge-key": {"disposition": "merge", "strategy": "delete-insert"},
    "upsert": {"disposition": "merge", "strategy": "upsert"},
    "insert-only": {"disposition": "merge", "strategy": "insert-only"},
    "scd2": {"disposition": "merge", "strategy": "scd2"},
}
# a role and the dataset it may write: a schema owner, and a role granted USAGE, CREATE on schemas it does not own
WRITERS = {"owner": "own", "granted": "grant"}


def _rows(version: int) -> list[dict]:
    return [{"id": i, "v": version, "tags": [f"t{i}", f"u{version}"]} for i in range(1, 4)]


def _load(cluster, role: str, dataset: str, name: str, version: int, disposition, **config) -> None:
    keys = {"merge_key": "id"} if name.endswith("merge-key") else {"primary_key": "id"}
    p = pipeline(f"p_{name}", dataset=dataset, credentials=cluster.config(role, **config), workers=2)
    p.run(resource(_rows(version), name=f"t_{name}".replace("-", "_"), write_disposition=disposition, **keys))


@pytest.mark.parametrize("role", list(WRITERS))
@pytest.mark.parametrize("name", list(DISPOSITIONS))
def test_a_role_without_database_create_or_temp_loads_every_disposition(cluster, role: str, name: str) -> None:
    assert cluster.admin(f"SELECT has_database_privilege('{role}', 'rel', 'CREATE'), "
                         f"has_database_privilege('{role}', 'rel', 'TEMP')") == [(False, False)]
    dataset = WRITERS[role]
    for version in (1, 2):  # the first load creates the tables, the second writes into them
        _load(cluster, role, dataset, name, version, DISPOSITIONS[name])
    table = f'"{dataset}".t_{name.replace("-", "_")}'
    current = "WHERE _dlt_valid_to IS NULL" if name == "scd2" else ""
    expected = 6 if name == "append" else 3
    newest = 1 if name == "insert-only" else 2  # insert-only keeps the rows it has
    assert cluster.admin(f"SELECT count(*), max(v) FROM {table} {current}") == [(expected, newest)]
    assert cluster.admin(f"SELECT count(*) FROM {table}__tags") >= [(6,)]
    # the staging schema the role cannot make again stays, holding only dlt's `_dlt_version`,
    # so dlt can use it as its own staging dataset
    assert cluster.admin(f"SELECT tablename FROM pg_tables WHERE schemaname = '{dataset}_staging'") == [
        ("_dlt_version",)]


def test_a_read_only_role_is_refused_before_staging_naming_each_privilege(cluster) -> None:
    cluster.admin("CREATE TABLE own.readable (id bigint)", "ALTER TABLE own.readable OWNER TO owner")
    p = pipeline("p_reader", dataset="own", credentials=cluster.config("reader"))
    with pytest.raises(PrivilegeError) as caught:
        p.run(resource([{"id": 1}], name="readable"))
    err = caught.value
    assert err.role == "reader"
    assert {("USAGE", "schema", "own_staging"), ("CREATE", "schema", "own_staging"),
            ("INSERT", "table", "own.readable")} <= set(err.missing)
    assert 'GRANT USAGE, CREATE ON SCHEMA "own_staging" TO "reader";' in err.grants
    assert 'GRANT INSERT ON TABLE "own"."readable" TO "reader";' in err.grants
    assert "INSERT on table `own.readable`: resource `readable` (append)" in str(err)
    assert "Nothing was staged or written" in str(err) and "docs/privileges.md" in str(err)
    assert cluster.admin("SELECT count(*) FROM own.readable") == [(0,)]


def test_missing_schemas_are_named_and_the_printed_statements_are_enough(cluster) -> None:
    """A role with nothing: the error prints what a DBA runs; run as printed, the load goes through."""
    p = pipeline("p_fresh", dataset="fresh", credentials=cluster.config("nobody_yet"))
    data = resource([{"id": 1, "kids": [{"k": 1}]}], name="items", write_disposition="merge", primary_key="id")
    with pytest.raises(PrivilegeError) as caught:
        p.run(data)
    assert set(caught.value.missing) == {("CREATE", "database", "rel")}
    assert caught.value.grants == ['CREATE SCHEMA IF NOT EXISTS "fresh_staging" AUTHORIZATION "nobody_yet";',
                                   'CREATE SCHEMA IF NOT EXISTS "fresh" AUTHORIZATION "nobody_yet";']
    assert 'GRANT CREATE ON DATABASE "rel" TO "nobody_yet";' in str(caught.value)
    assert cluster.admin("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'fresh%'") == [(0,)]
    cluster.admin(*caught.value.grants)
    p.run(data)
    assert cluster.admin("SELECT count(*) FROM fresh.items__kids") == [(1,)]


def test_a_table_the_role_may_not_write_is_named_with_its_grant(cluster) -> None:
    cluster.admin('CREATE TABLE "grant".admins_table (id bigint, _dlt_load_id text, _dlt_id text)')
    p = pipeline("p_foreign", dataset="grant", credentials=cluster.config("granted"))
    data = resource([{"id": 1}], name="admins_table", write_disposition="merge", primary_key="id")
    with pytest.raises(PrivilegeError) as caught:
        p.run(data)
    assert {("SELECT", "table", "grant.admins_table"), ("DELETE", "table", "grant.admins_table")} <= set(
        caught.value.missing)
    cluster.admin(*caught.value.grants)
    p.run(data)
    assert cluster.admin('SELECT id FROM "grant".admins_table') == [(1,)]


def test_staging_optimized_on_a_table_owned_by_another_role_asks_for_ownership(cluster) -> None:
    cluster.admin('CREATE TABLE "grant".swapped (id bigint)', 'GRANT ALL ON "grant".swapped TO granted')
    p = pipeline("p_swap", dataset="grant", credentials=cluster.config("granted"))
    with pytest.raises(PrivilegeError) as caught:
        p.run(resource([{"id": 1}], name="swapped", write_disposition={"disposition": "replace",
                                                                         "strategy": "staging-optimized"}))
    assert caught.value.missing == [("OWNER", "table", "grant.swapped")]
    assert caught.value.grants == ['ALTER TABLE "grant"."swapped" OWNER TO "granted";']
    assert "`truncate-and-insert` needs only TRUNCATE and INSERT" in str(caught.value)
    cluster.admin(*caught.value.grants)
    p.run(resource([{"id": 2}], name="swapped", write_disposition={"disposition": "replace",
                                                                     "strategy": "staging-optimized"}))
    assert cluster.admin('SELECT id FROM "grant".swapped') == [(2,)]


def test_a_new_column_on_another_roles_table_fails_at_the_commit_naming_the_owner(cluster) -> None:
    """What the start-up check cannot know (the data brings a new column) the server finds at the commit."""
    cluster.admin('CREATE TABLE "grant".not_mine (id bigint, _dlt_load_id text, _dlt_id text)',
                  'GRANT INSERT ON "grant".not_mine TO granted')
    p = pipeline("p_not_mine", dataset="grant", credentials=cluster.config("granted"))
    with pytest.raises(TerminalLoadError) as caught:
        p.run(resource([{"id": 1, "extra": "x"}], name="not_mine"))
    assert "must be owner of table not_mine" in str(caught.value)
    assert "Only a table's owner may add its columns" in str(caught.value)
    assert cluster.admin('SELECT count(*) FROM "grant".not_mine') == [(0,)]


@pytest.mark.parametrize("key", list(DISPOSITION_PRIVILEGES), ids=[f"{d}-{s}" for d, s in DISPOSITION_PRIVILEGES])
def test_an_existing_table_and_its_children_need_their_dispositions_privileges(key) -> None:
    disposition, strategy = key
    write = disposition if strategy is None else {"disposition": disposition, "strategy": strategy}
    plan = plan_resource(resource([], name="t", write_disposition=write, primary_key="id"), "truncate-and-insert")
    present = Present(frozenset({"ds", "ds_staging"}), frozenset({"t", "_dlt_loads"}), {"t": ("t__kids",)})
    needs = load_needs("db", "ds", "ds_staging", [plan], present)
    on = {(n.table, n.privilege) for n in needs if n.kind == "table"}
    assert on == {("_dlt_loads", "SELECT"), ("_dlt_loads", "INSERT")} | {
        (t, p) for t in ("t", "t__kids") for p in DISPOSITION_PRIVILEGES[key]}
    # the system tables are missing, so the dataset schema needs CREATE; staging always does
    assert Need("schema", "ds", "CREATE", "to create new tables in it") in needs
    assert Need("schema", "ds_staging", "CREATE", "to create this load's staging tables in it") in needs


def test_a_role_statement_timeout_names_the_statement_the_setting_and_the_fix(cluster) -> None:
    data = resource([{"id": 1}, {"id": 2}], name="events")
    p = pipeline("p_slow", dataset="slow", credentials=cluster.config("slow"))
    with pytest.raises(TerminalLoadError) as caught:
        p.run(data)
    message = str(caught.value)
    assert caught.value.table == "events"
    assert 'statement: INSERT INTO "slow"."events"' in message
    assert "`statement_timeout` = 300ms" in message and "?options=-c%20statement_timeout%3D0" in message
    assert cluster.admin("SELECT count(*) FROM slow.events") == [(0,)]
    more = pipeline("p_slow", dataset="slow", credentials=cluster.config("slow", options="-c statement_timeout=0"))
    more.run(data)
    assert cluster.admin("SELECT count(*) FROM slow.events") == [(2,)]


def test_a_read_only_default_transaction_is_refused_at_the_start(cluster) -> None:
    data = resource([{"id": 1}], name="t")
    p = pipeline("p_rod", dataset="rod", credentials=cluster.config("ro_default"))
    with pytest.raises(UnsuitableDestinationError) as caught:
        p.run(data)
    assert caught.value.reason == "read_only"
    assert "default_transaction_read_only = on" in str(caught.value)
    assert 'ALTER ROLE "ro_default" SET default_transaction_read_only = off' in str(caught.value)
    # the way out the message names works
    writable = cluster.config("ro_default", options="-c default_transaction_read_only=off")
    pipeline("p_rod", dataset="rod", credentials=writable).run(data)
    assert cluster.admin("SELECT count(*) FROM rod.t") == [(1,)]


def test_a_hot_standby_is_refused_at_the_start(cluster, standby_port: int) -> None:
    p = pipeline("p_standby", dataset="own", credentials=cluster.config("owner", port=standby_port))
    with pytest.raises(UnsuitableDestinationError) as caught:
        p.run(resource([{"id": 1}], name="never"))
    assert caught.value.reason == "hot_standby"
    assert "pg_is_in_recovery()" in str(caught.value) and "target_session_attrs=read-write" in str(caught.value)
    assert not isinstance(caught.value, LoadError)
