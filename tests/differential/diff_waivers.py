"""Differences the harness finds that other work on issue 19 removes, each waived by a named flag.

A waived difference is still looked for: `test_differential.py` has one strict xfail per
waiver, which starts failing (XPASS) the moment the corpus no longer shows that difference.
Then delete the flag from `WAIVED`, and the harness checks that aspect like every other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from diff_snapshot import Difference

HASHED_CASES = ("upsert", "scd2", "scd2_mk")  # tables whose root `_dlt_id` dlt hashes from values
TWIN = "pg_assets"


@dataclass(frozen=True)
class Waiver:
    """What one flag hides, and the issue-19 item that removes it."""

    item: str
    reason: str
    explains: Callable[[str, Difference], bool]  # (comparison, difference) -> hidden by this flag


WAIVERS: dict[str, Waiver] = {
    "row_keys_from_typed_values": Waiver(
        "issue 19, item 1",
        "upsert key hashes and scd2 row hashes: dlt hashes datetimes, dates and Decimals as its normalizer reads "
        "them back from the extract file (typed-JSON strings), pg_assets hashes the Python values; on a hand-over "
        "scd2 retires the other tool's versions and upsert orphans its children",
        lambda comparison, d: d.case in HASHED_CASES and (
            d.aspect == "row_keys" or (d.aspect == "rows" and comparison != TWIN))),
    "root_key_propagation": Waiver(
        "issue 19, item 2",
        "scd2 child tables: pg_assets adds `_dlt_root_id`, dlt 1.31 does not",
        lambda comparison, d: d.aspect == "ddl" and d.case in ("scd2", "scd2_mk") and "_dlt_root_id" in str(d)),
    "stored_schema_keys": Waiver(
        "issue 19, item 4",
        "the stored schema document: keys dlt writes that pg_assets leaves out or changes (descriptions of the "
        "system tables' columns, `x-merge-strategy: delete-insert`, `x-boundary-timestamp`, the scd2 root-key "
        "propagation), and the schema versions a hand-over adds",
        lambda comparison, d: d.aspect == "stored_schema" or (
            d.aspect == "bookkeeping" and d.where.startswith(("`_dlt_version`", "`_dlt_loads`")))),
    "state_keys": Waiver(
        "issue 19, item 4",
        "the pipeline state: dlt keeps an empty `sources.<pipeline>` entry pg_assets leaves out, so a hand-over "
        "to dlt writes a new state version",
        lambda comparison, d: d.aspect == "state" or (
            d.aspect == "bookkeeping" and d.where.startswith("`_dlt_pipeline_state`"))),
    # found by this harness: dlt's rules per merge strategy
    "insert_only_children_of_existing_keys": Waiver(
        "issue 19, item 2",
        "insert-only: in the CI corpus (its second generated example) dlt adds child rows under keys loaded in "
        "the first batch, in child tables that are new in the second; pg_assets adds none (no smaller "
        "reproducer found yet)",
        lambda comparison, d: d.case == "insert_only" and d.aspect in ("rows", "row_keys")),
    "scd2_grandchildren_of_new_versions": Waiver(
        "issue 19, item 2",
        "scd2: rows two levels down (a list of lists inside a child list, `t__a__b__list`) of a version that is "
        "new in the second load: pg_assets stores them, dlt 1.31 does not",
        lambda comparison, d: d.case in ("scd2", "scd2_mk") and d.aspect == "rows" and "__list`" in d.where
        and "only in other" in d.where),
}

# Kept out of the corpus instead (`diff_corpus`), each a difference found and left open:
# - a float inf or -inf in a dict item: dlt stores NULL (and makes no column of such values alone),
#   pg_assets stores `Infinity` / `-Infinity` (and makes a `double precision` column);
# - `b""`: dlt stores the text "\uf02b" (its typed-JSON marker, read back as text), pg_assets an empty value;
# - text that starts with one of dlt's typed-JSON markers (U+F026..U+F02D): dlt may read it back as another type;
# - an aware `datetime.time` under upsert / scd2: pg_assets' key hash refuses it with a TypeError (item 1).

# Delete a name here once its work is merged: the harness then checks that difference too.
WAIVED: frozenset[str] = frozenset(WAIVERS)


def waiver_of(comparison: str, difference: Difference) -> str | None:
    """The waived flag that explains `difference`, None when it is a real finding."""
    return next((flag for flag in sorted(WAIVED) if WAIVERS[flag].explains(comparison, difference)), None)
