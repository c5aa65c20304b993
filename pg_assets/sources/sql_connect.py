"""Reaching a source database: its SQLAlchemy URL, an engine, and what may be shown of it.

`credentials` of a `sql_database` source is any SQLAlchemy URL. Bare dialect names get
the driver pg_assets ships (`postgresql` -> psycopg2, `mysql`/`mariadb` -> pymysql), a
relative SQLite path starts at the spec file's folder, and everything shown to a user
(messages, Dagster's `dagster/uri`) is rebuilt from the URL's parts without the user and
password, so a secret never leaves this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from pg_assets.connection import SESSION_OPTIONS
from pg_assets.errors import ConfigError

# the driver used when the URL names only the dialect
DEFAULT_DRIVERS = {"postgresql": "psycopg2", "postgres": "psycopg2", "mysql": "pymysql", "mariadb": "pymysql"}


def parse_url(text: str, base_dir: Path | None = None) -> URL:
    """The URL with pg_assets' default drivers; ConfigError (without the text) when it is not one.

    Examples:
        >>> parse_url("mysql://app:secret@db:3306/shop").drivername
        'mysql+pymysql'
    """
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigError("`credentials` is not a SQLAlchemy URL; expected for example "
                          "`postgresql://user:password@host:5432/db`, `mysql+pymysql://...` or "
                          "`sqlite:///path/to.db`") from None
    dialect, _, driver = url.drivername.partition("+")
    if dialect == "postgres":
        dialect = "postgresql"
    if not driver and dialect in DEFAULT_DRIVERS:
        url = url.set(drivername=f"{dialect}+{DEFAULT_DRIVERS[dialect]}")
    if dialect == "sqlite" and url.database and url.database != ":memory:" and base_dir is not None:
        path = Path(url.database).expanduser()
        url = url.set(database=str(path if path.is_absolute() else (base_dir / path).resolve()))
    return url


def dialect_of(url: URL) -> str:
    """`postgresql`, `mysql`, `mariadb`, `sqlite`..., without the driver."""
    return url.get_backend_name()


def display_location(url: URL) -> str:
    """`<dialect>://<host or socket dir>[:port]/<db>`, never a user or password; SQLite's as written.

    Examples:
        >>> display_location(parse_url("sqlite:////srv/data/shop.db"))
        'sqlite:////srv/data/shop.db'
        >>> display_location(parse_url("sqlite:///shop.db"))
        'sqlite:///shop.db'
        >>> display_location(parse_url("postgresql://u:pw@db.internal:5433/crm"))
        'postgresql://db.internal:5433/crm'
        >>> display_location(parse_url("postgresql+psycopg2://u:@/crm?host=/run/postgresql"))
        'postgresql:///run/postgresql/crm'
    """
    dialect = dialect_of(url)
    if dialect == "sqlite":  # as SQLAlchemy spells it: `sqlite:///` + the path, so an absolute one has four slashes
        return f"sqlite:///{url.database}" if url.database else "sqlite://"
    host = url.host or str(url.query.get("host") or url.query.get("unix_socket") or "")
    port = f":{url.port}" if url.port and not host.startswith("/") else ""
    return f"{dialect}://{host}{port}/{quote(url.database or '', safe='')}"


def table_uri(url: URL, schema: str | None, table: str) -> str:
    """Where a resource's rows come from, for Dagster's `dagster/uri`.

    Examples:
        >>> table_uri(parse_url("mysql://u:pw@127.0.0.1:3306/shop"), None, "orders")
        'mysql://127.0.0.1:3306/shop/shop.orders'
        >>> table_uri(parse_url("sqlite:////data/app.db"), None, "users")
        'sqlite:////data/app.db/users'
    """
    if dialect_of(url) == "sqlite":
        return f"{display_location(url)}/{table}"
    default = "public" if dialect_of(url) == "postgresql" else url.database
    return f"{display_location(url)}/{schema or default}.{table}"


def scrub(message: str, url: URL) -> str:
    """A driver's message with the password removed, however it was echoed."""
    password = url.password
    if password:
        for form in {str(password), quote(str(password), safe=""), quote(str(password))}:
            message = message.replace(form, "***")
    return message


def driver_message(exc: BaseException) -> str:
    """The driver's own words (SQLAlchemy's wrapper repeats the SQL and adds a link), on one line."""
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split()) or type(original).__name__


# the MySQL/MariaDB session setting that makes TIMESTAMP read in UTC: a driver's `init_command`
# (and ConnectorX's pre-query) take plain text, not a SQLAlchemy construct
MYSQL_UTC = "SET time_zone = '+00:00'"


def create_engine(url: URL) -> Engine:
    """An engine for one load or one `discover`: no pool kept between runs, UTC sessions on Postgres."""
    connect_args: dict[str, Any] = {}
    if dialect_of(url) == "postgresql" and url.get_driver_name() == "psycopg2":
        connect_args["options"] = " ".join(o for o in (url.query.get("options"), SESSION_OPTIONS) if o)
    elif dialect_of(url) in ("mysql", "mariadb"):
        connect_args["init_command"] = MYSQL_UTC
    try:
        return sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool, connect_args=connect_args)
    except NoSuchModuleError:
        raise ConfigError(f"no SQLAlchemy dialect `{url.drivername}`; install the package that provides it, "
                          "or use `postgresql://`, `mysql+pymysql://` or `sqlite:///`") from None
    except ImportError as exc:
        raise ConfigError(f"the driver of `{url.drivername}` is not installed ({exc.name or exc}); "
                          "install it with pip") from None
