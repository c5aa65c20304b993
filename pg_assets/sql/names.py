"""System names that statements spell: the `_dlt_*` columns and pg_assets' own.

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
