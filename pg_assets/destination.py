"""Where loads go: the configured Postgres, else the embedded server, started here.

`credentials.py` reads the configured forms and answers None for "the embedded
server"; `embedded.py` runs that server. This module is the one place that joins them,
so neither needs the other and nothing but a load (or a command that needs the
database now) starts a server.

Examples:
    >>> resolve_credentials("postgresql://loader@db.internal/analytics").database
    'analytics'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pg_assets import embedded
from pg_assets.connection import ConnectionConfig
from pg_assets.credentials import configured_credentials


def resolve_credentials(credentials: Any = None, *, project_dir: Path | None = None) -> ConnectionConfig:
    """The connection to load into: the argument, else env, else secrets.toml, else the embedded server.

    Only the last of these starts anything: the project's embedded server (or the one in
    `$PG_ASSETS_HOME`), when it is not already running.

    Examples:
        >>> resolve_credentials({"database": "dw", "username": "loader", "host": "db.internal"}).port
        5432
    """
    configured = configured_credentials(credentials, project_dir)
    return configured if configured is not None else embedded.ensure_running(embedded.project_home(project_dir))
