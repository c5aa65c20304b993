"""dlt 1.31's own commands on datasets pg_assets wrote: `dlt pipeline ... info | sync | drop`,
`pipeline_drop`, `run(refresh=...)` and `pipeline.dataset()`.

A dlt user who lets pg_assets load keeps dlt's tools for maintenance, so each command
runs here as that user would run it: the CLI in a subprocess, restoring the pipeline
from the destination (no local dlt state), and the Python API on a fresh pipeline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.helpers import pipeline_drop

import pg_assets
from pg_assets import embedded
from test_dlt_interop import day, dlt_pipeline, dlt_uri, orders  # noqa: F401 (the fixture)

DISPOSITIONS = {"append": "append", "replace": "replace", "merge": "merge"}
ORDERS_TABLES = {"orders", "orders__items", "orders__items__tags"}


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


def load_with_pg_assets(dataset: str, disposition: str, ids: range = range(1, 4), tag: str = "a") -> None:
    """Nested orders (two child levels) by `disposition`, and a flat `events` table appended."""
    p = pg_assets.pipeline("shop", dataset=dataset)
    p.run([pg_assets.resource(orders(ids, day, tag), name="orders", primary_key="id",
                              write_disposition=disposition),
           pg_assets.resource([{"k": tag}], name="events")])


def schemas_named(query: Callable[..., list[tuple]], prefix: str) -> set[str]:
    return {n for (n,) in query("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",))}


def no_empty_staging(query: Callable[..., list[tuple]], dataset: str) -> bool:
    """No `<dataset>_staging`, or one that is dlt's own (dlt makes one for its merges and drops, with its tables)."""
    staging = f"{dataset}_staging"
    return staging not in schemas_named(query, dataset) or "_dlt_version" in tables_in(query, staging)


def tables_in(query: Callable[..., list[tuple]], dataset: str) -> set[str]:
    return {t for (t,) in query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                (dataset,))}


def dlt_cli(uri: str, pipelines_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dlt -y pipeline shop --pipelines-dir ... <args>` with the destination's credentials in the environment."""
    env = {**os.environ, "DESTINATION__POSTGRES__CREDENTIALS": uri, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    cmd = [str(Path(sys.executable).with_name("dlt")), "-y", "pipeline", "--pipelines-dir", str(pipelines_dir),
           "shop", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return done


def restoring(*args: str, dataset: str) -> list[str]:
    """CLI arguments of an operation that restores the pipeline from the destination first."""
    return [*args, "--destination", "postgres", "--dataset-name", dataset]


@pytest.mark.parametrize("disposition", list(DISPOSITIONS))
def test_no_empty_staging_schema_stays_behind(disposition, dataset, query):
    load_with_pg_assets(dataset, disposition)
    load_with_pg_assets(dataset, disposition, range(2, 5), "b")
    assert schemas_named(query, dataset) == {dataset}


def test_a_staging_schema_that_holds_tables_stays(dataset, query):
    query(f'CREATE SCHEMA "{dataset}_staging"')
    query(f'CREATE TABLE "{dataset}_staging".kept (x int)')
    load_with_pg_assets(dataset, "merge")
    assert tables_in(query, f"{dataset}_staging") == {"kept"}


def test_concurrent_loads_of_other_pipelines_keep_their_staging_schema(dataset, query):
    """Each load's cleanup may drop the shared staging schema; the others' loads never lose it."""
    def loads(name: str) -> None:
        p = pg_assets.pipeline(name, dataset=dataset, workers=2)
        for n in range(6):
            p.run([{"id": n, "items": [{"k": n}]}], table_name=f"t_{name}", write_disposition="merge",
                  primary_key="id")

    with ThreadPoolExecutor(3) as pool:
        for done in [pool.submit(loads, name) for name in ("a", "b", "c")]:
            done.result()
    for name in ("a", "b", "c"):
        assert query(f'SELECT count(*) FROM "{dataset}".t_{name}__items') == [(6,)]
    assert schemas_named(query, dataset) == {dataset}


@pytest.mark.parametrize("disposition", list(DISPOSITIONS))
def test_dlt_cli_drops_a_resource_pg_assets_loaded(disposition, dataset, dlt_uri, query, tmp_path):
    load_with_pg_assets(dataset, disposition)
    dlt_cli(dlt_uri, tmp_path, *restoring("drop", "orders", dataset=dataset))
    assert tables_in(query, dataset) == {"_dlt_version", "_dlt_loads", "_dlt_pipeline_state", "events"}
    assert query(f'SELECT count(*) FROM "{dataset}".events') == [(1,)]
    load_with_pg_assets(dataset, disposition, range(1, 3), "b")  # and pg_assets loads it again from scratch
    assert query(f'SELECT count(*) FROM "{dataset}".orders__items__tags') == [(8,)]
    assert no_empty_staging(query, dataset)


def test_dlt_cli_info_sync_and_drop_all(dataset, dlt_uri, query, tmp_path):
    load_with_pg_assets(dataset, "merge")
    dlt_cli(dlt_uri, tmp_path, *restoring("sync", dataset=dataset))
    info = dlt_cli(dlt_uri, tmp_path, "info").stdout
    assert "shop" in info and dataset in info
    dlt_cli(dlt_uri, tmp_path, "sync")  # the local pipeline now exists: sync it again from the destination
    dlt_cli(dlt_uri, tmp_path, "drop", "--drop-all")
    assert tables_in(query, dataset) == {"_dlt_version", "_dlt_loads", "_dlt_pipeline_state"}
    load_with_pg_assets(dataset, "merge")
    assert ORDERS_TABLES <= tables_in(query, dataset)


def synced(dataset: str, uri: str, pipelines_dir: Path) -> Any:
    """A dlt pipeline restored from what pg_assets stored."""
    dp = dlt_pipeline("shop", dataset, uri, pipelines_dir)
    dp.sync_destination()
    return dp


@pytest.mark.parametrize("disposition", list(DISPOSITIONS))
def test_pipeline_drop_by_resource_from_python(disposition, dataset, dlt_uri, query, tmp_path):
    load_with_pg_assets(dataset, disposition)
    dp = synced(dataset, dlt_uri, tmp_path)
    pipeline_drop(dp, resources=["events"])()
    assert "events" not in tables_in(query, dataset) and ORDERS_TABLES <= tables_in(query, dataset)
    assert "events" not in dp.default_schema.tables


def dlt_orders(rows: list[dict[str, Any]], disposition: str) -> Any:
    return dlt.resource(rows, name="orders", primary_key="id", write_disposition=disposition)


@pytest.mark.parametrize("refresh", ["drop_sources", "drop_resources", "drop_data"])
@pytest.mark.parametrize("disposition", list(DISPOSITIONS))
def test_dlt_run_with_refresh_after_pg_assets(refresh, disposition, dataset, dlt_uri, query, tmp_path):
    load_with_pg_assets(dataset, disposition)
    dp = synced(dataset, dlt_uri, tmp_path)
    dp.run(dlt_orders(orders(range(7, 9), day, "d"), disposition), refresh=refresh)
    assert query(f'SELECT id FROM "{dataset}".orders ORDER BY id') == [(7,), (8,)]
    assert query(f'SELECT count(*) FROM "{dataset}".orders__items__tags') == [(8,)]
    # `events` was not in this run: drop_sources drops it, the others leave it alone
    assert ("events" in tables_in(query, dataset)) == (refresh != "drop_sources")
    load_with_pg_assets(dataset, disposition, range(9, 10), "e")  # pg_assets goes on after dlt's refresh
    expected = [(9,)] if disposition == "replace" else [(7,), (8,), (9,)]
    assert query(f'SELECT id FROM "{dataset}".orders ORDER BY id') == expected


@pytest.mark.parametrize("disposition", list(DISPOSITIONS))
def test_pipeline_dataset_reads_what_pg_assets_loaded(disposition, dataset, dlt_uri, tmp_path):
    load_with_pg_assets(dataset, disposition)
    ds = synced(dataset, dlt_uri, tmp_path).dataset()
    assert dict(ds.row_counts().fetchall()) == {"orders": 3, "orders__items": 6, "orders__items__tags": 12,
                                                "events": 1}
    assert ds["orders"].select("id", "customer__name").order_by("id").fetchall() == [(1, "a1"), (2, "a2"),
                                                                                    (3, "a3")]
    items = ds["orders__items"].select("sku").order_by("sku").fetchall()
    assert items[0] == ("a-1-0",) and len(items) == 6


def test_embedded_uri_for_dlt_loads_a_row(pg_credentials, dataset, query, tmp_path, pg_assets_home):
    uri = subprocess.run([sys.executable, "-m", "pg_assets.cli", "embedded", "uri", "--dlt"], capture_output=True,
                         text=True, env={**os.environ, embedded.HOME_ENV: str(pg_assets_home)}, check=True,
                         cwd=tmp_path).stdout.strip()
    assert uri == embedded.dlt_uri(pg_assets_home)
    dp = dlt.pipeline(pipeline_name="via_uri", destination=dlt.destinations.postgres(uri), dataset_name=dataset,
                      pipelines_dir=str(tmp_path / "dlt"))
    dp.run([{"id": 1}], table_name="t")
    assert query(f'SELECT id FROM "{dataset}".t') == [(1,)]
