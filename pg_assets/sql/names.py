"""System names that statements spell: the `_dlt_*` columns, pg_assets' own, the merge's temp tables.

Each is written once, as the plain name; builders quote it with `ident` like any other
identifier, so no statement carries a hand-quoted name.
"""

from __future__ import annotations

from pg_assets.sql.quoting import qualified

ROW_ID, PARENT_ID, ROOT_ID = "_dlt_id", "_dlt_parent_id", "_dlt_root_id"
LOAD_ID, LIST_IDX = "_dlt_load_id", "_dlt_list_idx"
SEQ = "_pg_assets_seq"
"""The staged row's load order: which duplicate is last, and which root version a child belongs to."""
ROW_NUMBER = "_pg_assets_rn"
LEDGER_BATCH = "batch"
"""The ledger's one column: the number of a batch already staged."""

# Temporary tables and views are always named `pg_temp.<name>`: an unqualified DROP could
# otherwise reach a user's table of the same name on the search path.
TEMP_SCHEMA = "pg_temp"
KEEP_TABLE, DOOMED_TABLE = "pg_assets_keep", "pg_assets_doomed"
KEEP = qualified(TEMP_SCHEMA, KEEP_TABLE)
"""The surviving staged root rows of a merge, one per primary key: a view of the staging table."""
DOOMED = qualified(TEMP_SCHEMA, DOOMED_TABLE)
"""The `_dlt_id`s of destination rows a delete-insert merge replaces."""
