"""What a load needs of its role, checked before any row is staged.

A load reads and writes the dataset's schema and stages in `<dataset>_staging`. What
it needs there depends on what exists and on each resource's disposition:

| object | privilege | needed for |
|---|---|---|
| the database | `CREATE` | only to create the dataset or staging schema when it is missing |
| dataset schema | `USAGE` | always |
| dataset schema | `CREATE` | a new table (the first load, a new resource), `staging-optimized` |
| staging schema | `USAGE`, `CREATE` | always: each load makes (and drops) its staging tables there |
| `_dlt_loads`, `_dlt_version`, `_dlt_pipeline_state` | `SELECT`, `INSERT` | always, once they exist |
| an existing table (and its child tables) | by disposition, `DISPOSITION_PRIVILEGES` | writing it |

No temporary object is ever made, so the database's `TEMP` is not needed. What the
plan cannot know (a new child table or column in the data) is found by the server at
the commit, which then names the object. `check` asks the server with
`has_database_privilege`, `has_schema_privilege`, `has_table_privilege` and, for
ownership, `pg_has_role`, and reads only `pg_namespace` and `pg_class`, which every
role may read, so it runs before the role touches anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pg_assets import sql
from pg_assets.errors import PrivilegeError
from pg_assets.state import LOADS_TABLE, STATE_TABLE, VERSION_TABLE
from pg_assets.table_plan import TablePlan
from pg_assets.vocabulary import DEFAULT_MERGE_STRATEGY, DEFAULT_REPLACE_STRATEGY

ObjectKind = Literal["database", "schema", "table"]
DOCS = "docs/privileges.md"

# What writing an existing table takes, by (disposition, strategy); `OWNER` is membership in the
# table's owner role (only the owner may drop or alter a table).
DISPOSITION_PRIVILEGES: Mapping[tuple[str, str | None], tuple[str, ...]] = {
    ("append", None): ("INSERT",),
    ("replace", "truncate-and-insert"): ("TRUNCATE", "INSERT"),
    ("replace", "insert-from-staging"): ("DELETE", "INSERT"),
    ("replace", "staging-optimized"): ("OWNER",),
    ("merge", "delete-insert"): ("SELECT", "INSERT", "DELETE"),
    ("merge", "upsert"): ("SELECT", "INSERT", "UPDATE", "DELETE"),
    ("merge", "insert-only"): ("SELECT", "INSERT"),
    ("merge", "scd2"): ("SELECT", "INSERT", "UPDATE"),
}
SYSTEM_TABLE_PRIVILEGES = ("SELECT", "INSERT")
SYSTEM_TABLES = (VERSION_TABLE, LOADS_TABLE, STATE_TABLE)


@dataclass(frozen=True)
class Need:
    """One privilege on one object, and what the load needs it for."""

    kind: ObjectKind
    name: str  # the database or schema, or `schema.table`
    privilege: str
    why: str
    schema: str | None = None  # of a table; for the database's CREATE, the schema to create
    table: str | None = None

    @property
    def ref(self) -> str:
        """The object as SQL spells it (a table qualified and quoted)."""
        if self.kind == "table":
            return sql.qualified(self.schema or "", self.table or "")
        return self.name

    def line(self) -> str:
        label = "owner of" if self.privilege == "OWNER" else f"{self.privilege} on"
        return f"{label} {self.kind} `{self.name}`: {self.why}"


@dataclass(frozen=True)
class Present:
    """What exists, read from `pg_namespace` and `pg_class`: schemas, and tables per schema."""

    schemas: frozenset[str]
    tables: frozenset[str]  # in the dataset schema
    children: Mapping[str, tuple[str, ...]]  # root -> its existing child tables


def strategy_of(plan: TablePlan) -> str | None:
    """The plan's strategy with the defaults filled in (None for append)."""
    if plan.write_disposition == "merge":
        return plan.strategy or DEFAULT_MERGE_STRATEGY
    if plan.write_disposition == "replace":
        return plan.strategy or DEFAULT_REPLACE_STRATEGY
    return None


def load_needs(database: str, dataset: str, staging: str, plans: Sequence[TablePlan], present: Present) -> list[Need]:
    """Every privilege a load of `plans` needs, given what exists."""
    needs = [*_schema_needs(database, staging, present, creates=True, why="this load's staging tables")]
    creates = any(p.root not in present.tables for p in plans) or any(
        strategy_of(p) == "staging-optimized" for p in plans) or not set(SYSTEM_TABLES) <= present.tables
    needs.extend(_schema_needs(database, dataset, present, creates=creates, why="new tables"))
    for name in SYSTEM_TABLES:
        if name in present.tables:
            needs.extend(_table(dataset, name, p, "the load's bookkeeping") for p in SYSTEM_TABLE_PRIVILEGES)
    for plan in plans:
        if plan.root in present.tables:
            privileges = DISPOSITION_PRIVILEGES[(plan.write_disposition, strategy_of(plan))]
            why = f"resource `{plan.resource}` ({plan.write_disposition}" + (
                f", `{strategy_of(plan)}`)" if strategy_of(plan) else ")")
            for name in (plan.root, *present.children.get(plan.root, ())):
                needs.extend(_table(dataset, name, p, why) for p in privileges)
    return list(dict.fromkeys(needs))


def _schema_needs(database: str, schema: str, present: Present, *, creates: bool, why: str) -> list[Need]:
    if schema not in present.schemas:
        return [Need("database", database, "CREATE", f"schema `{schema}` does not exist, and the load creates it",
                     schema)]
    out = [Need("schema", schema, "USAGE", "to reach its tables")]
    return out + ([Need("schema", schema, "CREATE", f"to create {why} in it")] if creates else [])


def _table(schema: str, table: str, privilege: str, why: str) -> Need:
    return Need("table", f"{schema}.{table}", privilege, why, schema, table)


def read_present(cursor: Any, dataset: str, staging: str, roots: Iterable[str]) -> Present:
    """Which schemas, root and system tables, and child tables exist (no privilege needed to know)."""
    cursor.execute(sql.EXISTING_SCHEMAS, ([dataset, staging],))
    schemas = frozenset(r[0] for r in cursor.fetchall())
    roots = list(dict.fromkeys(roots))
    cursor.execute(sql.EXISTING_TABLES, (dataset, [*roots, *SYSTEM_TABLES]))
    tables = frozenset(r[0] for r in cursor.fetchall())
    children: dict[str, tuple[str, ...]] = {}
    if any(root in tables for root in roots):  # one query for every root's child tables
        cursor.execute(sql.CHILD_TABLES_OF_SCHEMAS, ([dataset],))
        kids = [name for _, name in cursor.fetchall()]
        children = {root: tuple(k for k in kids if k.startswith(root + "__")) for root in roots if root in tables}
    return Present(schemas, tables, children)


def lacking(cursor: Any, needs: Sequence[Need]) -> list[Need]:
    """The needs the role does not have, asked of the server in one query."""
    if not needs:
        return []
    cursor.execute(sql.LACKING_PRIVILEGES, ([n.kind for n in needs], [n.ref for n in needs],
                                            [n.privilege for n in needs]))
    return [needs[ordinal - 1] for (ordinal,) in cursor.fetchall()]


_GRANT_TARGET: dict[str, sql.ddl.GrantTarget] = {"database": "DATABASE", "schema": "SCHEMA", "table": "TABLE"}


def grants(missing: Sequence[Need], role: str) -> list[str]:
    """The statements that give `role` what it lacks, one per object, in the order first needed.

    A missing schema is better created for the role than the whole database opened to it.
    """
    by_object: dict[tuple[str, str], list[Need]] = {}
    for need in missing:
        by_object.setdefault((need.kind, need.ref), []).append(need)
    out: list[str] = []
    for (kind, ref), group in by_object.items():
        privileges = [n.privilege for n in group if n.privilege != "OWNER"]
        if kind == "database":
            out.extend(sql.create_schema_for(n.schema or "", role) for n in group)
        elif privileges:
            out.append(sql.grant(privileges, _GRANT_TARGET[kind], sql.ident(ref) if kind == "schema" else ref, role))
        owned = next((n for n in group if n.privilege == "OWNER"), None)
        if owned is not None:
            out.append(sql.alter_owner(owned.schema or "", owned.table or "", role, kind="TABLE"))
    return [f"{g};" for g in out]


def check(cursor: Any, database: str, role: str, dataset: str, staging: str, plans: Sequence[TablePlan],
          what: str) -> None:
    """Raise `PrivilegeError` naming every privilege `role` lacks for `plans`; nothing is read or written.

    `what` names the work in the message (`the load of pipeline ...`).
    """
    present = read_present(cursor, dataset, staging, [p.root for p in plans])
    missing = lacking(cursor, load_needs(database, dataset, staging, plans, present))
    if missing:
        raise privilege_error(missing, role, database, what)


def privilege_error(missing: Sequence[Need], role: str, database: str, what: str) -> PrivilegeError:
    lines = "\n".join(f"  - {n.line()}" for n in missing)
    fix = "\n".join(f"  {g}" for g in grants(missing, role))
    database_create = sql.grant(["CREATE"], "DATABASE", sql.ident(database), role)
    alternative = (f"\n(or let the role create schemas itself: `{database_create};`)"
                   if any(n.kind == "database" for n in missing) else "")
    owner = ("\n(`staging-optimized` swaps the table, which only its owner may do; `truncate-and-insert` needs "
             "only TRUNCATE and INSERT)" if any(n.privilege == "OWNER" for n in missing) else "")
    return PrivilegeError(
        f"Role `{role}` lacks privileges {what} needs:\n{lines}\nAn owner of these objects (or a superuser) can "
        f"give them:\n{fix}{alternative}{owner}\nNothing was staged or written. The privileges each feature needs: "
        f"{DOCS}.", role=role, missing=[(n.privilege, n.kind, n.name) for n in missing],
        grants=grants(missing, role))
