"""Driver errors, classified in one place: transient ones are retried, the rest fail now.

Transient: connection loss and other class 08 errors, deadlocks and serialization
failures (class 40), the server running out of resources (class 53) or being shut
down (57P), and a `lock_timeout` that expired (55P03: the lock may be free next time).
A driver error without a SQLSTATE is transient when it is an `OperationalError` or an
`InterfaceError` (the connection is gone). A `statement_timeout` (57014) is terminal:
it is a limit the user set. Everything else (bad data, constraint violations, syntax errors,
missing objects) is terminal. A view that blocks a replace is its own error, and a
statement the server cancelled for its `statement_timeout` names the setting, its
value and how to give loads more.

A connection that cannot be opened is classified here too (`connect_failure`), by what
libpq says failed: a refused login, a `pg_hba.conf` rule, a certificate the client
rejected or a CA file it cannot find are the user's settings and never retried; nothing
answering, a timeout or a missing socket may pass, and are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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


def describe(exc: BaseException, *, table: str | None = None, action: str = "loading", statement: str | None = None,
             statement_timeout: str | None = None) -> TerminalLoadError:
    """A terminal error that names the table, column and offending value when the server said them.

    `statement` (what ran) and `statement_timeout` (the session's value) make a cancelled
    statement name itself, its table and the setting that cancelled it.
    """
    diag: Any = getattr(exc, "diag", None)
    table = table or getattr(diag, "table_name", None) or (statement and _table_of(statement))
    column = getattr(diag, "column_name", None)
    context = getattr(diag, "context", None)
    detail = getattr(diag, "message_detail", None)
    what = f"{action} table `{table}`" if table else action
    parts = [f"{what} failed: {_first_line(exc)}"]
    if detail:
        parts.append(f"detail: {detail}")
    if context:
        parts.append(f"where: {context.strip()}")
    if getattr(exc, "pgcode", None) == errorcodes.DEPENDENT_OBJECTS_STILL_EXIST:
        parts.append("An object depends on this table that a swap cannot create again (one made while the load "
                     "ran: the load checks before staging). Drop it, or use `replace_strategy: truncate-and-insert`, "
                     "which keeps the table.")
        return DependentObjectsError("\n  ".join(parts), table=table)
    if _timed_out(exc):
        parts.extend(_timeout_advice(statement, statement_timeout))
    elif getattr(exc, "pgcode", None) == errorcodes.INSUFFICIENT_PRIVILEGE:
        parts.append(_privilege_advice(str(exc)))
    return TerminalLoadError("\n  ".join(parts), table=table, column=column)


def _privilege_advice(said: str) -> str:
    """What to do when the server found a missing privilege the start-up check could not know of."""
    owner = ("Only a table's owner may add its columns or indexes (new keys in the data): make the loading role "
             "its owner (`ALTER TABLE ... OWNER TO ...`), or load as the owner. " if "must be owner" in said else "")
    return (f"{owner}`pg-assets check` lists every privilege the spec's loads are known to need, with the GRANT "
            "lines (see docs/privileges.md). Nothing of the load was committed.")


# the first `"schema"."table"` a statement names (identifiers are always quoted by `sql.ident`)
_QUALIFIED = re.compile(r'"((?:[^"]|"")+)"\."((?:[^"]|"")+)"')


def _table_of(statement: str) -> str | None:
    found = _QUALIFIED.search(statement)
    return found.group(2).replace('""', '"') if found else None


def _timed_out(exc: BaseException) -> bool:
    """A statement cancelled by `statement_timeout` (not by a user's `pg_cancel_backend`)."""
    return getattr(exc, "pgcode", None) == errorcodes.QUERY_CANCELED and "statement timeout" in str(exc)


def _timeout_advice(statement: str | None, timeout: str | None) -> list[str]:
    value = f" = {timeout}" if timeout else ""
    shown = " ".join(statement.split()) if statement else None
    lines = [f"statement: {shown[:200]}{'...' if len(shown) > 200 else ''}"] if shown else []
    return lines + [
        f"The server cancelled it after `statement_timeout`{value} (set in the credentials, on the role, the "
        "database or the server; `SHOW statement_timeout` says which value a session gets). Give loads more "
        "time in the credentials' `options`, which apply to pg_assets' sessions only: "
        "`?options=-c%20statement_timeout%3D0` in the URI (no limit), or `-c statement_timeout=30min`. "
        "Nothing of the load was committed."]


# ---- connections that could not be opened --------------------------------------------------

# Substring of libpq's message -> what failed, naming the setting to change, and whether trying
# again can help. First match wins, so the pg_hba rules (their text names a user and a database)
# come before the role and database rules; no match is a passing fault (retried).
_CONNECT_FAILURES: tuple[tuple[str, str, bool], ...] = (
    ("password authentication failed", "the `password` or `username` is wrong (user `{user}`)", False),
    ("no password supplied", "the server asks user `{user}` for a password and no `password` is set", False),
    ("pg_hba.conf rejects connection", "the server's pg_hba.conf has a `reject` rule for user `{user}` to "
     "database `{database}` from this client{encryption}", False),
    ("no pg_hba.conf entry", "the server does not let user `{user}` in from this client (pg_hba.conf): "
     "check `username`, `database` and `sslmode`{encryption}", False),
    ("root certificate file", "the client cannot verify the server's certificate (`sslmode={sslmode}`): the "
     "CA file it verifies it with does not exist. Set `sslrootcert` to the file of the CA that signed the "
     "server's certificate, `sslrootcert=system` for the system's trusted CAs, or `sslmode=require` to "
     "encrypt without verifying", False),
    ("certificate verify failed", "the client rejected the server's certificate (`sslmode={sslmode}`): it is "
     "not signed by the CA in `sslrootcert`{rootcert}. Set `sslrootcert` to the CA that signed the server's "
     "certificate", False),
    ("does not match host name", "the server's certificate is not issued for host `{host}` "
     "(`sslmode=verify-full`): connect by a name the certificate lists, or use `sslmode=verify-ca`", False),
    ("server does not support SSL", "the server does not accept TLS, and `sslmode={sslmode}` requires it: "
     "enable `ssl` on the server, or set `sslmode=prefer`", False),
    ("alert unknown ca", "the server rejected the client's certificate (`sslcert`): the server's "
     "`ssl_ca_file` does not trust its CA", False),
    ("could not read certificate", "the client certificate file cannot be read: check `sslcert`", False),
    ("could not load private key", "the client key file cannot be read: check `sslkey`", False),
    ("unsupported startup parameter", "a connection pooler in front of the server refuses the startup "
     "parameter `options`, which pg_assets sets (`timezone=UTC`, `standard_conforming_strings=on`, and the "
     "credentials' own): for PgBouncer, add `ignore_startup_parameters = options` to pgbouncer.ini, and "
     "pg_assets sets them once connected", False),
    ('role "', "user `{user}` does not exist on the server: check `username`", False),
    ('database "', "database `{database}` does not exist: check `database` or create it", False),
    ("could not translate host name", "host `{host}` is not a known host name: check `host`", False),
    ("Connection refused", "nothing accepts connections at `{host}` port {port}: check `host` and `port`, "
     "and that the server runs (`pg_isready -h {host} -p {port}`)", True),
    ("timeout expired", "no answer from `{host}` port {port} within {timeout} s: check `host`, `port` "
     "and any firewall, or raise `connect_timeout`", True),
    ("No such file or directory", "no server socket in `{host}` for port {port}: check `host` and `port`, "
     "and that the server runs", True),
)


def connect_failure(driver_message: str, fields: Mapping[str, Any]) -> tuple[str, bool]:
    """What a failed connect means, naming the setting to change, and whether trying again can help.

    `fields` fill the explanation: `user`, `database`, `host`, `port`, `timeout`, `sslmode`
    and `sslrootcert` (None when unset).
    """
    for key, why, transient in _CONNECT_FAILURES:
        if key in driver_message:
            return why.format(**fields, encryption=_encryption_hint(driver_message, fields),
                              rootcert=f" (`{fields['sslrootcert']}`)" if fields.get("sslrootcert") else ""), transient
    return "the connection could not be opened", True


def _encryption_hint(driver_message: str, fields: Mapping[str, Any]) -> str:
    """What to change when the server's rule is for connections without TLS."""
    if driver_message.rstrip().endswith("no encryption"):
        return (f"; the rule matches connections without TLS (`sslmode={fields['sslmode']}`): connect with "
                "`sslmode=require` (or `verify-full` with `sslrootcert`)")
    return ""
