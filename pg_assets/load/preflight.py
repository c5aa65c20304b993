"""Whether the server a load reached can take it at all: asked once, before the run lock.

A load writes, holds a session-level run lock across many transactions, and stages
through several connections. So it is refused at the start, naming what to change, when:

- the server is a hot standby (`pg_is_in_recovery()`): nothing can be written there;
- sessions are read-only (`default_transaction_read_only = on`, for the server, the
  database or the role): every write would fail;
- a pooler hands consecutive transactions of one connection to different server
  sessions (PgBouncer's `pool_mode = transaction` or `statement`): the run lock and the
  staging ledger would belong to whichever session ran them.

A pooler shows itself by a backend pid in the connection's startup (PgBouncer makes one
up) that differs from `pg_backend_pid()`. Behind one, the load asks for the server pid once
more on the same connection and once on a second connection: in session pooling a client
keeps its server session, so the first answer is the same pid and the second another; in
transaction pooling the session is released after each transaction and handed to the next
one, whoever runs it (PgBouncer reuses the most recently released session first), so the
second connection gets the same pid. A direct connection costs one query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pg_assets import sql
from pg_assets.connection import close_quietly
from pg_assets.errors import UnsuitableDestinationError


@dataclass(frozen=True)
class SessionFacts:
    """What the server says of the load's session: who it is, and the limits it runs under."""

    role: str
    database: str
    server_pid: int
    statement_timeout: str


def check_server(conn: Any, where: str, open_probe: Callable[[], Any]) -> SessionFacts:
    """The session's facts; raises `UnsuitableDestinationError` for a standby, read-only sessions or
    transaction pooling. `where` names the destination (a safe URI); `open_probe` opens a second
    connection, only behind a pooler."""
    with conn.cursor() as cur:
        cur.execute(sql.SESSION_FACTS)
        standby, default_read_only, read_only, pid, role, database, timeout = cur.fetchone()
    if standby:
        raise UnsuitableDestinationError(
            f"`{where}` is a hot standby (`pg_is_in_recovery()` is true): it only replays the primary's changes "
            "and cannot take a load. Point the credentials at the primary; with several hosts in the URI, "
            "`target_session_attrs=read-write` picks it.", reason="hot_standby")
    if default_read_only or read_only:
        raise UnsuitableDestinationError(
            f"Sessions of role `{role}` on `{where}` are read-only (`default_transaction_read_only = on`, set on "
            f"the server, database `{database}` or the role), and a load writes. Turn it off for the loading role "
            f"(`ALTER ROLE {sql.ident(role)} SET default_transaction_read_only = off`) or in the credentials' "
            "`options` (`?options=-c%20default_transaction_read_only%3Doff`).", reason="read_only")
    if conn.get_backend_pid() != pid:
        _refuse_transaction_pooling(conn, where, pid, open_probe)
    return SessionFacts(role, database, pid, timeout)


def _refuse_transaction_pooling(conn: Any, where: str, pid: int, open_probe: Callable[[], Any]) -> None:
    """Behind a pooler: refuse when another transaction, of this client or another, got this server session."""
    again = _server_pid(conn)
    probe = open_probe()
    try:
        other = _server_pid(probe)
    finally:
        close_quietly(probe)
    if again != pid or other == pid:
        seen = f"server pid {pid}, then {again}" if again != pid else f"server pid {pid} for two client connections"
        raise UnsuitableDestinationError(
            f"`{where}` is reached through a connection pooler in transaction (or statement) pooling mode: "
            f"consecutive transactions ran in different client/server pairings ({seen}). A load holds a "
            "session-level run lock and stages across many transactions, so it needs one server session for "
            "its connection: connect to the server directly, or through a pool in session mode (PgBouncer "
            "`pool_mode = session`).", reason="transaction_pooling")


def _server_pid(conn: Any) -> int:
    with conn.cursor() as cur:
        cur.execute(sql.BACKEND_PID)
        return int(cur.fetchone()[0])
