"""The locks a commit takes, so that writers sharing a dataset never harm each other.

Each commit transaction starts by taking transaction-scoped advisory locks, always in
one order (the dataset's, then the tables' by key), and only then reads the catalog
again and builds its SQL. So every commit sees the rows and tables of the commits
before it, and two pg_assets commits can never deadlock on these locks:

| lock | mode | taken when |
|---|---|---|
| `(dataset)` | exclusive | the dataset or one of its `_dlt_*` tables does not exist yet |
| `(dataset, table)` | exclusive | the table is merged or replaced, or this load creates it |
| `(dataset, table)` | shared | rows are appended to an existing table |

Merges and replaces into one table therefore run one after the other, appends run in
parallel with each other, and `CREATE SCHEMA` / `CREATE TABLE` never race. The locks
are released by the COMMIT (or ROLLBACK) itself, so a killed load cannot leave one
behind. Readers take no advisory locks and are never blocked by them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from typing import Any

from pg_assets import sql
from pg_assets.table_plan import TablePlan
from pg_assets.state import lock_keys
from pg_assets.schema import Table, chain


def _key(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(("pg_assets", *parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def dataset_key(dataset: str) -> int:
    """The advisory lock key of a dataset's creation (its schema and `_dlt_*` tables)."""
    return _key("dataset", dataset)


def table_key(dataset: str, table: str) -> int:
    """The advisory lock key of one table."""
    return _key("table", dataset, table)


def commit_locks(dataset: str, plans: Sequence[TablePlan], live: Mapping[str, Table], existing: Iterable[str],
                 *, creates_dataset: bool) -> list[str]:
    """The lock statements a commit runs first, in the one global order."""
    have = set(existing)
    modes: dict[str, bool] = {}  # table -> exclusive
    for plan in plans:
        if plan.root not in live:
            continue
        for name in chain(live, plan.root):
            exclusive = plan.write_disposition != "append" or name not in have
            modes[name] = modes.get(name, False) or exclusive
    out = [sql.advisory_xact_lock(dataset_key(dataset))] if creates_dataset else []
    keyed = sorted((table_key(dataset, name), exclusive) for name, exclusive in modes.items())
    return out + [sql.advisory_xact_lock(key, shared=not exclusive) for key, exclusive in keyed]


def with_staging_schema(conn: Any, schema: str, statements: Sequence[str]) -> None:
    """Run `statements` in `schema`, creating it first when missing, under its creation lock.

    One transaction holds the lock from the existence check to the last statement, so two
    sessions never both insert the schema (one would fail on `pg_namespace_nspname_index`)
    and a run that ends meanwhile never drops it in between (`drop_staging_schema_if_empty`).
    CREATE SCHEMA is sent only when the schema is missing: even with IF NOT EXISTS, Postgres
    checks the database's CREATE privilege, which a role that owns its schemas may lack.
    """
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(sql.advisory_xact_lock(dataset_key(schema)))
            cur.execute(sql.SCHEMA_EXISTS, (schema,))
            if not cur.fetchone()[0]:
                cur.execute(sql.create_schema(schema))
            for statement in statements:
                cur.execute(statement)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit = True


def drop_staging_schema_if_empty(conn: Any, schema: str, dlt_version_ddl: Sequence[str]) -> bool:
    """Drop the staging schema once it holds nothing; True when it was dropped.

    dlt takes any `<dataset>_staging` schema for a staging dataset of its own and looks
    for its `_dlt_version` there (`dlt pipeline ... drop`, `refresh=`), so an empty one
    must not stay behind. Under the schema's creation lock (`with_staging_schema`),
    which every pg_assets load also holds while it creates its batch ledger there: a
    load that is under way has its ledger in the schema, so the schema is not empty
    and stays; one that starts later creates the schema again. A schema dlt made holds
    dlt's tables and is never empty. A role that could not create the schema again (it
    owns a schema a DBA made for it, without the database's CREATE) keeps it, and gets
    dlt's `_dlt_version` table there (`dlt_version_ddl`), so dlt can use it as its own.
    """
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(sql.advisory_xact_lock(dataset_key(schema)))
            cur.execute(sql.SCHEMA_HAS_RELATIONS, (schema,))
            empty = not cur.fetchone()[0]
            cur.execute(sql.CAN_CREATE_SCHEMAS)
            recreatable = cur.fetchone()[0]
            for statement in ([sql.drop_schema_if_empty(schema)] if recreatable else dlt_version_ddl) if empty else []:
                cur.execute(statement)
        conn.commit()
        return empty and recreatable
    except BaseException:
        conn.rollback()  # another kind of object (a type, a function) lives there: the schema stays
        raise
    finally:
        conn.autocommit = True


def holds_run_lock(cursor: Any, dataset: str, pipeline_name: str) -> bool:
    """Whether this session still holds the run lock of (dataset, pipeline) (see `state.acquire_lock`)."""
    cursor.execute(sql.HOLDS_ADVISORY_LOCK, tuple(k & 0xFFFFFFFF for k in lock_keys(dataset, pipeline_name)))
    return bool(cursor.fetchone()[0])
