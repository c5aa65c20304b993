"""How to reach one Postgres database, and how every pg_assets session opens a connection to it.

`ConnectionConfig` is the destination as data: where the server is, how to log in,
and a rendering that never shows the password. `open_connection` is the only way a
connection is opened for pg_assets' own work (loads, result reads, the Dagster
reports, dbt's row counts): every session runs in UTC (naive timestamps mean UTC, as
in dlt) with standard-conforming strings (the literal encoder relies on it), and
carries an `application_name` that says which pipeline and load it serves, so a
blocked run can name the run that blocks it.

A connection that cannot be opened for a passing reason (refused, reset, timed out) is
tried again within the retry budget of `load/retry.py`; a refused login, a `pg_hba.conf`
rule or a rejected certificate is not (`load/errors.connect_failure` tells them apart).

This module knows nothing of where credentials are configured (`credentials.py`) or
of the embedded server (`embedded.py`); both build a `ConnectionConfig` from here, and
`destination.py` chooses between them.

Examples:
    >>> config = ConnectionConfig(database="dw", username="loader", password="s3cret", host="db.internal")
    >>> config.safe_uri()
    'postgresql://loader:***@db.internal:5432/dw'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from pg_assets import sql
from pg_assets.errors import CredentialsError, ServerUnavailableError
from pg_assets.load.errors import connect_failure
from pg_assets.load.retry import Retries
from pg_assets.masking import mask_secrets, remember_secrets

ENV_VAR = "PG_ASSETS_CREDENTIALS"  # a URI; read by `credentials.py`, named in every message here
SESSION_OPTIONS = "-c timezone=UTC -c standard_conforming_strings=on"
DEFAULT_PORT = 5432
DEFAULT_CONNECT_TIMEOUT = 15
# libpq parameters that hold a secret: `password` becomes the config's password, the others are shown as `***`
_SECRET_PARAMS = ("password", "sslpassword")


@dataclass(frozen=True, repr=False)
class ConnectionConfig:
    """How to reach one Postgres database.

    A `host` starting with `/` is the directory of a unix socket. `query` holds extra
    libpq parameters (`sslmode`, `options`, ...). `source` says where the values came
    from, for messages; it takes no part in equality.
    """

    database: str
    username: str
    password: str | None
    host: str
    port: int = DEFAULT_PORT
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    query: Mapping[str, str] = field(default_factory=dict, hash=False)
    source: str = field(default="a ConnectionConfig made in code", compare=False)
    more_hosts: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        # A read-only copy: a caller's dict changing later must not change us.
        query = {str(k): str(v) for k, v in self.query.items()}
        # a password given as a libpq parameter is the password: kept apart, so no rendering can show it
        in_query = query.pop("password", None)
        if self.password is None and in_query:
            object.__setattr__(self, "password", in_query)
        object.__setattr__(self, "query", MappingProxyType(query))
        for port in (self.port, *(p for _, p in self.more_hosts)):
            _check_int(port, "port", self.source, 1, 65535)
        _check_int(self.connect_timeout, "connect_timeout", self.source, 0, None)
        remember_secrets(self.password, *(query.get(k) for k in _SECRET_PARAMS))

    def __repr__(self) -> str:
        return f"ConnectionConfig({self.safe_uri()!r})"

    def __str__(self) -> str:
        return self.safe_uri()

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `psycopg2.connect`; libpq reads a `/path` host as a socket dir."""
        hosts = [(self.host, self.port), *self.more_hosts]
        kwargs: dict[str, Any] = {
            "dbname": self.database,
            "user": self.username,
            "host": ",".join(h for h, _ in hosts),
            "port": ",".join(str(p) for _, p in hosts) if self.more_hosts else self.port,
            "connect_timeout": self.connect_timeout,
            **self.query,
        }
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs

    def uri(self) -> str:
        """The full URI, password included: only for handing to another tool."""
        return self._render(None if self.password is None else quote(self.password, safe=""), masked=False)

    def safe_uri(self) -> str:
        """The URI with the password shown as `***`, for logs and messages."""
        return self._render(None if self.password is None else "***", masked=True)

    def _render(self, password: str | None, *, masked: bool) -> str:
        """The URI, with `password` already escaped (or masked); `masked` hides other secret parameters too."""
        auth = quote(self.username, safe="") + ("" if password is None else f":{password}")
        params = dict(self.query)
        for key in _SECRET_PARAMS:
            if key in params and masked:
                params[key] = "***"
        hosts = [(self.host, self.port), *self.more_hosts]
        if self.host.startswith("/"):
            params = {"host": ",".join(h for h, _ in hosts), **params}
            ports = ",".join(str(p) for _, p in hosts)
            location = "" if ports == str(DEFAULT_PORT) else f":{ports}"
        else:
            location = ",".join(f"{_bracket(h)}:{p}" for h, p in hosts)
        if self.connect_timeout != DEFAULT_CONNECT_TIMEOUT:
            params["connect_timeout"] = str(self.connect_timeout)
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in params.items())
        return f"postgresql://{auth}@{location}/{quote(self.database, safe='')}" + (f"?{query}" if query else "")

    def connect(self, **extra: Any) -> Any:
        """One attempt at a new psycopg2 connection, its failure explained.

        Raises:
            CredentialsError: the login was refused, the database or role does not exist, a
                pg_hba.conf rule or a TLS setting keeps the client out, or the host name does not
                resolve: retrying cannot help.
            ServerUnavailableError: nothing answered, or the connection broke while opening:
                transient, `open_connection` retries it.
        """
        import psycopg2

        try:
            return psycopg2.connect(**{**self.connect_kwargs(), **extra})
        except psycopg2.Error as exc:
            # `from None`: the driver's own text is repeated, scrubbed, in our message.
            message, transient = _explained(self, str(exc))
            raise (ServerUnavailableError if transient else CredentialsError)(message) from None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def explain_connect_error(config: ConnectionConfig, driver_message: str) -> str:
    """A message naming the setting to change; the password is scrubbed even if the driver echoed it."""
    return _explained(config, driver_message)[0]


def _explained(config: ConnectionConfig, driver_message: str) -> tuple[str, bool]:
    """The message for a failed connect, and whether trying again can help (`load/errors.py` decides)."""
    detail, transient = connect_failure(driver_message, {
        "user": config.username, "database": config.database, "host": config.host, "port": config.port,
        "timeout": config.connect_timeout, "sslmode": config.query.get("sslmode", "prefer"),
        "sslrootcert": config.query.get("sslrootcert")})
    said = mask_secrets(" ".join(driver_message.split()))
    return (f"cannot connect to `{config.safe_uri()}` (from {config.source}): {detail}.\n"
            f"Server said: {said}\n{where_to_set(None)}"), transient


def where_to_set(secrets: Path | None) -> str:
    """Every place credentials can be set, for the end of a message."""
    toml = f"`{secrets}`" if secrets is not None else "`.pg_assets/secrets.toml` in the project"
    return (
        "Credentials can be set as the `credentials` argument (a postgresql:// URI, a mapping or a "
        f"ConnectionConfig), as the env var `{ENV_VAR}` (a URI), or under "
        f"`[destination.postgres.credentials]` in {toml}; with none set, the embedded Postgres is used."
    )


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
                apply_ignored_options(conn, options)
                conn.autocommit = autocommit
            except psycopg2.Error as exc:
                close_quietly(conn)
                raise ServerUnavailableError(f"the connection to `{config.safe_uri()}` broke as it opened") from exc
            return conn
        except ServerUnavailableError as exc:
            if not retries.pause(f"connecting to `{config.safe_uri()}`", exc, attempt):
                raise


def apply_ignored_options(conn: Any, options: str) -> None:
    """Set `options` with `set_config` when the server did not get them at startup.

    A pooler told to drop them (PgBouncer's `ignore_startup_parameters = options`, without
    which it refuses the connection) would otherwise leave the session in the server's
    time zone. The server reports `TimeZone` at startup, so a session that got the options
    costs nothing here; a pooler in session pooling keeps what is set for the client.
    """
    if conn.get_parameter_status("TimeZone") == "UTC":
        return
    names, values = zip(*_settings_of(options)) if options else ((), ())
    with conn.cursor() as cur:
        cur.execute(sql.SET_SESSION_SETTINGS, (list(names), list(values)))
    conn.commit()


def _settings_of(options: str) -> list[tuple[str, str]]:
    """`(name, value)` of each `-c name=value` (or `-cname=value`, `--name=value`) in libpq's `options`."""
    tokens, out = options.split(), []
    for i, token in enumerate(tokens):
        if token == "-c" and i + 1 < len(tokens):
            pair = tokens[i + 1]
        elif token.startswith("-c") and token != "-c":
            pair = token[2:]
        elif token.startswith("--"):
            pair = token[2:]
        else:
            continue
        name, _, value = pair.partition("=")
        out.append((name.replace("-", "_"), value))
    return out


def close_quietly(conn: Any) -> None:
    """Close a connection that may already be broken."""
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead connection must not mask the real error
        pass


def _check_int(value: Any, name: str, source: str, low: int, high: int | None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise CredentialsError(
            f"credentials from {source}: `{name}` must be a whole number {bounds}, got `{value}`.\n{where_to_set(None)}"
        )
