"""`pg-assets dbt-sources`: the generated sources.yml, the refresh that keeps hand-written parts, and dbt accepting it.

The merge is tested as a pure function with one case per thing a user adds by hand;
discovery of child tables against the session's embedded server; the file itself
by `dbt parse` on a copy of the repository's dbt project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pg_assets.cli import main
from pg_assets.connection import ConnectionConfig
from pg_assets.dbt.env import dbt_executable
from pg_assets.dbt.sources import (
    LoadedTable,
    build_sources,
    child_tables,
    discover_child_tables,
    merge_sources,
    read_sources_file,
    render_sources,
    stale_tables,
    write_dbt_sources,
)
from pg_assets.errors import ConfigError
from pg_assets.spec import load_spec

REPO = Path(__file__).resolve().parent.parent

ORDERS = LoadedTable("raw_shop", "orders", "shop", "orders", "Orders as exported.")
CUSTOMERS = LoadedTable("raw_shop", "customers", "shop", "customers")
VIEWS = LoadedTable("events", "page_views", "events", "page_views")

SPEC = """\
sources:
  shop:
    kind: python
    dataset: Raw Shop
    description: The shop.
    resources:
      customers: {function: data:rows}
      orders: {function: data:rows, description: Orders as exported.}
      line_items: {function: data:rows, table_name: orderLines}
  events:
    kind: python
    dataset: events
    resources:
      page_views: {function: data:rows}
"""


def _spec(tmp_path: Path, text: str = SPEC) -> Path:
    (tmp_path / "data.py").write_text("def rows():\n    return [{'id': 1}]\n")
    path = tmp_path / "pipelines.yaml"
    path.write_text(text)
    return path


def _tables(doc: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    found = next(s for s in doc["sources"] if s["name"] == source)
    return {t["name"]: t for t in found["tables"]}


# --- what is generated ------------------------------------------------------------------------------------------

def test_one_source_per_dataset_named_after_it(tmp_path: Path) -> None:
    path = tmp_path / "sources.yml"
    write_dbt_sources(load_spec(_spec(tmp_path)), path, discover=False)
    doc = yaml.safe_load(path.read_text())
    assert [(s["name"], s["schema"]) for s in doc["sources"]] == [("raw_shop", "raw_shop"), ("events", "events")]
    assert list(_tables(doc, "raw_shop")) == ["customers", "orders", "order_lines"]  # as the engine names them
    assert _tables(doc, "raw_shop")["orders"]["description"] == "Orders as exported."
    assert doc["sources"][0]["description"] == "The shop."


def test_child_tables_follow_their_root_and_name_its_asset_key() -> None:
    doc = build_sources([ORDERS, CUSTOMERS], {"raw_shop": ("orders__items", "orders__items__discounts")})
    tables = _tables(doc, "raw_shop")
    assert list(tables) == ["orders", "orders__items", "orders__items__discounts", "customers"]
    assert tables["orders__items"]["config"]["meta"]["dagster"]["asset_key"] == ["raw_shop", "orders"]
    assert tables["orders__items__discounts"]["config"]["meta"]["dagster"]["asset_key"] == ["raw_shop", "orders"]
    assert "`orders__items._dlt_id`" in tables["orders__items__discounts"]["description"]
    assert "asset_key" not in str(tables["orders"])


CHILD_CASES = {
    "child_of_a_root": (["orders__items"], ["orders__items"]),
    "grandchild": (["orders__items__tags"], ["orders__items__tags"]),
    "system_table": (["_dlt_loads", "_dlt_pipeline_state"], []),
    "prefix_without_separator": (["orders_archive"], []),
    "another_root_is_not_a_child": (["customers"], []),
    "table_of_no_root": (["audit__log"], []),
}


@pytest.mark.parametrize(("names", "expected"), list(CHILD_CASES.values()), ids=list(CHILD_CASES))
def test_which_tables_are_children(names: list[str], expected: list[str]) -> None:
    found = child_tables({"raw_shop": names}, [ORDERS, CUSTOMERS])
    assert list(found.get("raw_shop", ())) == expected


# --- refreshing keeps what the user wrote -----------------------------------------------------------------------

GENERATED = build_sources([ORDERS, CUSTOMERS, VIEWS], {"raw_shop": ("orders__items",)})


def _existing(**edits: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(build_sources([ORDERS])))
    source = doc["sources"][0]
    table = source["tables"][0]
    for where, value in edits.items():
        {"source": source, "table": table, "doc": doc}[where].update(value)
    return doc


MERGE_CASES: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], Any], Any]] = {
    "edited_description": (
        _existing(table={"description": "Mine."}),
        lambda d: _tables(d, "raw_shop")["orders"]["description"], "Mine.",
    ),
    "column_with_tests": (
        _existing(table={"columns": [{"name": "id", "data_tests": ["unique", "not_null"]}]}),
        lambda d: _tables(d, "raw_shop")["orders"]["columns"], [{"name": "id", "data_tests": ["unique", "not_null"]}],
    ),
    "source_freshness": (
        _existing(source={"loaded_at_field": "ordered_at", "freshness": {"warn_after": {"count": 1, "period": "day"}}}),
        lambda d: d["sources"][0]["freshness"], {"warn_after": {"count": 1, "period": "day"}},
    ),
    "own_meta_beside_ours": (
        _existing(table={"config": {"meta": {"owner": "ana"}}}),
        lambda d: _tables(d, "raw_shop")["orders"]["config"], {"meta": {"owner": "ana"}},
    ),
    "a_whole_source_of_my_own": (
        _existing(doc={"sources": [{"name": "crm", "tables": [{"name": "leads"}]}]}),
        lambda d: [s["name"] for s in d["sources"]], ["crm", "raw_shop", "events"],
    ),
    "new_tables_are_added": (
        _existing(),
        lambda d: list(_tables(d, "raw_shop")), ["orders", "orders__items", "customers"],
    ),
}


@pytest.mark.parametrize(("existing", "read", "expected"), list(MERGE_CASES.values()), ids=list(MERGE_CASES))
def test_refresh_keeps_hand_written_parts(existing: dict[str, Any], read: Callable[[dict[str, Any]], Any],
                                          expected: Any) -> None:
    assert read(merge_sources(existing, GENERATED)) == expected


def test_stale_tables_are_reported_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "sources.yml"
    path.write_text(render_sources(build_sources([ORDERS, LoadedTable("raw_shop", "returns", "shop", "returns")])))
    refresh = write_dbt_sources(load_spec(_spec(tmp_path)), path, discover=False)
    assert "returns" in _tables(yaml.safe_load(path.read_text()), "raw_shop")
    assert any("`raw_shop.returns`" in w for w in refresh.warnings)
    tables = [{"name": "orders"}, {"name": "returns"}, {"name": "orders__notes"}]  # a child table of a loaded root
    existing = {"sources": [{"name": "raw_shop", "tables": tables}, {"name": "crm", "tables": [{"name": "leads"}]}]}
    assert stale_tables(existing, GENERATED) == ["raw_shop.returns"]  # a source of the user's own is not judged


def test_refresh_is_idempotent(tmp_path: Path) -> None:
    spec, path = load_spec(_spec(tmp_path)), tmp_path / "sources.yml"
    assert write_dbt_sources(spec, path, discover=False).changed
    first = path.read_text()
    assert not write_dbt_sources(spec, path, discover=False).changed
    assert path.read_text() == first


@pytest.mark.parametrize("text", ["sources: {raw_shop: {}}\n", "- just\n- a list\n", "sources: [[1]]\n"],
                         ids=["sources_not_a_list", "not_a_mapping", "unnamed_sources"])
def test_a_file_that_is_not_a_sources_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sources.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="not a dbt sources file"):
        write_dbt_sources(load_spec(_spec(tmp_path)), path, discover=False)
    assert path.read_text() == text


# --- child tables from the destination --------------------------------------------------------------------------

def test_child_tables_are_read_from_the_destination(pg_credentials: ConnectionConfig, dataset: str,
                                                    query: Callable[..., Any]) -> None:
    query(f'CREATE SCHEMA "{dataset}"')
    query(f'CREATE TABLE "{dataset}".orders (_dlt_id text)')
    query(f'CREATE TABLE "{dataset}".orders__items (_dlt_id text, _dlt_parent_id text)')
    query(f'CREATE TABLE "{dataset}".orders__notes (body text)')  # no _dlt_parent_id: not a child table
    query(f'CREATE TABLE "{dataset}"._dlt_loads (load_id text)')
    tables = [LoadedTable(dataset, "orders", "shop", "orders")]
    assert discover_child_tables(pg_credentials, tables) == {dataset: ("orders__items",)}


def test_unreachable_destination_still_writes_root_tables(tmp_path: Path) -> None:
    path = tmp_path / "sources.yml"
    nowhere = "postgresql://loader@127.0.0.1:9/dw?connect_timeout=2"
    refresh = write_dbt_sources(load_spec(_spec(tmp_path)), path, credentials=nowhere)
    assert refresh.changed and refresh.children == {}
    assert len(refresh.warnings) == 1 and "could not read child tables" in refresh.warnings[0]
    assert "customers" in _tables(yaml.safe_load(path.read_text()), "raw_shop")


# --- dbt accepts it ---------------------------------------------------------------------------------------------

def _dbt_parse(project: Path) -> dict[str, Any]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([dbt_executable(), "parse", "--no-partial-parse"], cwd=project, capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:]
    return json.loads((project / "target" / "manifest.json").read_text())


def test_dbt_parse_accepts_the_refreshed_file_with_hand_written_additions(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    spec = _spec(tmp_path, SPEC.replace("Raw Shop", "raw_shop").replace(
        "      customers:", "      returns: {function: data:rows}\n      customers:"))
    sources = project / "models" / "sources.yml"
    doc = read_sources_file(sources)
    _tables(doc, "raw_shop")["customers"].update(
        description="Hand-written.", columns=[{"name": "email", "data_tests": ["unique"]}])
    sources.write_text(yaml.safe_dump(doc, sort_keys=False))

    assert main(["dbt-sources", "-f", str(spec), "-o", str(sources)]) == 0
    manifest = _dbt_parse(project)

    customers = manifest["sources"]["source.pg_assets_models.raw_shop.customers"]
    assert customers["description"] == "Hand-written."
    assert any(n.get("test_metadata", {}).get("name") == "unique" and n["attached_node"] is None
               and "source.pg_assets_models.raw_shop.customers" in n["depends_on"]["nodes"]
               for n in manifest["nodes"].values())
    assert "source.pg_assets_models.raw_shop.returns" in manifest["sources"]  # added by the refresh
    assert "source.pg_assets_models.raw_shop.orders__items" in manifest["sources"]  # kept: the models use it


def test_the_repository_sources_file_is_up_to_date_with_pipelines_yaml(tmp_path: Path) -> None:
    # A refresh of the shipped file changes nothing: every table pipelines.yaml loads is declared.
    copy = tmp_path / "sources.yml"
    shutil.copy(REPO / "dbt_project" / "models" / "sources.yml", copy)
    refresh = write_dbt_sources(load_spec(REPO / "pipelines.yaml"), copy, discover=False)
    assert not refresh.changed and refresh.warnings == ()
