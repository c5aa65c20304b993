"""Merge strategies as SQL over staged rows, run inside the load's commit transaction.

All strategies first drop the losing duplicates from the root's staging table, which then
holds the kept rows: one row per primary key, the last one loaded unless a `dedup_sort`
column says otherwise. Nothing temporary is made (a role without `TEMP` merges too).
Child rows follow their root through `_pg_assets_seq` (the item they came from), so the
children of a discarded duplicate never leak in.

- `delete-insert`: delete destination rows matching a kept primary key or any staged
  merge key (with their children), insert the kept rows that are not hard-deleted.
- `upsert`: update rows in place by primary key, insert new keys, replace children.
- `insert-only`: insert kept rows whose key is not in the destination yet (of duplicates
  in one batch, the first one: as if inserted one by one), and, as dlt does, every child
  row of a kept root whose `_dlt_id` its table does not hold yet, under a new key or a
  known one (a list that grew, a child table that is new).
- `scd2`: retire active rows absent from the batch (within the staged merge keys, if
  any), insert new versions; both use the load's one boundary timestamp. Child rows
  are insert-only: a version that comes back (a -> b -> a) has the same content hash
  as its retired twin, whose child rows are already there. As in dlt, scd2 child rows
  carry no `_dlt_root_id` (unless the dataset's child tables already have one).

Without any key, `delete-insert` cannot replace anything and appends (`key_warning`).
The statements themselves are built by `sql.merge`; this module decides which run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pg_assets import sql
from pg_assets.load.dispositions import Staged, append_sql
from pg_assets.table_plan import Scd2Options, TablePlan
from pg_assets.schema import Table
from pg_assets.sql import merge as m
from pg_assets.sql.merge import RANDOM_PAGE_COST
from pg_assets.normalize.naming import shorten
from pg_assets.sql.names import ROW_ID
from pg_assets.vocabulary import DEFAULT_MERGE_STRATEGY

__all__ = ["RANDOM_PAGE_COST", "key_warning", "merge_sql"]


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
    strategy = plan.strategy or DEFAULT_MERGE_STRATEGY
    body = build[strategy](ds, plan, root, children, staged, existing, boundary)
    kept = staged[root.name]
    # delete-insert finds what it replaces by every staged merge key, a losing duplicate's too
    doomed = _doomed(ds, plan, children, kept, existing) if strategy == "delete-insert" else []
    # ANALYZE: the planner then knows how many rows are kept and picks index lookups for a few
    # rows, hash joins for many
    return [RANDOM_PAGE_COST, m.WORK_MEM, sql.analyze(kept.ref), *doomed, *_drop_duplicates(plan, root, kept),
            *body]


def doomed_name(kept: Staged) -> str:
    """delete-insert's table of replaced ids, beside the kept rows in the staging schema.

    Named after the root's staging table (so per load) with a dash, which no table name has.
    """
    return shorten(f"{kept.name}-doomed")


def _deleted(plan: TablePlan, root: Table) -> str | None:
    """SQL true for kept rows flagged by a `hard_delete` column, or None without one."""
    for name in plan.hints:
        if plan.hints[name].get("hard_delete") and name in root.columns:
            return m.deleted(name, is_bool=root.columns[name].data_type == "bool")
    return None


def _drop_duplicates(plan: TablePlan, root: Table, staged: Staged) -> list[str]:
    """Leave one staged root row per primary key in the staging table (all rows without one).

    `insert-only` keeps the first of duplicates: like inserting them one by one, where
    the later ones find their key taken. scd2 keeps every version, as dlt does: its rows
    are told apart by their version, not their key (`drop_repeated_versions`).
    """
    if not plan.primary_key or plan.strategy == "scd2":
        return []
    sort = next(((n, h["dedup_sort"]) for n, h in plan.hints.items()
                 if h.get("dedup_sort") in ("asc", "desc") and n in root.columns), (None, None))
    order = m.dedup_order(*sort, last_wins=plan.strategy != "insert-only")
    return [m.drop_duplicates(staged.ref, plan.primary_key, order)]


def _insert_children(ds: str, kept: Staged, children: Sequence[Table], staged: Mapping[str, Staged], where: str,
                     *, new_only: bool = False) -> list[str]:
    """Children of the kept roots that `where` lets through (their exact version, by sequence)."""
    roots = m.kept_roots(kept.ref, where)
    return [m.insert_children(ds, c.name, staged[c.name].ref, staged[c.name].final_columns, roots,
                              new_only=new_only) for c in children if c.name in staged]


def _delete_children(ds: str, children: Sequence[Table], existing: set[str], root_ids: str) -> list[str]:
    return [m.delete_children(ds, c.name, root_ids) for c in children if c.name in existing]


def _deletes_by_join(plan: TablePlan, children: Sequence[Table], existing: set[str]) -> bool:
    """True when delete-insert can delete the matched rows in one join: by primary key alone,
    with no child rows to find by their root's id first."""
    return bool(plan.primary_key) and not plan.merge_key and not any(c.name in existing for c in children)


def _doomed(ds: str, plan: TablePlan, children: Sequence[Table], kept: Staged, existing: set[str]) -> list[str]:
    """delete-insert's `doomed_name` table: the ids of the destination rows it replaces, when it needs them."""
    if plan.root not in existing or _deletes_by_join(plan, children, existing):
        return []
    matches = [m.matched_by_primary_key(kept.ref, ds, plan.root, plan.primary_key)] if plan.primary_key else []
    if plan.merge_key:
        matches.append(m.matched_by_merge_key(ds, plan.root, plan.merge_key, kept.ref))
    doomed = sql.qualified(kept.schema, doomed_name(kept))
    # ANALYZE: else 1,000,000 doomed rows are deleted by as many index lookups
    return [m.create_doomed(doomed, matches), sql.analyze(doomed)]


def _delete_insert(ds: str, plan: TablePlan, root: Table, children: Sequence[Table],
                   staged: Mapping[str, Staged], existing: set[str], boundary: str) -> list[str]:
    kept = staged[root.name]
    out: list[str] = []
    if root.name in existing and _deletes_by_join(plan, children, existing):
        out.append(m.delete_matched(kept.ref, ds, root.name, plan.primary_key, "TRUE"))
    elif root.name in existing:  # `_doomed` holds the ids
        doomed = sql.qualified(kept.schema, doomed_name(kept))
        out.extend(_delete_children(ds, children, existing, m.doomed_ids(doomed)))
        out.extend([m.delete_doomed(doomed, ds, root.name), sql.drop_table(kept.schema, doomed_name(kept),
                                                                           if_exists=False)])
    alive = m.alive(_deleted(plan, root))
    out.append(m.insert_kept(kept.ref, ds, root.name, kept.final_columns, alive))
    out.extend(_insert_children(ds, kept, children, staged, alive))
    return out


def _upsert(ds: str, plan: TablePlan, root: Table, children: Sequence[Table],
            staged: Mapping[str, Staged], existing: set[str], boundary: str) -> list[str]:
    kept = staged[root.name]
    cols, key = kept.final_columns, plan.primary_key
    deleted = _deleted(plan, root)
    alive = new = m.alive(deleted)
    out: list[str] = []
    if root.name in existing:
        out.extend(_delete_children(ds, children, existing, m.matched_by_primary_key(kept.ref, ds, root.name, key)))
        if deleted:
            out.append(m.delete_matched(kept.ref, ds, root.name, key, deleted))
        out.append(m.update_matched(kept.ref, ds, root.name, cols, key, alive))
        new = m.both(alive, m.not_in_destination(ds, root.name, key))
    out.append(m.insert_kept(kept.ref, ds, root.name, cols, new))
    out.extend(_insert_children(ds, kept, children, staged, alive))
    return out


def _insert_only(ds: str, plan: TablePlan, root: Table, children: Sequence[Table],
                 staged: Mapping[str, Staged], existing: set[str], boundary: str) -> list[str]:
    """dlt inserts each staged child row whose `_dlt_id` its table lacks, under a root key new or
    already loaded: so the children go first, of every kept root, before the known keys are forgotten."""
    kept = staged[root.name]
    out = _insert_children(ds, kept, children, staged, "TRUE", new_only=True)
    if root.name in existing:
        out.append(m.forget_kept_in_destination(kept.ref, ds, root.name, plan.primary_key))
    out.append(m.insert_kept(kept.ref, ds, root.name, kept.final_columns, "TRUE"))
    return out


def _scd2(ds: str, plan: TablePlan, root: Table, children: Sequence[Table],
          staged: Mapping[str, Staged], existing: set[str], boundary: str) -> list[str]:
    opts = plan.scd2 or Scd2Options()
    at = sql.literal(opts.boundary_timestamp or boundary)
    active = sql.literal(opts.active_record_timestamp) if opts.active_record_timestamp else "NULL"
    is_current = m.current(opts.valid_to, active)
    # a row changed when its version differs: the content hash, or the user's version column
    version = opts.row_version_column or ROW_ID
    kept = staged[root.name]
    # the same content twice is one version; a version column's value repeats across keys
    keys = () if version == ROW_ID else (plan.merge_key or plan.primary_key or None)
    repeated = m.drop_repeated_versions(kept.ref, version, keys)
    out: list[str] = [repeated] if repeated else []
    if root.name in existing:
        out.append(m.retire(kept.ref, ds, root.name, valid_to=opts.valid_to, at=at, is_current=is_current,
                            version=version, merge_key=plan.merge_key or ()))
        out.append(m.forget_current_twins(kept.ref, ds, root.name, version=version,
                                          keys=plan.merge_key or plan.primary_key, is_current=is_current))
    cols = [c for c in kept.final_columns if c not in (opts.valid_from, opts.valid_to)]
    out.append(m.insert_versions(kept.ref, ds, root.name, cols, valid_from=opts.valid_from, valid_to=opts.valid_to,
                                 at=at, active=active))
    out.extend(_insert_children(ds, kept, children, staged, "TRUE", new_only=True))
    return out
