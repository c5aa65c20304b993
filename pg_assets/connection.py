"""How to reach one Postgres database, and how every pg_assets session opens a connection to it.

`ConnectionConfig` is the destination as data: where the server is, how to log in,
and a rendering that never shows the password. `open_connection` is the only way a
connection is opened for pg_assets' own work (loads, result reads, the Dagster
reports, dbt's row counts): every session runs in UTC (naive timestamps mean UTC, as
in dlt) with standard-conforming strings (the literal encoder relies on it), and
carries an `application_name` that says which pipeline and load it serves, so a
blocked run can name the run that blocks it.

A connection that cannot be opened for a passing reason (refused, reset, timed out) is
tried again within the retry budget of `load/retry.py`; a refused login is not.

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

from pg_assets.errors import CredentialsError, ServerUnavailableError
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
            CredentialsError: the login was refused, the database or role does not exist, or
                the host name does not resolve: retrying cannot help.
            ServerUnavailableError: nothing answered, or the connection broke while opening:
                transient, `open_connection` retries it.
        """
        import psycopg2

        try:
            return psycopg2.connect(**{**self.connect_kwargs(), **extra})
        except psycopg2.Error as exc:
            # `from None`: the driver's own text is repeated, scrubbed, in our message.
            message = explain_connect_error(self, str(exc))
            if is_credentials_problem(str(exc)):
                raise CredentialsError(message) from None
            raise ServerUnavailableError(message) from None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# Substring of libpq's message -> what is wrong, naming the field to fix. First match wins, so the
# pg_hba rule (its text names a user and a database) comes before the role and database rules.
# The first `_CREDENTIAL_PROBLEMS` rules are the user's settings; the rest may pass by themselves.
_CREDENTIAL_PROBLEMS = 6
_CONNECT_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("password authentication failed", "the `password` or `username` is wrong (user `{user}`)"),
    ("no password supplied", "the server asks user `{user}` for a password and no `password` is set"),
    ("no pg_hba.conf entry", "the server does not let user `{user}` in from this client (pg_hba.conf): "
     "check `username`, `database` and `sslmode`"),
    ('role "', "user `{user}` does not exist on the server: check `username`"),
    ('database "', "database `{database}` does not exist: check `database` or create it"),
    ("could not translate host name", "host `{host}` is not a known host name: check `host`"),
    ("Connection refused", "nothing accepts connections at `{host}` port {port}: check `host` and `port`, "
     "and that the server runs (`pg_isready -h {host} -p {port}`)"),
    ("timeout expired", "no answer from `{host}` port {port} within {timeout} s: check `host`, `port` "
     "and any firewall, or raise `connect_timeout`"),
    ("No such file or directory", "no server socket in `{host}` for port {port}: check `host` and `port`, "
     "and that the server runs"),
)


def is_credentials_problem(driver_message: str) -> bool:
    """Whether a failed connect is the user's settings (login, role, database, host name), not a passing fault."""
    return any(key in driver_message for key, _ in _CONNECT_PROBLEMS[:_CREDENTIAL_PROBLEMS])


def explain_connect_error(config: ConnectionConfig, driver_message: str) -> str:
    """A message naming the field to fix; the password is scrubbed even if the driver echoed it."""
    detail = next((why for key, why in _CONNECT_PROBLEMS if key in driver_message), "the server refused the connection")
    detail = detail.format(
        user=config.username, database=config.database, host=config.host,
        port=config.port, timeout=config.connect_timeout,
    )
    said = mask_secrets(" ".join(driver_message.split()))
    return (
        f"cannot connect to `{config.safe_uri()}` (from {config.source}): {detail}.\n"
        f"Server said: {said}\n{where_to_set(None)}"
    )


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


def _check_int(value: Any, name: str, source: str, low: int, high: int | None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise CredentialsError(
            f"credentials from {source}: `{name}` must be a whole number {bounds}, got `{value}`.\n{where_to_set(None)}"
        )
