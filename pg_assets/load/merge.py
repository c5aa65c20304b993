"""Merge strategies as SQL over staged rows, run inside the load's commit transaction.

All strategies first pick the surviving staged root rows into a temporary table
`keep`: one per primary key, the last one loaded unless a `dedup_sort` column says
otherwise. Child rows follow their root through `(_dlt_root_id, _pg_assets_seq)`,
so the children of a discarded duplicate never leak in.

- `delete-insert`: delete destination rows matching a kept primary key or any staged
  merge key (with their children), insert the kept rows that are not hard-deleted.
- `upsert`: update rows in place by primary key, insert new keys, replace children.
- `insert-only`: insert kept rows whose key is not in the destination yet (of duplicates
  in one batch, the first one: as if inserted one by one).
- `scd2`: retire active rows absent from the batch (within the staged merge keys, if
  any), insert new versions; both use the load's one boundary timestamp. Child rows
  are insert-only: a version that comes back (a -> b -> a) has the same content hash
  as its retired twin, whose child rows are already there.

Without any key, `delete-insert` cannot replace anything and appends (`key_warning`).
Temporary tables are always named `pg_temp.<name>`: an unqualified DROP could
otherwise reach a user's table of the same name on the search path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pg_assets import sql
from pg_assets.load.dispositions import Staged, append_sql
from pg_assets.normalize.rows import ROOT_ID, ROW_ID, SEQ, Scd2Options, TablePlan
from pg_assets.schema import Table
from pg_assets.vocabulary import DEFAULT_MERGE_STRATEGY

KEEP = "pg_temp.pg_assets_keep"
DOOMED = "pg_temp.pg_assets_doomed"
# For the rest of the commit transaction only: Postgres' default random_page_cost (4) prices
# an index lookup for spinning disks, so it scans a table of 1,000,000 rows rather than look up
# 10,000 keys in the primary key index. 1.1 is the usual setting for SSDs and cached data; a
# server already set lower keeps its own value.
RANDOM_PAGE_COST = ("SELECT set_config('random_page_cost', "
                    "least(current_setting('random_page_cost')::float8, 1.1)::text, true)")


def key_warning(plan: TablePlan) -> str | None:
    """The warning for a merge that has no key to merge on, so it appends (None when it has one)."""
    if plan.write_disposition != "merge" or plan.strategy == "scd2" or plan.primary_key or plan.merge_key:
        return None
    return (f"Resource `{plan.resource}`: merge strategy `{plan.strategy}` without a `primary_key` or "
            f"`merge_key` cannot replace rows, so its rows are appended. Declare a key to merge.")


def merge_sql(ds: str, plan: TablePlan, tables: Sequence[Table], staged: Mapping[str, Staged],
              existing: set[str], boundary: str) -> list[str]:
    """The statements that merge `plan`'s staged table chain (root first) into dataset `ds`.

    `existing` are the tables already in the dataset; `boundary` is the load's timestamp,
    scd2's `_dlt_valid_to` of retired rows and `_dlt_valid_from` of new ones.
    """
    root = tables[0]
    if root.name not in staged:
        return []
    if key_warning(plan):
        return [s for t in tables if t.name in staged for s in append_sql(ds, t.name, staged[t.name])]
    children = [t for t in tables[1:] if t.name in staged or t.name in existing]
    build = {"delete-insert": _delete_insert, "upsert": _upsert, "insert-only": _insert_only, "scd2": _scd2}
    body = build[plan.strategy or DEFAULT_MERGE_STRATEGY](ds, plan, root, children, staged, existing, boundary)
    # ANALYZE: the planner then knows how many rows are kept and picks index lookups for a few
    # rows, hash joins for many
    return [RANDOM_PAGE_COST, f"DROP TABLE IF EXISTS {KEEP}", _keep(plan, root, staged[root.name]),
            f"ANALYZE {KEEP}", *body, f"DROP TABLE {KEEP}"]


def _deleted(plan: TablePlan, root: Table, alias: str = "") -> str | None:
    """SQL true for rows flagged by a `hard_delete` column, or None without one."""
    for name in plan.hints:
        if plan.hints[name].get("hard_delete") and name in root.columns:
            col = f"{alias}{sql.ident(name)}"
            return f"{col} IS TRUE" if root.columns[name].data_type == "bool" else f"{col} IS NOT NULL"
    return None


def _order(plan: TablePlan, root: Table, last_wins: bool = True) -> str:
    """Which duplicate survives: the `dedup_sort` column's max (`desc`) or min (`asc`), ties and
    everything else by load order."""
    seq = f"{sql.ident(SEQ.name)} {'DESC' if last_wins else 'ASC'}"
    for name, hint in plan.hints.items():
        if hint.get("dedup_sort") in ("asc", "desc") and name in root.columns:
            return f"{sql.ident(name)} {hint['dedup_sort'].upper()} NULLS LAST, {seq}"
    return seq


def _keep(plan: TablePlan, root: Table, staged: Staged) -> str:
    """The surviving staged root rows, one per primary key (all rows without one).

    `insert-only` keeps the first of duplicates: like inserting them one by one, where
    the later ones find their key taken.
    """
    if not plan.primary_key:
        return f"CREATE TEMP TABLE {KEEP} AS SELECT * FROM {staged.ref}"
    partition = sql.ident_list(plan.primary_key)
    last_wins = plan.strategy != "insert-only"
    return (f"CREATE TEMP TABLE {KEEP} AS SELECT * FROM (SELECT *, row_number() OVER "
            f"(PARTITION BY {partition} ORDER BY {_order(plan, root, last_wins)}) AS _pg_assets_rn "
            f"FROM {staged.ref}) AS numbered WHERE _pg_assets_rn = 1")


def _match(keys: Sequence[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{sql.ident(k)} = {right}.{sql.ident(k)}" for k in keys)


def _insert_root(ds: str, root: Table, staged: Staged, where: str) -> str:
    cols = sql.ident_list(staged.final_columns)
    return f"INSERT INTO {sql.qualified(ds, root.name)} ({cols}) SELECT {cols} FROM {KEEP} AS s WHERE {where}"


def _kept_roots(where: str) -> str:
    """(root id, sequence) of the kept root rows that `where` lets through: their children follow them."""
    return f"SELECT {sql.ident(ROW_ID)}, {sql.ident(SEQ.name)} FROM {KEEP} AS s WHERE {where}"


def _insert_children(ds: str, children: Sequence[Table], staged: Mapping[str, Staged], roots: str,
                     *, new_only: bool = False) -> list[str]:
    """Children whose root row (and its exact version, by sequence) is in `roots`; with
    `new_only`, only child rows whose `_dlt_id` the child table does not hold yet."""
    out = []
    for child in children:
        s = staged.get(child.name)
        if s is None:
            continue
        cols = sql.ident_list(s.final_columns)
        target = sql.qualified(ds, child.name)
        new = (f" AND NOT EXISTS (SELECT 1 FROM {target} AS c WHERE c.{sql.ident(ROW_ID)} = s.{sql.ident(ROW_ID)})"
               if new_only else "")
        out.append(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {s.ref} AS s "
                   f"WHERE (s.{sql.ident(ROOT_ID)}, s.{sql.ident(SEQ.name)}) IN ({roots}){new}")
    return out


def _delete_children(ds: str, children: Sequence[Table], existing: set[str], root_ids: str) -> list[str]:
    return [f"DELETE FROM {sql.qualified(ds, c.name)} WHERE {sql.ident(ROOT_ID)} IN ({root_ids})"
            for c in children if c.name in existing]


def _delete_insert(ds: str, plan: TablePlan, root: Table, children: Sequence[Table],
                   staged: Mapping[str, Staged], existing: set[str], boundary: str) -> list[str]:
    final = sql.qualified(ds, root.name)
    out: list[str] = []
    if root.name in existing:
        matches = []
        if plan.primary_key:
            matches.append(f"SELECT d.{sql.ident(ROW_ID)} FROM {final} AS d JOIN {KEEP} AS s ON "
                           f"{_match(plan.primary_key, 'd', 's')}")
        if plan.merge_key:
            mk = sql.ident_list(plan.merge_key)
            matches.append(f"SELECT d.{sql.ident(ROW_ID)} FROM {final} AS d WHERE ({mk}) IN "
                           f"(SELECT {mk} FROM {staged[root.name].ref})")
        doomed = " UNION ".join(matches)
        out.append(f"CREATE TEMP TABLE {DOOMED} AS {doomed}")
        out.append(f"ANALYZE {DOOMED}")  # else 1,000,000 doomed rows are deleted by as many index lookups
        out.extend(_delete_children(ds, children, existing, f"SELECT * FROM {DOOMED}"))
        out.append(f"DELETE FROM {final} WHERE {sql.ident(ROW_ID)} IN (SELECT * FROM {DOOMED})")
        out.append(f"DROP TABLE {DOOMED}")
    deleted = _deleted(plan, root, "s.")
    alive = f"NOT ({deleted})" if deleted else "TRUE"
    out.append(_insert_root(ds, root, staged[root.name], alive))
    out.extend(_insert_children(ds, children, staged, _kept_roots(alive)))
    return out


def _upsert(ds: str, plan: TablePlan, root: Table, children: Sequence[Table],
            staged: Mapping[str, Staged], existing: set[str], boundary: str) -> list[str]:
    final = sql.qualified(ds, root.name)
    cols = staged[root.name].final_columns
    deleted = _deleted(plan, root, "s.")
    alive = f"NOT ({deleted})" if deleted else "TRUE"
    out: list[str] = []
    if root.name in existing:
        # the destination's own root ids: rows loaded before the table was upserted have other ids
        matched = (f"SELECT d.{sql.ident(ROW_ID)} FROM {final} AS d JOIN {KEEP} AS s "
                   f"ON {_match(plan.primary_key, 'd', 's')}")
        out.extend(_delete_children(ds, children, existing, matched))
        if deleted:
            out.append(f"DELETE FROM {final} AS d USING {KEEP} AS s WHERE {_match(plan.primary_key, 'd', 's')} "
                       f"AND {deleted}")
        sets = ", ".join(f"{sql.ident(c)} = s.{sql.ident(c)}" for c in cols)
        out.append(f"UPDATE {final} AS d SET {sets} FROM {KEEP} AS s WHERE {_match(plan.primary_key, 'd', 's')} "
                   f"AND {alive}")
        alive += (f" AND NOT EXISTS (SELECT 1 FROM {final} AS d WHERE {_match(plan.primary_key, 'd', 's')})")
    out.append(_insert_root(ds, root, staged[root.name], alive))
    out.extend(_insert_children(ds, children, staged, _kept_roots(f"NOT ({deleted})" if deleted else "TRUE")))
    return out


def _insert_only(ds: str, plan: TablePlan, root: Table, children: Sequence[Table],
                 staged: Mapping[str, Staged], existing: set[str], boundary: str) -> list[str]:
    final = sql.qualified(ds, root.name)
    new = "TRUE"
    out: list[str] = []
    if root.name in existing:
        out.append(f"DELETE FROM {KEEP} AS s USING {final} AS d WHERE {_match(plan.primary_key, 'd', 's')}")
    out.append(_insert_root(ds, root, staged[root.name], new))
    out.extend(_insert_children(ds, children, staged, _kept_roots("TRUE")))
    return out


def _scd2(ds: str, plan: TablePlan, root: Table, children: Sequence[Table],
          staged: Mapping[str, Staged], existing: set[str], boundary: str) -> list[str]:
    opts = plan.scd2 or Scd2Options()
    final = sql.qualified(ds, root.name)
    ts = sql.literal(opts.boundary_timestamp or boundary)
    active = sql.literal(opts.active_record_timestamp) if opts.active_record_timestamp else "NULL"
    rid, seq = sql.ident(ROW_ID), sql.ident(SEQ.name)
    vto = sql.ident(opts.valid_to)
    is_current = f"d.{vto} IS NULL" if active == "NULL" else f"d.{vto} = {active}"
    # a row changed when its version differs: the content hash, or the user's version column
    version = sql.ident(opts.row_version_column) if opts.row_version_column else rid
    # the same content twice in one batch is one version
    out: list[str] = [f"DELETE FROM {KEEP} AS a USING {KEEP} AS b WHERE a.{version} = b.{version} "
                      f"AND a.{seq} < b.{seq}"]
    if root.name in existing:
        scope = ""
        if plan.merge_key:
            mk = sql.ident_list(plan.merge_key)
            scope = f" AND ({', '.join(f'd.{sql.ident(k)}' for k in plan.merge_key)}) IN (SELECT {mk} FROM {KEEP})"
        # NOT EXISTS, not NOT IN: NOT IN over a large batch degrades to a nested loop
        out.append(f"UPDATE {final} AS d SET {vto} = {ts} WHERE {is_current} AND NOT EXISTS "
                   f"(SELECT 1 FROM {KEEP} AS s WHERE s.{version} = d.{version}){scope}")
        # the same version means the same key values, which lets a key index find the twin
        same_key = "".join(f" AND d.{sql.ident(k)} = s.{sql.ident(k)}" for k in plan.merge_key or plan.primary_key)
        out.append(f"DELETE FROM {KEEP} AS s USING {final} AS d WHERE d.{version} = s.{version}{same_key} "
                   f"AND {is_current}")
    cols = [c for c in staged[root.name].final_columns if c not in (opts.valid_from, opts.valid_to)]
    names = sql.ident_list([*cols, opts.valid_from, opts.valid_to])
    out.append(f"INSERT INTO {final} ({names}) SELECT {sql.ident_list(cols)}, {ts}, {active} FROM {KEEP}")
    out.extend(_insert_children(ds, children, staged, _kept_roots("TRUE"), new_only=True))
    return out
