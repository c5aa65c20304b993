"""The statements of the merge strategies (see `load/merge.py` for which runs when).

Every strategy works from `kept`, the root's staging table once `drop_duplicates` has
deleted the losing duplicates from it, named `s` in its statements, against the
destination table named `d`: the staged rows are never copied again, and the strategies
that forget kept rows delete them from the staging table itself. No statement makes a
temporary object, so a role without the database's `TEMP` privilege merges too
(delete-insert's `doomed` ids live in a table of the staging schema, made and dropped in
the commit transaction). Child rows follow their root through `_pg_assets_seq`, the
number of the item they came from, which is one root row's alone in the load (scd2 child
rows have no `_dlt_root_id`). Conditions (`where`, `alive`) are fragments built here too,
over the alias `s`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pg_assets.sql.dml import insert_select
from pg_assets.sql.names import ROOT_ID, ROW_ID, ROW_NUMBER, SEQ
from pg_assets.sql.quoting import ident, ident_list, qualified

# For the rest of the commit transaction only: Postgres' default random_page_cost (4) prices
# an index lookup for spinning disks, so it scans a table of 1,000,000 rows rather than look up
# 10,000 keys in the primary key index. 1.1 is the usual setting for SSDs and cached data; a
# server already set lower keeps its own value.
RANDOM_PAGE_COST = ("SELECT set_config('random_page_cost', "
                    "least(current_setting('random_page_cost')::float8, 1.1)::text, true)")
# Sorting and hashing a batch of 1,000,000 rows in the default 4 MB spills to disk: for the
# rest of the commit transaction only, at least 256 MB (a server set higher keeps its value).
WORK_MEM = ("SELECT set_config('work_mem', (greatest(pg_size_bytes(current_setting('work_mem')), "
            "268435456) / 1024)::text || 'kB', true)")


# ---- conditions --------------------------------------------------------------------------


def deleted(column: str, *, is_bool: bool, alias: str = "s") -> str:
    """True for rows a `hard_delete` column flags: a bool column when TRUE, any other when not NULL."""
    col = f"{alias}.{ident(column)}"
    return f"{col} IS TRUE" if is_bool else f"{col} IS NOT NULL"


def alive(deleted_condition: str | None) -> str:
    """True for rows that are not hard-deleted (every row without a `hard_delete` column)."""
    return f"NOT ({deleted_condition})" if deleted_condition else "TRUE"


def match(keys: Sequence[str], left: str = "d", right: str = "s") -> str:
    return " AND ".join(f"{left}.{ident(k)} = {right}.{ident(k)}" for k in keys)


def not_in_destination(schema: str, table: str, keys: Sequence[str]) -> str:
    """True for kept rows whose key the destination does not hold."""
    return f"NOT EXISTS (SELECT 1 FROM {qualified(schema, table)} AS d WHERE {match(keys)})"


def both(*conditions: str) -> str:
    return " AND ".join(conditions)


def dedup_order(sort_column: str | None, direction: str | None, *, last_wins: bool) -> str:
    """Which duplicate survives: the `dedup_sort` column's max (`desc`) or min (`asc`), ties and
    everything else by load order."""
    seq = f"{ident(SEQ)} {'DESC' if last_wins else 'ASC'}"
    if sort_column is None or direction is None:
        return seq
    return f"{ident(sort_column)} {direction.upper()} NULLS LAST, {seq}"


# ---- the kept rows -----------------------------------------------------------------------


def drop_duplicates(source: str, primary_key: Sequence[str], order: str) -> str:
    """Delete from staging table `source` every row that is not the first of its primary key by `order`.

    Only the row addresses are sorted; a batch without duplicates deletes nothing.
    """
    rn = ident(ROW_NUMBER)
    losers = (f"SELECT ctid FROM (SELECT ctid, row_number() OVER (PARTITION BY {ident_list(primary_key)} "
              f"ORDER BY {order}) AS {rn} FROM {source}) AS numbered WHERE {rn} > 1")
    return f"DELETE FROM {source} WHERE ctid = ANY (ARRAY({losers}))"


def kept_roots(kept: str, where: str) -> str:
    """The item numbers of the kept root rows that `where` lets through: their children follow them."""
    return f"SELECT {ident(SEQ)} FROM {kept} AS s WHERE {where}"


def insert_kept(kept: str, schema: str, table: str, columns: Sequence[str], where: str) -> str:
    return insert_select(schema, table, kept, columns, where, alias="s")


def forget_kept_in_destination(kept: str, schema: str, table: str, keys: Sequence[str]) -> str:
    """insert-only: drop the kept rows whose key the destination already holds."""
    return f"DELETE FROM {kept} AS s USING {qualified(schema, table)} AS d WHERE {match(keys)}"


# ---- children ----------------------------------------------------------------------------


def insert_children(schema: str, table: str, source: str, columns: Sequence[str], roots: str,
                    *, new_only: bool = False) -> str:
    """Child rows of `source` whose root row (its exact version: the item it came from) is in `roots`;
    with `new_only`, only those whose `_dlt_id` the child table does not hold yet."""
    target, rid = qualified(schema, table), ident(ROW_ID)
    new = f" AND NOT EXISTS (SELECT 1 FROM {target} AS c WHERE c.{rid} = s.{rid})" if new_only else ""
    where = f"s.{ident(SEQ)} IN ({roots}){new}"
    return insert_select(schema, table, source, columns, where, alias="s")


def delete_children(schema: str, table: str, root_ids: str) -> str:
    return f"DELETE FROM {qualified(schema, table)} WHERE {ident(ROOT_ID)} IN ({root_ids})"


# ---- delete-insert and upsert ------------------------------------------------------------


def matched_by_primary_key(kept: str, schema: str, table: str, keys: Sequence[str]) -> str:
    """The destination's own `_dlt_id`s of rows whose primary key is kept (rows loaded before
    the table was merged have other ids)."""
    return f"SELECT d.{ident(ROW_ID)} FROM {qualified(schema, table)} AS d JOIN {kept} AS s ON {match(keys)}"


def matched_by_merge_key(schema: str, table: str, keys: Sequence[str], source: str) -> str:
    """The `_dlt_id`s of destination rows whose merge key is among `source`'s rows."""
    mk = ident_list(keys)
    return f"SELECT d.{ident(ROW_ID)} FROM {qualified(schema, table)} AS d WHERE ({mk}) IN (SELECT {mk} FROM {source})"


def create_doomed(doomed: str, matches: Sequence[str]) -> str:
    """The table `doomed` (qualified, in the staging schema) of the `_dlt_id`s that `matches` select.

    Unlogged: it lives only within the commit transaction, which drops it (or rolls it back).
    """
    return f"CREATE UNLOGGED TABLE {doomed} AS {' UNION '.join(matches)}"


def doomed_ids(doomed: str) -> str:
    return f"SELECT * FROM {doomed}"


def delete_doomed(doomed: str, schema: str, table: str) -> str:
    return f"DELETE FROM {qualified(schema, table)} WHERE {ident(ROW_ID)} IN ({doomed_ids(doomed)})"


def delete_matched(kept: str, schema: str, table: str, keys: Sequence[str], where: str) -> str:
    """Delete the destination rows a kept row matches where `where` holds: upsert's hard deletes,
    and the rows delete-insert replaces when no child row needs their ids."""
    return f"DELETE FROM {qualified(schema, table)} AS d USING {kept} AS s WHERE {match(keys)} AND {where}"


def update_matched(kept: str, schema: str, table: str, columns: Sequence[str], keys: Sequence[str],
                   where: str) -> str:
    """upsert: overwrite every column of the destination rows a kept row matches."""
    sets = ", ".join(f"{ident(c)} = s.{ident(c)}" for c in columns)
    return f"UPDATE {qualified(schema, table)} AS d SET {sets} FROM {kept} AS s WHERE {match(keys)} AND {where}"


# ---- scd2 --------------------------------------------------------------------------------


def current(valid_to: str, active: str) -> str:
    """True for the destination's current versions: `valid_to` is the active marker (NULL by default)."""
    return f"d.{ident(valid_to)} IS NULL" if active == "NULL" else f"d.{ident(valid_to)} = {active}"


def drop_repeated_versions(kept: str, version: str, keys: Sequence[str] | None = ()) -> str | None:
    """The same version twice in one batch is one version: keep the last. A row version column
    other than the content hash only repeats a version within the same `keys`; None (nothing
    to drop) when such a column has no keys to go by."""
    if keys is None:
        return None
    v, seq = ident(version), ident(SEQ)
    same_key = "".join(f" AND {match([k], 'a', 'b')}" for k in keys)
    return f"DELETE FROM {kept} AS a USING {kept} AS b WHERE a.{v} = b.{v}{same_key} AND a.{seq} < b.{seq}"


def retire(kept: str, schema: str, table: str, *, valid_to: str, at: str, is_current: str, version: str,
           merge_key: Sequence[str] = ()) -> str:
    """End the current versions absent from the batch (within its merge keys, if any) at `at`."""
    v = ident(version)
    scope = ""
    if merge_key:
        scope = (f" AND ({', '.join(f'd.{ident(k)}' for k in merge_key)}) IN "
                 f"(SELECT {ident_list(merge_key)} FROM {kept})")
    # NOT EXISTS, not NOT IN: NOT IN over a large batch degrades to a nested loop
    return (f"UPDATE {qualified(schema, table)} AS d SET {ident(valid_to)} = {at} WHERE {is_current} AND NOT EXISTS "
            f"(SELECT 1 FROM {kept} AS s WHERE s.{v} = d.{v}){scope}")


def forget_current_twins(kept: str, schema: str, table: str, *, version: str, keys: Sequence[str],
                         is_current: str) -> str:
    """Drop kept rows whose version is current already; the same version means the same key
    values, which lets a key index find the twin."""
    v = ident(version)
    same_key = "".join(f" AND {match([k])}" for k in keys)
    return (f"DELETE FROM {kept} AS s USING {qualified(schema, table)} AS d "
            f"WHERE d.{v} = s.{v}{same_key} AND {is_current}")


def insert_versions(kept: str, schema: str, table: str, columns: Sequence[str], *, valid_from: str, valid_to: str,
                    at: str, active: str) -> str:
    """The kept rows as new versions, valid from `at` and marked `active`."""
    names = ident_list([*columns, valid_from, valid_to])
    return f"INSERT INTO {qualified(schema, table)} ({names}) SELECT {ident_list(columns)}, {at}, {active} FROM {kept}"
