"""Dagster's runs, events and schedules kept with the project, so they outlive `dagster dev`.

`pg-assets materialize` and `dagster dev` in one project read the project's
`dagster.yaml`, whose storage is `ProjectStorage`:

```yaml
storage:
  custom: {module: pg_assets.dagster.storage, class: ProjectStorage, config: {}}
```

- With the embedded destination, the runs live in the embedded Postgres (database
  `dagster`, beside the loaded data), through dagster-postgres, as production Dagster
  keeps them in Postgres; the server is started if needed, by whichever process opens
  the storage first (the UI, a run worker, the CLI).
- With a remote destination, the embedded server is never started for Dagster: runs
  go to SQLite files under `.pg_assets/dagster/`. To keep them in a Postgres of your
  own, write dagster-postgres' `storage: postgres:` in `dagster.yaml` instead.

`DAGSTER_HOME`, when set, wins, as everywhere in Dagster.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from pg_assets import sql

DAGSTER_DATABASE = "dagster"
PROJECT_ENV = "PG_ASSETS_PROJECT_DIR"  # set while `project_instance` opens a project away from the cwd
STORAGE_YAML = """\
# Written by pg-assets: `pg-assets materialize` and `dagster dev` here share these runs.
# With the embedded Postgres they are kept in its `dagster` database, else in
# .pg_assets/dagster/. See docs/dagster.md, "Runs that persist".
storage:
  custom:
    module: pg_assets.dagster.storage
    class: ProjectStorage
    config: {}
"""


def project_dagster_dir(project_dir: Path) -> Path:
    """`<project>/.pg_assets/dagster`, or `$PG_ASSETS_HOME/dagster`: Dagster's files for the project."""
    from pg_assets import embedded

    home = os.environ.get(embedded.HOME_ENV)
    return (Path(home) if home else Path(project_dir) / ".pg_assets").expanduser().absolute() / "dagster"


def _destination_is_embedded(project_dir: Path) -> bool:
    """Whether the project's loads go to the embedded Postgres (no credentials anywhere), read without connecting."""
    from pg_assets.credentials import configured_credentials
    from pg_assets.dagster.project import spec_path
    from pg_assets.errors import PgAssetsError
    from pg_assets.spec import load_spec

    path = spec_path(project_dir)
    try:
        credentials = load_spec(path).destination.credentials if path.is_file() else None
    except PgAssetsError:
        credentials = None  # an invalid spec fails its definitions, located; storage stays usable
    try:
        return configured_credentials(credentials, project_dir) is None
    except PgAssetsError:
        return False  # credentials are set, if wrongly: the loads say so, and storage stays usable


@functools.cache
def _embedded_url(project_dir: Path) -> str:
    """The dagster database of the project's embedded server, created on first use."""
    import psycopg2.errors

    from pg_assets import embedded
    from pg_assets.connection import open_connection

    config = embedded.ensure_running(embedded.project_home(project_dir))
    conn = open_connection(config, "pg_assets:dagster-storage")
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql.DATABASE_EXISTS, (DAGSTER_DATABASE,))
            if cursor.fetchone() is None:
                cursor.execute(sql.create_database(DAGSTER_DATABASE))
    except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
        pass  # a process starting at the same moment created it
    finally:
        conn.close()
    # The driver named: SQLAlchemy 2.1 defaults to psycopg 3, which is not installed.
    return f"postgresql+psycopg2://{config.username}@/{DAGSTER_DATABASE}?host={config.host}&port={config.port}"


class ProjectStorage(DagsterStorage, ConfigurableClass):
    """A `storage: custom:` for `dagster.yaml` that picks the project's storage; see the module docstring.

    Never instantiated itself: `from_config_value` returns dagster-postgres' or Dagster's
    SQLite storage, carrying this class's config so that run workers open the same one.

    Config: `project_dir` (default: `$PG_ASSETS_PROJECT_DIR`, else the working directory, where
    `dagster dev` runs).
    """

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {"project_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> Any:
        project_dir = Path(config_value.get("project_dir") or os.environ.get(PROJECT_ENV) or Path.cwd()).absolute()
        if _destination_is_embedded(project_dir):
            from dagster_postgres import DagsterPostgresStorage

            return DagsterPostgresStorage(_embedded_url(project_dir), inst_data=inst_data)
        from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

        return DagsterSqliteStorage.from_local(str(project_dagster_dir(project_dir) / "storage"), inst_data=inst_data)


def ensure_project_config(project_dir: Path) -> bool:
    """Write the project's `dagster.yaml` with `ProjectStorage` unless one exists; True when written."""
    path = Path(project_dir) / "dagster.yaml"
    if path.exists() or (Path(project_dir) / "dagster.yml").exists():
        return False
    path.write_text(STORAGE_YAML, encoding="utf-8")
    return True


def project_instance(project_dir: Path) -> dg.DagsterInstance:
    """The instance `dagster dev` opens in `project_dir`: `DAGSTER_HOME`, else the project's `dagster.yaml`.

    Like `dagster dev`, the instance's own files (compute logs, artifacts) go to a home
    directory; here it is `.pg_assets/dagster`, never a temporary one.
    """
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    from dagster._core.instance.ref import InstanceRef

    from pg_assets.dbt.env import scoped_environ

    project_dir = Path(project_dir).absolute()
    home = project_dagster_dir(project_dir)
    home.mkdir(parents=True, exist_ok=True)
    with scoped_environ({PROJECT_ENV: str(project_dir)}):
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), config_dir=str(project_dir)))
        instance.get_run_records(limit=1)  # opens the storage here, where the project is known
    return instance
