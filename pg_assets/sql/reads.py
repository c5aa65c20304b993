"""Reads: state, loads, the catalog, locks and checks.

Values the caller knows only at run time are bound as `%s` parameters by the driver;
the builders here place identifiers only.
"""

from __future__ import annotations

from collections.abc import Sequence

from pg_assets.sql.names import PARENT_ID
from pg_assets.sql.quoting import ident, ident_list, literal, qualified

# ---- existence and locks -----------------------------------------------------------------

REGCLASS = "SELECT to_regclass(%s)"
REGCLASSES = "SELECT to_regclass(%s), to_regclass(%s)"
ALL_REGCLASSES = "SELECT count(to_regclass(r)) = count(*) FROM unnest(%s::text[]) AS r"
"""Whether every table of the `%s` array of qualified names exists."""
DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = %s"
SCHEMA_EXISTS = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)"
EXISTING_SCHEMAS = "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)"
"""Which schemas of the `%s` array exist (pg_namespace: readable without any privilege)."""
EXISTING_TABLES = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)")
"""Which tables of schema `%s` named in the `%s` array exist, whatever the role may see of them."""
MARKED_TABLES = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = %s AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') = %s")
"""Tables of schema `%s` whose comment is the marker `%s`."""
SCHEMA_HAS_RELATIONS = ("SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s)")
"""Whether schema `%s` holds any table, view, sequence or index."""
CAN_CREATE_SCHEMAS = "SELECT has_database_privilege(current_database(), 'CREATE')"
"""Whether the session's role may create schemas (and so make a dropped staging schema again)."""
TRY_ADVISORY_LOCK = "SELECT pg_try_advisory_lock(%s, %s)"
# pg_locks shows the int4 keys as oids, i.e. unsigned; `-1::int4` would also parse as -(1::int4),
# which overflows for the smallest key, so callers pass the keys unsigned
LOCK_HOLDER = ("SELECT a.application_name, a.pid, a.backend_start, a.client_addr FROM pg_locks l "
               "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
               "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.objsubid = 2")
HOLDS_ADVISORY_LOCK = ("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                       "AND pid = pg_backend_pid() AND classid = %s::bigint::oid AND objid = %s::bigint::oid "
                       "AND objsubid = 2)")


def advisory_xact_lock(key: int, *, shared: bool = False) -> str:
    """Wait for a transaction-scoped advisory lock on a 64-bit key (released at COMMIT or ROLLBACK)."""
    kind = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    return f"SELECT {kind}({literal(int(key))})"


# ---- the server and the role --------------------------------------------------------------

SESSION_FACTS = ("SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')::bool, "
                 "current_setting('transaction_read_only')::bool, pg_backend_pid(), current_user, "
                 "current_database(), current_setting('statement_timeout')")
"""Standby, read-only default, read-only now, server pid, role, database, statement_timeout."""
BACKEND_PID = "SELECT pg_backend_pid()"
SET_SESSION_SETTINGS = "SELECT set_config(n, v, false) FROM unnest(%s::text[], %s::text[]) AS t(n, v)"
"""Set each setting of the `%s` array of names to the `%s` array's value, for the session."""
# One row per privilege of the arrays (kind, object, privilege) that the role lacks, by position.
# `OWNER` of a table is membership in its owner role (what ALTER and DROP check).
LACKING_PRIVILEGES = """
SELECT n.ord FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS n(kind, obj, priv, ord)
WHERE NOT COALESCE(CASE
  WHEN n.priv = 'OWNER' THEN pg_has_role((SELECT relowner FROM pg_class WHERE oid = to_regclass(n.obj)), 'USAGE')
  WHEN n.kind = 'database' THEN has_database_privilege(n.obj, n.priv)
  WHEN n.kind = 'schema' THEN has_schema_privilege((SELECT oid FROM pg_namespace WHERE nspname = n.obj), n.priv)
  ELSE has_table_privilege(to_regclass(n.obj), n.priv) END, TRUE)
ORDER BY n.ord
"""
"""The ordinals of the (kind, object, privilege) needs the session's role lacks. Schemas and tables
are looked up by name first: one another load drops meanwhile (an empty staging schema) is not
reported, where naming it would raise `schema ... does not exist`; the load makes it again."""


# ---- state and loads ---------------------------------------------------------------------


def load_committed(schema: str, loads: str) -> str:
    """A row when load `%s` is in the `_dlt_loads` table."""
    return f"SELECT 1 FROM {qualified(schema, loads)} WHERE load_id = %s"


def newest_state(schema: str, state: str, loads: str) -> str:
    """The newest state of pipeline `%s` written by a completed load."""
    return (f"SELECT s.state FROM {qualified(schema, state)} AS s "
            f"JOIN {qualified(schema, loads)} AS l ON l.load_id = s._dlt_load_id "
            "WHERE s.pipeline_name = %s AND l.status = 0 ORDER BY s.version DESC, l.load_id DESC LIMIT 1")


def newest_schema_hash(schema: str, loads: str) -> str:
    """The schema version hash of the newest completed load of schema `%s`."""
    return (f"SELECT schema_version_hash FROM {qualified(schema, loads)} "
            "WHERE schema_name = %s AND status = 0 ORDER BY load_id DESC LIMIT 1")


def newest_per_group(schema: str, table: str, columns: Sequence[str], *, group: str,
                     newest_first: Sequence[str]) -> str:
    """The newest row of each `group` value, newest by `newest_first` (descending, in order)."""
    order = ", ".join(f"{ident(c)} DESC" for c in newest_first)
    return (f"SELECT DISTINCT ON ({ident(group)}) {ident_list(columns)} FROM {qualified(schema, table)} "
            f"ORDER BY {ident(group)}, {order}")


# ---- the catalog -------------------------------------------------------------------------

INFORMATION_SCHEMA_COLUMNS = (
    "SELECT table_name, column_name, data_type, is_nullable, numeric_precision, numeric_scale "
    "FROM information_schema.columns WHERE table_schema = %s ORDER BY table_name, ordinal_position")
"""Every column of schema `%s`, in ordinal order."""
CHILD_TABLES = f"""
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND starts_with(c.relname, %s)
  AND EXISTS (SELECT 1 FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attname = {literal(PARENT_ID)} AND NOT a.attisdropped)
ORDER BY c.relname
"""
"""Tables of schema `%s` named with prefix `%s` that carry `_dlt_parent_id`."""
CHILD_TABLES_OF_SCHEMAS = f"""
SELECT table_schema, table_name FROM information_schema.columns
WHERE table_schema = ANY(%s) AND column_name = {literal(PARENT_ID)}
ORDER BY table_schema, table_name
"""
"""(schema, table) of every table in the `%s` array of schemas that carries `_dlt_parent_id`."""
# One row per column; `uniq` is true when a single-column unique index covers it.
TABLE_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique
               AND i.indnatts = 1 AND i.indkey[0] = a.attnum) AS uniq
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""
# `reltuples` is -1 for a table never vacuumed or analysed (Postgres 14+).
ROW_ESTIMATE = """
SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""


def count_rows(schema: str, table: str) -> str:
    return f"SELECT count(*) FROM {qualified(schema, table)}"


# ---- checks ------------------------------------------------------------------------------


def count_nulls(schema: str, table: str, column: str) -> str:
    """How many rows hold NULL in `column`."""
    return f"SELECT count(*) FROM {qualified(schema, table)} WHERE {ident(column)} IS NULL"


def count_duplicates(schema: str, table: str, columns: Sequence[str], *, current: str | None = None) -> str:
    """How many rows share their (non-NULL) value of `columns` with another; with `current`,
    among the rows whose `current` column is NULL only (an scd2 table's current versions)."""
    conditions = [f"{ident(c)} IS NOT NULL" for c in columns]
    if current:
        conditions.append(f"{ident(current)} IS NULL")
    return (f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {qualified(schema, table)} "
            f"WHERE {' AND '.join(conditions)} GROUP BY {ident_list(columns)} HAVING count(*) > 1) d")


# ---- what depends on tables a swap replaces --------------------------------------------------
# Both take the schema `%s` and the `%s` array of its table names. A view (or materialized view)
# depends on a table through its `_RETURN` rule; views on views are followed to any depth.

# the privileges on relation `c` as (grantee or NULL for PUBLIC, privilege, grantable, grantor)
_GRANTS = """ARRAY(SELECT ARRAY[CASE WHEN x.grantee = 0 THEN NULL ELSE pg_get_userbyid(x.grantee) END,
                          x.privilege_type, x.is_grantable::text, pg_get_userbyid(x.grantor)]
             FROM aclexplode(c.relacl) x)"""
TABLE_ACCESS = """
SELECT c.relname, pg_get_userbyid(c.relowner), c.relacl IS NULL, """ + _GRANTS + """, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')
"""
"""Owner, whether privileges are the default, privileges and comment of each of the tables."""
_DEPENDENT_VIEW_OIDS = """
WITH RECURSIVE swapped AS (
    SELECT c.oid, c.relname::text AS base FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')
), dependents(oid, base, depth) AS (
    SELECT DISTINCT r.ev_class, s.base, 1 FROM swapped s
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = s.oid
                    AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid AND r.rulename = '_RETURN' AND r.ev_class <> s.oid
    UNION
    SELECT r.ev_class, v.base, v.depth + 1 FROM dependents v
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = v.oid
                    AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid AND r.rulename = '_RETURN' AND r.ev_class <> v.oid
)"""
DEPENDENT_VIEWS = _DEPENDENT_VIEW_OIDS + """
SELECT n.nspname, c.relname, c.relkind = 'm', pg_get_viewdef(c.oid), pg_get_userbyid(c.relowner),
       pg_has_role(c.relowner, 'MEMBER'), has_schema_privilege(n.oid, 'CREATE'), c.relispopulated,
       obj_description(c.oid, 'pg_class'), coalesce(c.reloptions, '{}'),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = c.oid ORDER BY i.indexrelid),
       ARRAY(SELECT ARRAY[a.attname::text, col_description(c.oid, a.attnum)] FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND col_description(c.oid, a.attnum) IS NOT NULL ORDER BY a.attnum),
       c.relacl IS NULL, """ + _GRANTS + """,
       d.depth, d.bases
FROM (SELECT oid, max(depth) AS depth, array_agg(DISTINCT base ORDER BY base) AS bases
      FROM dependents GROUP BY oid) d
JOIN pg_class c ON c.oid = d.oid JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY d.depth, n.nspname, c.relname
"""
"""Every view over the tables, in an order that creates each after what it reads: schema, name,
materialized, definition, owner, whether the loading role is a member of the owner, may create
in the view's schema, populated, comment, options, index definitions, column comments, whether
it has default privileges, and its privileges as (grantee or NULL for PUBLIC, privilege,
grantable, grantor)."""
SWAP_BLOCKERS = _DEPENDENT_VIEW_OIDS + """, rels AS (
    SELECT oid FROM swapped UNION SELECT oid FROM dependents
), blockers(what, what_on) AS (
    SELECT pg_describe_object(d.classid, d.objid, d.objsubid), d.refobjid FROM pg_depend d
    JOIN rels ON d.refclassid = 'pg_class'::regclass AND d.refobjid = rels.oid
    WHERE d.deptype = 'n' AND NOT (d.classid = 'pg_rewrite'::regclass AND EXISTS (
        SELECT 1 FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class
        WHERE r.oid = d.objid AND r.rulename = '_RETURN' AND v.relkind IN ('v', 'm')))
    UNION
    SELECT pg_describe_object(d.classid, d.objid, d.objsubid), c.oid FROM rels
    JOIN pg_class c ON c.oid = rels.oid
    JOIN pg_depend d ON d.refclassid = 'pg_type'::regclass AND d.refobjid = c.reltype AND d.deptype = 'n'
    UNION
    SELECT pg_describe_object('pg_rewrite'::regclass, r.oid, 0), r.ev_class FROM pg_rewrite r
    JOIN rels ON r.ev_class = rels.oid WHERE r.rulename <> '_RETURN'
    UNION
    SELECT pg_describe_object('pg_trigger'::regclass, t.oid, 0), t.tgrelid FROM pg_trigger t
    JOIN rels ON t.tgrelid = rels.oid WHERE NOT t.tgisinternal
    UNION
    SELECT pg_describe_object('pg_policy'::regclass, p.oid, 0), p.polrelid FROM pg_policy p
    JOIN rels ON p.polrelid = rels.oid
    UNION
    SELECT pg_describe_object('pg_attrdef'::regclass, ad.oid, 0), ad.adrelid FROM pg_attrdef ad
    JOIN dependents v ON ad.adrelid = v.oid
    UNION
    SELECT 'privileges on columns of ' || pg_describe_object('pg_class'::regclass, a.attrelid, 0), a.attrelid
    FROM pg_attribute a JOIN dependents v ON a.attrelid = v.oid WHERE a.attacl IS NOT NULL
)
SELECT DISTINCT b.what, pg_describe_object('pg_class'::regclass, b.what_on, 0) FROM blockers b ORDER BY 1, 2
"""
"""What a swap of the tables would lose and cannot recreate, as (object, the relation it is on or
depends on), described by the server: rules, triggers and policies on the tables or their views,
foreign keys and other objects that depend on them, functions and columns of their row types,
defaults and column privileges of their views."""
