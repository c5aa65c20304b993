"""`type: pg_assets.PipelinesComponent` in a `dg` project: loading, listing, YAML validation."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from pg_assets.dagster import PgAssetsResource, PipelinesComponent
from dagster_projects import SHOP, write_project

DG = shutil.which("dg", path=str(Path(sys.executable).parent))
needs_dg = pytest.mark.skipif(DG is None, reason="the `dg` CLI (dagster-dg-cli) is not installed")


def test_a_defs_yaml_loads_the_spec_beside_it() -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=PipelinesComponent,
            defs_yaml_contents={"type": "pg_assets.PipelinesComponent",
                                "attributes": {"spec": "pipelines.yaml", "pool": "warehouse",
                                               "credentials_env": "WAREHOUSE_URL"}},
        )
        write_project(path, SHOP)
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, PipelinesComponent)
            keys = {s.key for s in defs.resolve_all_asset_specs()}
            assert dg.AssetKey(["raw_shop", "customers"]) in keys
            assert {a.op.pool for a in defs.assets} == {"warehouse"}
            resource = defs.resources["pg_assets"]
            assert isinstance(resource, PgAssetsResource)
            # the env var's name, not its value, is in the definitions
            assert "WAREHOUSE_URL" in repr(resource.credentials)


def test_scaffolding_writes_a_starter_that_loads(query: Callable[..., list[tuple]]) -> None:
    name = f"starter_{secrets.token_hex(3)}"  # also the dataset: unique per run
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=PipelinesComponent, defs_path=name)
        assert {p.name for p in path.iterdir()} >= {"defs.yaml", "pipelines.yaml", f"{name}_source.py"}
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            try:
                assert dg.materialize(defs.assets, resources=defs.resources).success
                assert query(f'SELECT count(*), sum(square) FROM "{name}".numbers') == [(10, 285)]
            finally:
                query(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
                query(f'DROP SCHEMA IF EXISTS "{name}_staging" CASCADE')


def test_two_components_live_in_one_project() -> None:
    with create_defs_folder_sandbox() as sandbox:
        for name in ("first", "second"):
            sandbox.scaffold_component(component_cls=PipelinesComponent, defs_path=f"{name}_{secrets.token_hex(3)}")
        with sandbox.build_all_defs() as defs:
            assert len(defs.resolve_all_asset_keys()) == 2


def _registered_name() -> str:
    (point,) = [ep for ep in entry_points(group="dagster_dg_cli.registry_modules") if ep.name == "pg_assets"]
    return f"{point.value}.PipelinesComponent"


@needs_dg
def test_dg_lists_the_component(tmp_path: Path) -> None:
    out = subprocess.run([DG, "list", "components", "--json"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert _registered_name() in {entry["key"] for entry in json.loads(out)["items"]}


PROJECT = """
[project]
name = "{name}"
version = "0.0.1"
[tool.dg]
directory_type = "project"
[tool.dg.project]
root_module = "{module}"
"""


@needs_dg
def test_dg_check_yaml_points_at_a_wrong_attribute(tmp_path: Path) -> None:
    module = "pgdg_project"
    defs = tmp_path / "src" / module / "defs" / "ingest"
    defs.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text(PROJECT.format(name="pgdg-project", module=module))
    for package in (defs.parent.parent, defs.parent):
        (package / "__init__.py").touch()
    (defs / "defs.yaml").write_text(textwrap.dedent("""\
        type: pg_assets.PipelinesComponent
        attributes:
          spce: pipelines.yaml
    """))
    result = subprocess.run([DG, "check", "yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "defs.yaml:3" in result.stdout and "'spce' was unexpected" in result.stdout


def test_the_component_keeps_embedded_data_at_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_assets import embedded

    monkeypatch.delenv(embedded.HOME_ENV, raising=False)  # as a user's project has it
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=PipelinesComponent, defs_path=f"ingest_{secrets.token_hex(3)}")
        root = sandbox.project_root
        assert ".pg_assets/" in (root / ".gitignore").read_text().splitlines()
        assert "ProjectStorage" in (root / "dagster.yaml").read_text()  # `dg dev` keeps its runs
        try:
            with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
                assert dg.materialize(defs.assets, resources=defs.resources).success
            assert embedded.running_config(root / ".pg_assets") is not None
            assert not (path / ".pg_assets").exists()  # never inside the package's defs folder
        finally:
            embedded.stop(root / ".pg_assets")


BAD_SPEC = """\
sources:
  s:
    kind: python
    dataset: d
    resources:
      t: {function: "m:f", write_disposition: mrege}
"""


@needs_dg
def test_dg_check_defs_shows_the_located_spec_error(tmp_path: Path) -> None:
    module = f"pgdg_{secrets.token_hex(3)}"
    defs = tmp_path / "src" / module / "defs" / "ingest"
    defs.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text(PROJECT.format(name=module, module=module))
    (tmp_path / "src" / module / "__init__.py").touch()
    (tmp_path / "src" / module / "definitions.py").write_text(textwrap.dedent("""\
        from pathlib import Path
        import dagster as dg

        @dg.definitions
        def defs():
            return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    """))
    (defs / "defs.yaml").write_text("type: pg_assets.PipelinesComponent\nattributes:\n  spec: pipelines.yaml\n")
    (defs / "pipelines.yaml").write_text(BAD_SPEC)
    os = __import__("os")
    paths = [str(tmp_path / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]  # this checkout's pg_assets too
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    result = subprocess.run([DG, "check", "defs"], cwd=tmp_path, capture_output=True, text=True, timeout=180, env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert f"{defs / 'pipelines.yaml'}:6:" in out and "Did you mean `merge`?" in out
    # Our located message leads; Dagster's wrapper ("Error occurred during the loading ...") is not in front of it.
    assert "DefinitionsSpecError: " in out and "Error occurred during the loading" not in out, out
    assert "spec/document.py" not in out  # the engine's frames are not shown


REPO = Path(__file__).resolve().parents[1]


@needs_dg
def test_dg_finds_the_repository_definitions() -> None:
    """`dg dev` beside `dagster dev`: `[tool.dg]` in the repository's pyproject names `pg_assets.definitions`."""
    result = subprocess.run([DG, "list", "defs", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = __import__("json").loads(result.stdout)
    keys = {asset["asset_key"] for asset in listed["assets"]}
    assert {"raw_shop/orders", "events/page_views", "analytics/customer_summary"} <= keys, sorted(keys)
