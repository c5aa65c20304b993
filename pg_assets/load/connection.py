"""Opening connections the way every pg_assets session needs them.

Sessions run in UTC (naive timestamps mean UTC, as in dlt) with standard-conforming
strings (the literal encoder relies on it), and carry an `application_name` that says
which pipeline and load they serve, so a blocked run can name the run that blocks it.

A connection that cannot be opened for a passing reason (refused, reset, timed out) is
tried again within the retry budget of `retry.py`; a refused login is not.
"""

from __future__ import annotations

from typing import Any

from pg_assets.credentials import ConnectionConfig
from pg_assets.errors import ServerUnavailableError
from pg_assets.load.retry import Retries

SESSION_OPTIONS = "-c timezone=UTC -c standard_conforming_strings=on"


def open_connection(config: ConnectionConfig, application_name: str, *, autocommit: bool = True,
                    retries: Retries | None = None) -> Any:
    """A new psycopg2 connection with pg_assets' session settings, retried while the server is unavailable.

    Raises:
        CredentialsError: the login, role, database or host name is wrong (never retried).
        ServerUnavailableError: no connection could be opened within the retry budget.
    """
    import psycopg2

    retries = retries or Retries()
    options = " ".join(o for o in (config.query.get("options"), SESSION_OPTIONS) if o)
    attempt = 0
    while True:
        attempt += 1
        try:
            conn = config.connect(options=options, application_name=application_name[:63])
            try:
                conn.autocommit = autocommit
            except psycopg2.Error as exc:
                close_quietly(conn)
                raise ServerUnavailableError(f"the connection to `{config.safe_uri()}` broke as it opened") from exc
            return conn
        except ServerUnavailableError as exc:
            if not retries.pause(f"connecting to `{config.safe_uri()}`", exc, attempt):
                raise


def close_quietly(conn: Any) -> None:
    """Close a connection that may already be broken."""
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead connection must not mask the real error
        pass
