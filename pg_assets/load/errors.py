"""Driver errors, classified in one place: transient ones are retried, the rest fail now.

Transient: connection loss and other class 08 errors, deadlocks and serialization
failures (class 40), the server running out of resources (class 53) or being shut
down (57P), and a `lock_timeout` that expired (55P03: the lock may be free next time).
A driver error without a SQLSTATE is transient when it is an `OperationalError` or an
`InterfaceError` (the connection is gone). A `statement_timeout` (57014) is terminal:
it is a limit the user set. Everything else (bad data, constraint violations, syntax errors,
missing objects) is terminal. A view that blocks a replace is its own error.
"""

from __future__ import annotations

from typing import Any

import psycopg2
from psycopg2 import errorcodes

from pg_assets.errors import (
    CredentialsError,
    DependentObjectsError,
    PgAssetsError,
    TerminalLoadError,
    TransientLoadError,
)

_TRANSIENT_CLASSES = ("08", "40", "53", "57P", errorcodes.LOCK_NOT_AVAILABLE)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same work may succeed."""
    if isinstance(exc, psycopg2.InterfaceError):
        return True  # the connection is gone
    if not isinstance(exc, psycopg2.Error):
        return False
    code = exc.pgcode or ""
    if not code:
        return isinstance(exc, psycopg2.OperationalError)
    return code.startswith(_TRANSIENT_CLASSES) and code != errorcodes.QUERY_CANCELED


# SQLSTATE classes that mean the login or the database named in the settings is wrong
_CREDENTIAL_CLASSES = ("28", errorcodes.INVALID_CATALOG_NAME)


def as_error(exc: BaseException, *, action: str = "talking to the destination") -> PgAssetsError:
    """The error of the `PgAssetsError` tree for a driver error that got this far, by SQLSTATE class.

    Used where a driver error would otherwise escape (the Python API, the CLI): transient
    classes become `TransientLoadError`, an invalid login or database `CredentialsError`,
    the rest a `TerminalLoadError` naming what the server said.
    """
    if isinstance(exc, PgAssetsError):
        return exc
    code = getattr(exc, "pgcode", None) or ""
    if code.startswith(_CREDENTIAL_CLASSES):
        return CredentialsError(f"{action} failed: {_first_line(exc)}: check `username`, `password` and `database`")
    if is_transient(exc):
        return TransientLoadError(f"{action} failed and may work if tried again: {_first_line(exc)}")
    return describe(exc, action=action)


def _first_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return primary
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(exc: BaseException, *, table: str | None = None, action: str = "loading") -> TerminalLoadError:
    """A terminal error that names the table, column and offending value when the server said them."""
    diag: Any = getattr(exc, "diag", None)
    table = table or getattr(diag, "table_name", None)
    column = getattr(diag, "column_name", None)
    context = getattr(diag, "context", None)
    detail = getattr(diag, "message_detail", None)
    parts = [f"{action} table `{table}` failed: {_first_line(exc)}" if table else f"{action} failed: {_first_line(exc)}"]
    if detail:
        parts.append(f"detail: {detail}")
    if context:
        parts.append(f"where: {context.strip()}")
    if getattr(exc, "pgcode", None) == errorcodes.DEPENDENT_OBJECTS_STILL_EXIST:
        parts.append("An object depends on this table that a swap cannot create again (one made while the load "
                     "ran: the load checks before staging). Drop it, or use `replace_strategy: truncate-and-insert`, "
                     "which keeps the table.")
        return DependentObjectsError("\n  ".join(parts), table=table)
    return TerminalLoadError("\n  ".join(parts), table=table, column=column)
