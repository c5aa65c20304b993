"""Opening connections the way every pg_assets session needs them.

Sessions run in UTC (naive timestamps mean UTC, as in dlt) with standard-conforming
strings (the literal encoder relies on it), and carry an `application_name` that says
which pipeline and load they serve, so a blocked run can name the run that blocks it.
"""

from __future__ import annotations

from typing import Any

from pg_assets.credentials import ConnectionConfig

SESSION_OPTIONS = "-c timezone=UTC -c standard_conforming_strings=on"


def open_connection(config: ConnectionConfig, application_name: str, *, autocommit: bool = True) -> Any:
    """A new psycopg2 connection with pg_assets' session settings."""
    options = " ".join(o for o in (config.query.get("options"), SESSION_OPTIONS) if o)
    conn = config.connect(options=options, application_name=application_name[:63])
    conn.autocommit = autocommit
    return conn


def close_quietly(conn: Any) -> None:
    """Close a connection that may already be broken."""
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead connection must not mask the real error
        pass
