"""The translator hook and the metadata users of dagster-dlt, -sling and -dbt expect (definition time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pg_assets.dagster import PgAssetsTranslator, PgAssetsTranslatorData, PipelinesComponent, build_definitions
from pg_assets.dagster.project import project_definitions
from pg_assets.spec import load_spec
from dagster_projects import SHOP, write_project

REPO = Path(__file__).resolve().parent.parent
CUSTOMERS = dg.AssetKey(["raw_shop", "customers"])


class Warehouse(PgAssetsTranslator):
    """Every table under `warehouse/`, grouped by dataset, tagged with its source."""

    def get_asset_spec(self, props: PgAssetsTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(props)
        return spec.replace_attributes(key=spec.key.with_prefix("warehouse"),
                                       group_name=f"raw_{props.source}").merge_attributes(
            tags={"resource": props.resource})


@pytest.fixture
def spec(tmp_path: Path) -> Any:
    return load_spec(write_project(tmp_path, SHOP))


def _specs(defs: dg.Definitions) -> dict[dg.AssetKey, dg.AssetSpec]:
    return {s.key: s for s in defs.resolve_all_asset_specs()}


def test_the_translator_decides_keys_groups_and_tags(spec: Any) -> None:
    specs = _specs(build_definitions(spec, translator=Warehouse()))
    key = dg.AssetKey(["warehouse", "raw_shop", "customers"])
    assert CUSTOMERS not in specs and key in specs
    assert specs[key].group_name == "raw_shop" and specs[key].tags["resource"] == "customers"
    assert specs[key].tags["tier"] == "gold"  # the YAML's tags are still there


def test_checks_follow_the_translated_key(spec: Any) -> None:
    defs = build_definitions(spec, translator=Warehouse())
    checked = {k.asset_key for a in defs.assets for k in a.check_keys}
    assert dg.AssetKey(["warehouse", "raw_shop", "customers"]) in checked and CUSTOMERS not in checked


def test_a_translator_must_return_an_asset_spec(spec: Any) -> None:
    class Broken(PgAssetsTranslator):
        def get_asset_spec(self, props: PgAssetsTranslatorData) -> Any:
            return props.table

    with pytest.raises(TypeError, match="not a dagster.AssetSpec, for `shop.customers`"):
        build_definitions(spec, translator=Broken())


def test_props_carry_source_resource_settings_dataset_table_destination(spec: Any) -> None:
    seen: list[PgAssetsTranslatorData] = []

    class Recorder(PgAssetsTranslator):
        def get_asset_spec(self, props: PgAssetsTranslatorData) -> dg.AssetSpec:
            seen.append(props)
            return super().get_asset_spec(props)

    build_definitions(spec, translator=Recorder())
    props = next(p for p in seen if p.resource == "customers")
    assert (props.source, props.dataset, props.table) == ("shop", "raw_shop", "customers")
    assert props.settings.primary_key == "id" and props.source_spec.kind == "python"
    assert props.destination.database == "postgres"


def test_dbt_lineage_and_column_lineage_follow_the_changed_keys() -> None:
    graph = project_definitions(REPO / "pipelines.yaml", translator=Warehouse()).resolve_asset_graph()
    orders = dg.AssetKey(["warehouse", "raw_shop", "orders"])
    staging = dg.AssetKey(["staging", "stg_shop__order_items"])
    assert graph.get(staging).parent_keys == {orders}
    stubs = [k for k in graph.get_all_asset_keys() if not graph.get(k).is_materializable]
    assert stubs == []  # no dbt source left on the old `[dataset, table]` key


def test_the_component_translation_templates_keys_and_groups(tmp_path: Path) -> None:
    spec_file = write_project(tmp_path, SHOP)
    component = PipelinesComponent.from_attributes_dict(attributes={
        "spec": str(spec_file),
        "translation": {"key": "lake/{{ props.dataset }}/{{ props.table }}", "group_name": "{{ props.source }}_raw"},
    })
    specs = _specs(dg.build_defs_for_component(component))
    key = dg.AssetKey(["lake", "raw_shop", "customers"])
    assert key in specs and specs[key].group_name == "shop_raw"
    assert specs[key].metadata["dagster/table_name"] == "postgres.raw_shop.customers"


FILES_AND_API = """
sources:
  files:
    kind: files
    dataset: raw_files
    resources:
      customers: {{path: "data/*.csv"}}
  api:
    kind: rest_api
    dataset: raw_api
    base_url: "https://user:hunter2@api.example.com/v1/?token=hunter2"
    resources:
      players:
        endpoint: "players?key=hunter2"
"""


def test_storage_kind_uri_and_code_references(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id\n1\n")
    specs = _specs(build_definitions(load_spec(write_project(tmp_path, FILES_AND_API))))
    files, api = specs[dg.AssetKey(["raw_files", "customers"])], specs[dg.AssetKey(["raw_api", "players"])]
    assert files.metadata["dagster/storage_kind"] == "postgres"
    assert files.metadata["dagster/uri"] == (tmp_path / "data" / "*.csv").as_uri()
    assert api.metadata["dagster/uri"] == "https://api.example.com/v1/players"
    assert "hunter2" not in repr(api.metadata)
    reference = files.metadata["dagster/code_references"].code_references[0]
    lines = (tmp_path / "pipelines.yaml").read_text().splitlines()
    assert reference.file_path == str(tmp_path / "pipelines.yaml")
    assert lines[reference.line_number - 1].strip().startswith("customers:")


def _row_count_after_load(tmp_path: Path, dataset: str, instance: dg.DagsterInstance) -> dict[str, Any]:
    defs = build_definitions(load_spec(write_project(tmp_path, SHOP, dataset)))
    key = dg.AssetKey([dataset, "customers"])
    result = dg.materialize(list(defs.assets), selection=[key],
                            resources=defs.resources, instance=instance)
    event = next(m for m in result.get_asset_materialization_events() if m.asset_key == key)
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def test_a_small_table_is_counted_exactly_even_never_analysed(tmp_path: Path, dataset: str, query: Any) -> None:
    with dg.instance_for_test() as instance:
        metadata = _row_count_after_load(tmp_path, dataset, instance)
    assert query(f"SELECT reltuples FROM pg_class WHERE oid = '\"{dataset}\".customers'::regclass") == [(-1.0,)]
    assert metadata["dagster/row_count"] == 2 and metadata["row_count_estimated"] is False
    assert metadata["dagster/storage_kind"] == "postgres"


def test_a_large_table_is_never_scanned_its_count_is_the_estimate_plus_this_load(
        tmp_path: Path, dataset: str, query: Any) -> None:
    with dg.instance_for_test() as instance:
        _row_count_after_load(tmp_path, dataset, instance)
        # The planner believes the table holds 5 million rows; a count(*) would say 2.
        query(f"UPDATE pg_class SET reltuples = 5000000 WHERE oid = '\"{dataset}\".customers'::regclass")
        metadata = _row_count_after_load(tmp_path, dataset, instance)
    assert metadata["dagster/row_count"] == 5_000_000 + metadata["rows_loaded"]
    assert metadata["row_count_estimated"] is True and "estimate" in metadata["row_count_basis"]
