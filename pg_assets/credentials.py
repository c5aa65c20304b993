"""Where the destination Postgres is configured and how to log in: every credential form.

Credentials come from the first of these that is set, the same forms dlt's
Postgres destination accepts:

1. the `credentials` argument: a `postgresql://` URI, a mapping of fields, or a `ConnectionConfig`;
2. the env var `PG_ASSETS_CREDENTIALS`: a URI;
3. `.pg_assets/secrets.toml` in the project: `[destination.postgres.credentials]` fields,
   or the top-level key `destination.postgres.credentials = "postgresql://..."`;
4. otherwise the embedded server.

`configured_credentials` reads that order once and only reads: it answers None for
"the embedded server" and never starts anything. Starting the server is
`pg_assets.destination.resolve_credentials`'s job, the one place that does it.

A URI is read by libpq's own rules (`psycopg2.extensions.parse_dsn`), so every URI
`psql` accepts works: a unix socket as `?host=/dir`, several hosts as `h1:5432,h2:5433`,
the password in the userinfo or as `?password=`.

The password never appears in a repr, a message or a URI meant for display, wherever
it came from: the userinfo, a `password` query parameter (or a mapping's `query`),
`PGPASSWORD` or a `.pgpass` file. `pg_assets.masking.mask_secrets` scrubs every known
one from any text before it is shown.

Examples:
    >>> config = configured_credentials("postgresql://loader:s3cr%40t@localhost/analytics")
    >>> config.password, config.safe_uri()
    ('s3cr@t', 'postgresql://loader:***@localhost:5432/analytics')
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pg_assets.connection import DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, ENV_VAR, ConnectionConfig, where_to_set
from pg_assets.errors import CredentialsError, closest
from pg_assets.masking import mask_secrets

SECRETS_KEY = ("destination", "postgres", "credentials")
_SCHEMES = ("postgresql", "postgres")
_FIELDS = ("database", "username", "password", "host", "port", "connect_timeout", "query")
_REQUIRED = ("database", "username", "host")  # no password is fine: libpq may use .pgpass or trust
_ALIASES = {"user": "username", "dbname": "database", "db": "database", "hostname": "host", "passwd": "password"}


def secrets_path(project_dir: Path | None = None) -> Path:
    """`<project>/.pg_assets/secrets.toml`, the project being the current directory by default."""
    return (Path(project_dir) if project_dir is not None else Path.cwd()) / ".pg_assets" / "secrets.toml"


@dataclass(frozen=True)
class _Source:
    """Where values came from, and the secrets file to point at in messages."""

    label: str
    secrets: Path

    def error(self, problem: str) -> CredentialsError:
        return CredentialsError(f"credentials from {self.label}: {problem}.\n{where_to_set(self.secrets)}")


def configured_credentials(credentials: Any = None, project_dir: Path | None = None) -> ConnectionConfig | None:
    """The credentials configured first: the argument, else env, else secrets.toml; None for the embedded server.

    Only reads and parses, so definitions and naming can ask without connecting or
    starting a server.

    Raises:
        CredentialsError: the first credentials set are malformed, or the secrets file is unreadable.

    Examples:
        >>> configured_credentials({"database": "dw", "username": "loader", "host": "db.internal"}).port
        5432
    """
    secrets = secrets_path(project_dir)
    if credentials is not None:
        return _from_any(credentials, _Source("the `credentials` argument", secrets))
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _from_uri(env, _Source(f"env `{ENV_VAR}`", secrets))
    return _from_secrets(secrets)


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
        connect_timeout=_as_int(fields.get("connect_timeout"), DEFAULT_CONNECT_TIMEOUT),
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
    return [(name, _as_int(p, DEFAULT_PORT)) for name, p in zip(names, ports)]


def _as_int(value: Any, default: int) -> Any:
    """Text digits become a number (env and URIs are text); anything else is judged by `ConnectionConfig`."""
    if value is None or value == "":
        return default
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value
