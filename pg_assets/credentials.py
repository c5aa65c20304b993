"""Where the destination Postgres is and how to log in.

Credentials come from the first of these that is set, the same forms dlt's
Postgres destination accepts:

1. the `credentials` argument: a `postgresql://` URI, a mapping of fields, or a `ConnectionConfig`;
2. the env var `PG_ASSETS_CREDENTIALS`: a URI;
3. `.pg_assets/secrets.toml` in the project: `[destination.postgres.credentials]` fields,
   or the top-level key `destination.postgres.credentials = "postgresql://..."`;
4. otherwise the embedded server (`pg_assets.embedded`), started on demand.

A URI is read by libpq's own rules (`psycopg2.extensions.parse_dsn`), so every URI
`psql` accepts works: a unix socket as `?host=/dir`, several hosts as `h1:5432,h2:5433`,
the password in the userinfo or as `?password=`.

The password never appears in a repr, a message or a URI meant for display, wherever
it came from: the userinfo, a `password` query parameter (or a mapping's `query`),
`PGPASSWORD` or a `.pgpass` file. `pg_assets.masking.mask_secrets` scrubs every known
one from any text before it is shown.

Examples:
    >>> config = resolve_credentials("postgresql://loader:s3cr%40t@localhost/analytics")
    >>> config.password, config.safe_uri()
    ('s3cr@t', 'postgresql://loader:***@localhost:5432/analytics')
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from pg_assets.errors import CredentialsError, ServerUnavailableError, closest
from pg_assets.masking import mask_secrets, remember_secrets

ENV_VAR = "PG_ASSETS_CREDENTIALS"
SECRETS_KEY = ("destination", "postgres", "credentials")
_SCHEMES = ("postgresql", "postgres")
_FIELDS = ("database", "username", "password", "host", "port", "connect_timeout", "query")
_REQUIRED = ("database", "username", "host")  # no password is fine: libpq may use .pgpass or trust
_ALIASES = {"user": "username", "dbname": "database", "db": "database", "hostname": "host", "passwd": "password"}
_DEFAULT_PORT = 5432
_DEFAULT_TIMEOUT = 15
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
    port: int = _DEFAULT_PORT
    connect_timeout: int = _DEFAULT_TIMEOUT
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
            location = "" if ports == str(_DEFAULT_PORT) else f":{ports}"
        else:
            location = ",".join(f"{_bracket(h)}:{p}" for h, p in hosts)
        if self.connect_timeout != _DEFAULT_TIMEOUT:
            params["connect_timeout"] = str(self.connect_timeout)
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in params.items())
        return f"postgresql://{auth}@{location}/{quote(self.database, safe='')}" + (f"?{query}" if query else "")

    def connect(self, **extra: Any) -> Any:
        """One attempt at a new psycopg2 connection, its failure explained.

        Raises:
            CredentialsError: the login was refused, the database or role does not exist, or
                the host name does not resolve: retrying cannot help.
            ServerUnavailableError: nothing answered, or the connection broke while opening:
                transient, `pg_assets.load.connection.open_connection` retries it.
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


def secrets_path(project_dir: Path | None = None) -> Path:
    """`<project>/.pg_assets/secrets.toml`, the project being the current directory by default."""
    return (Path(project_dir) if project_dir is not None else Path.cwd()) / ".pg_assets" / "secrets.toml"


def where_to_set(secrets: Path | None) -> str:
    """Every place credentials can be set, for the end of a message."""
    toml = f"`{secrets}`" if secrets is not None else "`.pg_assets/secrets.toml` in the project"
    return (
        "Credentials can be set as the `credentials` argument (a postgresql:// URI, a mapping or a "
        f"ConnectionConfig), as the env var `{ENV_VAR}` (a URI), or under "
        f"`[destination.postgres.credentials]` in {toml}; with none set, the embedded Postgres is used."
    )


@dataclass(frozen=True)
class _Source:
    """Where values came from, and the secrets file to point at in messages."""

    label: str
    secrets: Path

    def error(self, problem: str) -> CredentialsError:
        return CredentialsError(f"credentials from {self.label}: {problem}.\n{where_to_set(self.secrets)}")


def resolve_credentials(credentials: Any = None, *, project_dir: Path | None = None) -> ConnectionConfig:
    """The connection to load into: the argument, else env, else secrets.toml, else the embedded server.

    Examples:
        >>> resolve_credentials({"database": "dw", "username": "loader", "host": "db.internal"}).port
        5432
    """
    secrets = secrets_path(project_dir)
    if credentials is not None:
        return _from_any(credentials, _Source("the `credentials` argument", secrets))
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _from_uri(env, _Source(f"env `{ENV_VAR}`", secrets))
    found = _from_secrets(secrets)
    return found if found is not None else _embedded(project_dir)


def _embedded(project_dir: Path | None) -> ConnectionConfig:
    from pg_assets import embedded

    # $PG_ASSETS_HOME wins over the project, so one server can serve many projects (and a test session).
    use_project = project_dir is not None and not os.environ.get(embedded.HOME_ENV)
    return embedded.ensure_running(Path(project_dir) / ".pg_assets" if use_project else None)


def _from_any(value: Any, src: _Source) -> ConnectionConfig:
    if isinstance(value, ConnectionConfig):
        return value
    if isinstance(value, str):
        return _from_uri(value, src)
    if isinstance(value, Mapping):
        return _from_mapping(value, src)
    raise src.error(f"expected a postgresql:// URI, a mapping or a ConnectionConfig, got {type(value).__name__}")


def _from_secrets(path: Path) -> ConnectionConfig | None:
    if not path.is_file():
        return None
    try:
        data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read `{path}`: {exc}") from None
    for key in SECRETS_KEY:
        data = data.get(key) if isinstance(data, Mapping) else None
    if data is None:
        return None
    return _from_any(data, _Source(f"`destination.postgres.credentials` in `{path}`", path))


def _from_uri(text: str, src: _Source) -> ConnectionConfig:
    """Read a URI as libpq does; the text is never echoed back, since it may hold the password."""
    from psycopg2 import ProgrammingError
    from psycopg2.extensions import parse_dsn

    text = text.strip()
    scheme = text.partition("://")[0] if "://" in text else ""
    if scheme not in _SCHEMES:
        got = f"scheme `{scheme}`" if scheme else "no `scheme://`"
        raise src.error(f"a connection string must start with `postgresql://` or `postgres://`, it has {got}")
    try:
        params = parse_dsn(text)
    except ProgrammingError as exc:
        raise src.error(f"libpq cannot read the connection string: {_dsn_problem(str(exc))}") from None
    fields: dict[str, Any] = {
        "database": params.pop("dbname", ""),
        "username": params.pop("user", ""),
        "password": params.pop("password", "") or None,
        "host": params.pop("host", ""),
        "port": params.pop("port", None),
        "connect_timeout": params.pop("connect_timeout", None),
    }
    return _build(fields, params, src)


def _dsn_problem(driver_message: str) -> str:
    """libpq's complaint without the connection string: only its quoted parameter name is kept."""
    said = " ".join(driver_message.replace("invalid dsn:", "").split())
    return mask_secrets(said) if "query parameter" in said else "it is not a valid `postgresql://` URI"


def _from_mapping(values: Mapping[str, Any], src: _Source) -> ConnectionConfig:
    unknown = sorted(str(key) for key in values if key not in _FIELDS)
    if unknown:
        listed = ", ".join(_unknown_key(key) for key in unknown)
        raise src.error(f"unknown key {listed}; the keys are " + ", ".join(f"`{k}`" for k in _FIELDS))
    query = values.get("query") or {}
    if not isinstance(query, Mapping):
        raise src.error(f"`query` must be a table of libpq parameters, got {type(query).__name__}")
    fields = {key: values.get(key) for key in _FIELDS if key != "query"}
    return _build(fields, {str(k): str(v) for k, v in query.items()}, src)


def _unknown_key(key: str) -> str:
    guess = _ALIASES.get(key.lower()) or closest(key, _FIELDS, cutoff=0.5)
    return f"`{key}`" + (f" (did you mean `{guess}`?)" if guess else "")


def _build(fields: dict[str, Any], query: dict[str, str], src: _Source) -> ConnectionConfig:
    """Check and coerce fields; a `host` query parameter (a unix socket dir) wins, as in libpq."""
    if query.get("host"):
        fields["host"] = query.pop("host")
    if query.get("port"):
        fields["port"] = query.pop("port")
    if fields.get("password") is None and query.get("password"):
        fields["password"] = query.pop("password")
    query.pop("password", None)
    missing = [name for name in _REQUIRED if not fields.get(name)]
    if missing:
        raise src.error("missing " + ", ".join(f"`{name}`" for name in missing))
    hosts = _hosts(str(fields["host"]), fields.get("port"), src)
    return ConnectionConfig(
        database=str(fields["database"]),
        username=str(fields["username"]),
        password=None if fields.get("password") is None else str(fields["password"]),
        host=hosts[0][0],
        port=hosts[0][1],
        connect_timeout=_as_int(fields.get("connect_timeout"), _DEFAULT_TIMEOUT),
        query=query,
        source=src.label,
        more_hosts=tuple(hosts[1:]),
    )


def _hosts(host: str, port: Any, src: _Source) -> list[tuple[str, Any]]:
    """libpq's host list: `h1,h2` with one port for all or one port each."""
    names = host.split(",")
    ports = str(port).split(",") if isinstance(port, str) else [port]
    if len(ports) == 1:
        ports = ports * len(names)
    if len(ports) != len(names):
        raise src.error(f"{len(names)} hosts but {len(ports)} ports: give one port, or one port per host")
    return [(name, _as_int(p, _DEFAULT_PORT)) for name, p in zip(names, ports)]


def _as_int(value: Any, default: int) -> Any:
    """Text digits become a number (env and URIs are text); anything else is judged by `ConnectionConfig`."""
    if value is None or value == "":
        return default
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def _check_int(value: Any, name: str, source: str, low: int, high: int | None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise CredentialsError(
            f"credentials from {source}: `{name}` must be a whole number {bounds}, got `{value}`.\n{where_to_set(None)}"
        )
