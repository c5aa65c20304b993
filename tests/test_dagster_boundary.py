"""The engine never imports Dagster: only `pg_assets.dagster` and `pg_assets.definitions` do."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_pg_assets_does_not_import_dagster() -> None:
    assert _run("""
        import sys
        import pg_assets
        print(sorted(m for m in sys.modules if m.split(".")[0] in {"dagster", "dagster_dbt"}))
    """) == "[]"


def test_no_engine_module_imports_dagster() -> None:
    loaded = _run("""
        import importlib, pkgutil, sys

        def walk(package):
            # Not pkgutil.walk_packages: it imports every package it descends into, ours too.
            for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
                if info.name in ("pg_assets.dagster", "pg_assets.definitions"):
                    continue
                module = importlib.import_module(info.name)
                if info.ispkg:
                    walk(module)

        walk(importlib.import_module("pg_assets"))
        print(sorted({m.split(".")[0] for m in sys.modules} & {"dagster", "dagster_dbt", "dagster_webserver"}))
    """)
    assert loaded == "[]"


@pytest.mark.parametrize("name", ["PipelinesComponent"])
def test_component_is_reached_lazily_from_the_package(name: str) -> None:
    assert _run(f"""
        import pg_assets
        cls = getattr(pg_assets, {name!r})
        print(cls.__module__ + "." + cls.__name__)
    """) == f"pg_assets.dagster.component.{name}"
