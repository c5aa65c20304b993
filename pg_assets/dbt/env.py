"""What dbt needs to build on the data pg_assets loaded: a connection and an executable.

The dbt project's `profiles.yml` reads its connection from `PG_ASSETS_DBT_*`
environment variables. pg_assets sets them from the destination it loads into, so
dbt under Dagster or `pg-assets materialize` always builds on the tables just
loaded; a user sets them (or leaves them unset, for the embedded server) to run
plain `dbt`. Extra libpq parameters of the destination (`sslmode`, `options`, ...)
travel as libpq's own variables (`PGSSLMODE`, `PGOPTIONS`), which psycopg2 inside
dbt reads for anything the profile leaves unset.

The engine side of the dbt integration: no Dagster here.

Examples:
    >>> from pg_assets import ConnectionConfig
    >>> config = ConnectionConfig(database="dw", username="loader", password="s3cret", host="db.internal")
    >>> env = profile_env(config)
    >>> env["PG_ASSETS_DBT_HOST"], env["PG_ASSETS_DBT_PORT"], env["PG_ASSETS_DBT_DBNAME"]
    ('db.internal', '5432', 'dw')
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pg_assets.connection import ConnectionConfig
from pg_assets.errors import ConfigError

PREFIX = "PG_ASSETS_DBT_"
PASSWORD_VAR = f"{PREFIX}PASSWORD"

# A libpq parameter of the destination -> the libpq environment variable that carries it.
# dbt-postgres passes only the profile's fields to psycopg2; libpq fills the rest from these.
_LIBPQ_ENV: Mapping[str, str] = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING",
    "requiressl": "PGREQUIRESSL",
}


def profile_env(config: ConnectionConfig) -> dict[str, str]:
    """The environment variables the dbt profile reads, for the database `config` points at.

    Every variable is set, the password too (empty when there is none), so that
    nothing left in the environment from elsewhere can send dbt to another server.

    Raises:
        ConfigError: `config` has a libpq parameter dbt cannot be given.
    """
    env = {
        f"{PREFIX}HOST": config.host,
        f"{PREFIX}PORT": str(config.port),
        f"{PREFIX}USER": config.username,
        PASSWORD_VAR: config.password or "",
        f"{PREFIX}DBNAME": config.database,
    }
    unknown = sorted(set(config.query) - set(_LIBPQ_ENV))
    if unknown:
        raise ConfigError(
            f"the destination `{config.safe_uri()}` has libpq parameter(s) "
            + ", ".join(f"`{key}`" for key in unknown)
            + " that cannot be passed to dbt; dbt accepts " + ", ".join(f"`{key}`" for key in _LIBPQ_ENV)
        )
    env.update({_LIBPQ_ENV[key]: value for key, value in config.query.items()})
    return env


@contextmanager
def scoped_environ(env: Mapping[str, str]) -> Iterator[None]:
    """Set `env` in `os.environ` for the duration, then restore what was there."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def dbt_environment(config: ConnectionConfig) -> Iterator[dict[str, str]]:
    """The profile's variables for `config`, set in `os.environ` for the duration.

    The process environment, not a subprocess `env=`, because dagster-dbt also
    renders the profile in-process to read column metadata through the adapter.
    """
    env = profile_env(config)
    with scoped_environ(env):
        yield env


def dbt_executable() -> str:
    """The `dbt` installed with the running Python, so nothing depends on `PATH`.

    A virtualenv need not be activated: its interpreter's directory (`bin/` or
    `Scripts\\`) holds the `dbt` script that pip installed with dbt-core. Only when
    it is missing there (dbt installed elsewhere) is `PATH` searched.

    Raises:
        ConfigError: no dbt anywhere.
    """
    # Not `Path(sys.executable).resolve()`: in a virtualenv that leads to the base interpreter.
    name = "dbt.exe" if sys.platform == "win32" else "dbt"
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which("dbt")
    if found:
        return found
    raise ConfigError(
        f"cannot find the `dbt` executable next to `{sys.executable}` or on PATH; "
        "install it into this environment with `pip install dbt-postgres`"
    )
