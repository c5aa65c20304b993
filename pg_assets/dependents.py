"""Views over tables that a `staging-optimized` replace swaps, and what such a swap cannot keep.

The swap drops the old table and moves the staged one into its place. Postgres refuses to
drop a table a view reads, so the views (and views on those views, and materialized views)
are read here, dropped before the swap and created again after it, in the same transaction:
definition (`pg_get_viewdef`, with the column list the view had), options, owner, privileges,
comments, and a materialized view's indexes and data (filled from the new rows, or left
unpopulated when it was). Readers of the view wait on the commit's locks and then see the
new rows; nobody ever sees the view missing. The tables that take the swapped ones' place get
their owner, privileges and comment back too (`read_access`), so a view's readers keep reading.

Some objects cannot be carried over this way: a rule or trigger on the table or a view, a
row-level security policy, a foreign key from another table, a function or column typed by
the table's row type, a view column's default or column privileges, a view owned by a role
the loading role is not a member of. `swap_blockers` names each, so the load refuses before
anything is staged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pg_assets import sql

# privileges an owner holds on a relation by default (what `aclexplode` shows for it) up to Postgres 16;
# 17 adds MAINTAIN, which is left as the new relation has it
_OWNER_DEFAULT = ("INSERT", "SELECT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


@dataclass(frozen=True)
class Grant:
    """One privilege on a relation: `grantee` None is PUBLIC."""

    grantee: str | None
    privilege: str
    grantable: bool
    grantor: str


@dataclass(frozen=True)
class Access:
    """Who owns a relation, its privileges and its comment: what a relation created anew must get back."""

    owner: str
    default_acl: bool  # no privileges were ever granted or revoked
    grants: tuple[Grant, ...]
    comment: str | None


@dataclass(frozen=True)
class TableAccess:
    """The `Access` of a table a swap replaces, given to the staged table that takes its place."""

    table: str
    access: Access


@dataclass(frozen=True)
class DependentView:
    """A view or materialized view that reads (through any number of views) some swapped tables."""

    schema: str
    name: str
    materialized: bool
    definition: str
    access: Access
    may_own: bool  # the loading role is a member of the owner, so it may drop the view and give it back
    may_create: bool  # the loading role has CREATE on the view's schema
    populated: bool
    options: tuple[tuple[str, str], ...]
    indexes: tuple[str, ...]  # CREATE INDEX statements as the server prints them
    column_comments: tuple[tuple[str, str], ...]
    depth: int  # 1 reads a swapped table directly; n reads a view of depth n - 1
    tables: frozenset[str]  # the swapped tables it reads, directly or not

    @property
    def label(self) -> str:
        kind = "materialized view" if self.materialized else "view"
        return f"{kind} `{self.schema}.{self.name}`"

    @property
    def kind(self) -> sql.ddl.RelationKind:
        return "MATERIALIZED VIEW" if self.materialized else "VIEW"


def _grants(rows: Sequence[Sequence[Any]]) -> tuple[Grant, ...]:
    return tuple(Grant(grantee, privilege, grantable == "true", grantor) for grantee, privilege, grantable, grantor
                 in rows)


def read_views(cursor: Any, dataset: str, tables: Sequence[str]) -> tuple[DependentView, ...]:
    """Every view over `tables` of `dataset`, those that read others after them."""
    if not tables:
        return ()
    cursor.execute(sql.DEPENDENT_VIEWS, (dataset, list(tables)))
    return tuple(_view(row) for row in cursor.fetchall())


def _view(row: Sequence[Any]) -> DependentView:
    (schema, name, materialized, definition, owner, may_own, may_create, populated, comment, options, indexes,
     column_comments, default_acl, grants, depth, tables) = row
    return DependentView(
        schema, name, materialized, definition, Access(owner, default_acl, _grants(grants), comment), may_own,
        may_create, populated, tuple(tuple(o.split("=", 1)) for o in options), tuple(indexes),
        tuple(map(tuple, column_comments)), depth, frozenset(tables))


def read_access(cursor: Any, dataset: str, tables: Sequence[str]) -> tuple[TableAccess, ...]:
    """Owner, privileges and comment of each of `tables` that exists in `dataset`."""
    if not tables:
        return ()
    cursor.execute(sql.TABLE_ACCESS, (dataset, list(tables)))
    return tuple(TableAccess(name, Access(owner, default_acl, _grants(grants), comment))
                 for name, owner, default_acl, grants, comment in cursor.fetchall())


def swap_blockers(cursor: Any, dataset: str, tables: Sequence[str]) -> list[str]:
    """Why `tables` of `dataset` cannot be swapped keeping what depends on them; empty when they can."""
    if not tables:
        return []
    cursor.execute(sql.SWAP_BLOCKERS, (dataset, list(tables)))
    found = [f"{what} (on {on})" for what, on in cursor.fetchall()]
    return found + [reason for view in read_views(cursor, dataset, tables) for reason in _unrecreatable(view)]


def _unrecreatable(view: DependentView) -> list[str]:
    out = []
    owner = view.access.owner
    if not view.may_own:
        out.append(f"{view.label} is owned by `{owner}`, and the loading role is not a member of it, so it "
                   f"cannot drop the view and give it back (`GRANT {owner} TO <loading role>`)")
    if not view.may_create:
        out.append(f"{view.label}: the loading role has no CREATE on schema `{view.schema}`, so it cannot "
                   f"create the view again (`GRANT CREATE ON SCHEMA {view.schema} TO <loading role>`)")
    out.extend(f"{view.label}: the privilege {g.privilege} of {g.grantee or 'PUBLIC'} was granted by "
               f"`{g.grantor}`, not by the owner, and a new view can only get it from its owner"
               for g in view.access.grants if g.grantor != owner)
    return out


def on_tables(views: Iterable[DependentView], tables: Iterable[str]) -> list[DependentView]:
    """The views that read any of `tables`, in creation order."""
    wanted = set(tables)
    return [v for v in views if v.tables & wanted]


def drop_sql(views: Sequence[DependentView]) -> list[str]:
    """Drop `views` (in creation order), those that read others first."""
    return [sql.drop_view(v.schema, v.name, if_exists=False, materialized=v.materialized)
            for v in sorted(views, key=lambda v: -v.depth)]


def recreate_sql(views: Sequence[DependentView]) -> list[str]:
    """Create `views` (in creation order) again as they were, once the tables they read are in place."""
    return [stmt for v in sorted(views, key=lambda v: v.depth) for stmt in _recreate(v)]


def _recreate(v: DependentView) -> list[str]:
    return [sql.create_view(v.schema, v.name, v.definition, materialized=v.materialized, options=v.options,
                            with_data=v.populated), *v.indexes, *access_sql(v.schema, v.name, v.access, v.kind),
            *(sql.comment_on_column(v.schema, v.name, column, text) for column, text in v.column_comments)]


def access_sql(schema: str, name: str, access: Access, kind: sql.ddl.RelationKind) -> list[str]:
    """Give a relation just created (owned by the loading role, default privileges) its `access` back.

    The owner first; then, unless the privileges were the default, the owner's own privileges
    revoked where they were, the others granted: by the owner, as Postgres records a grant made by
    a member of the owning role (the loading role is one, or the owner could not be set).
    """
    out = [sql.alter_owner(schema, name, access.owner, kind=kind)]
    if not access.default_acl:
        own = {g.privilege for g in access.grants if g.grantee == access.owner}
        target = sql.qualified(schema, name)
        out.extend(sql.revoke([p], "TABLE", target, access.owner) for p in _OWNER_DEFAULT if p not in own)
        out.extend(sql.grant([g.privilege], "TABLE", target, g.grantee, grant_option=g.grantable)
                   for g in access.grants if g.grantee != access.owner)
    if access.comment is not None:
        comment = (sql.comment_on_table(schema, name, access.comment) if kind == "TABLE" else
                   sql.comment_on_view(schema, name, access.comment, materialized=kind == "MATERIALIZED VIEW"))
        out.append(comment)
    return out
