"""SQL text, one small pure function per statement.

Identifiers only ever enter SQL through `ident` and values only through `literal` (or
COPY), so quoting lives in one tested place (`quoting`). Builders return a single
statement and never execute anything; each topic has its module:

- `quoting`: identifiers, literals, the non-finite number table the wire formats share;
- `names`: the system names statements spell (`_dlt_id`, the merge's temp tables, ...);
- `ddl`: schemas, tables, columns, indexes;
- `dml`: INSERT/UPDATE/DELETE/COPY and the staging ledger;
- `merge`: the merge strategies' statements (`sql.merge.keep(...)`);
- `reads`: state, loads, the catalog, locks, checks.

Everything but `merge` is re-exported here: `sql.ident(...)`, `sql.create_table(...)`.
"""

from pg_assets.sql import merge, names
from pg_assets.sql.ddl import (
    PRIVILEGES, TABLE_PRIVILEGES, add_columns, add_unique, alter_owner, analyze, column_def, comment_on_column,
    comment_on_table, comment_on_view, create_database, create_index, create_ledger, create_schema,
    create_schema_for, create_table, create_view, drop_columns, drop_schema_if_empty, drop_table, drop_view, grant,
    rename_table, renew_not_null, revoke, set_schema, truncate,
)
from pg_assets.sql.dml import (
    as_jsonb, backfill_root_ids, copy_from_stdin, copy_select_out, delete_all, insert_row,
    insert_select, insert_values_head, ledger_add, ledger_has, local_row_id,
)
from pg_assets.sql.quoting import (
    NON_FINITE, NOW, Expression, decimal_literal, float_literal, ident, ident_list, literal, qualified,
    text_literal,
)
from pg_assets.sql.reads import (
    ALL_REGCLASSES, BACKEND_PID, CAN_CREATE_SCHEMAS, CHILD_TABLES, CHILD_TABLES_OF_SCHEMAS, DATABASE_EXISTS,
    DEPENDENT_VIEWS, EXISTING_SCHEMAS, EXISTING_TABLES, HOLDS_ADVISORY_LOCK, INFORMATION_SCHEMA_COLUMNS,
    LACKING_PRIVILEGES, LOCK_HOLDER, MARKED_TABLES, REGCLASS, REGCLASSES, ROW_ESTIMATE, SCHEMA_EXISTS,
    SCHEMA_HAS_RELATIONS, SESSION_FACTS, SET_SESSION_SETTINGS, SWAP_BLOCKERS, TABLE_ACCESS, TABLE_COLUMNS,
    TRY_ADVISORY_LOCK, advisory_xact_lock, count_duplicates, count_nulls, count_rows, load_committed,
    newest_per_group, newest_schema_hash, newest_state,
)

__all__ = [
    "ALL_REGCLASSES", "BACKEND_PID", "CAN_CREATE_SCHEMAS", "CHILD_TABLES", "CHILD_TABLES_OF_SCHEMAS",
    "DATABASE_EXISTS", "DEPENDENT_VIEWS", "EXISTING_SCHEMAS", "EXISTING_TABLES", "HOLDS_ADVISORY_LOCK",
    "INFORMATION_SCHEMA_COLUMNS", "LACKING_PRIVILEGES", "LOCK_HOLDER", "MARKED_TABLES", "NON_FINITE", "NOW",
    "PRIVILEGES", "REGCLASS", "REGCLASSES", "ROW_ESTIMATE", "SCHEMA_EXISTS", "SCHEMA_HAS_RELATIONS",
    "SESSION_FACTS", "SET_SESSION_SETTINGS", "SWAP_BLOCKERS", "TABLE_ACCESS", "TABLE_COLUMNS", "TABLE_PRIVILEGES",
    "TRY_ADVISORY_LOCK", "Expression", "add_columns", "add_unique", "alter_owner", "comment_on_column",
    "comment_on_view", "create_view", "revoke",
    "advisory_xact_lock", "analyze", "as_jsonb", "backfill_root_ids", "column_def", "comment_on_table",
    "copy_from_stdin", "copy_select_out", "count_duplicates", "count_nulls", "count_rows", "create_database",
    "create_index", "create_ledger", "create_schema", "create_schema_for", "create_table", "decimal_literal",
    "delete_all", "drop_columns", "drop_schema_if_empty", "drop_table", "drop_view", "float_literal", "grant",
    "ident", "ident_list", "insert_row",
    "insert_select", "insert_values_head", "ledger_add", "ledger_has", "literal", "load_committed", "local_row_id",
    "merge", "names", "newest_per_group", "newest_schema_hash", "newest_state", "qualified", "rename_table",
    "renew_not_null", "set_schema", "text_literal", "truncate",
]
