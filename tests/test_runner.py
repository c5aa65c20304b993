"""The runner end to end: the repository's offline sources into the embedded Postgres."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pg_assets import ProgressEvent, runner
from pg_assets.errors import ConfigError
from pg_assets.spec import PipelinesSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
Query = Callable[..., list[tuple]]


def repo_spec(dataset: str) -> PipelinesSpec:
    """The repository's pipelines.yaml with every dataset renamed to this test's schema."""
    text = (ROOT / "pipelines.yaml").read_text(encoding="utf-8")
    for name in ("raw_shop", "events", "chess_data"):
        text = text.replace(f"dataset: {name}\n", f"dataset: {dataset}\n")
    return load_spec(ROOT / "pipelines.yaml", text=text)


def spec_in(tmp_path: Path, text: str) -> PipelinesSpec:
    (tmp_path / "pipelines.yaml").write_text(textwrap.dedent(text))
    return load_spec(tmp_path / "pipelines.yaml")


def python_source(tmp_path: Path, dataset: str, resources: str) -> PipelinesSpec:
    """A spec of one python source `py` loading into `dataset`; `resources` is the YAML under `resources:`."""
    head = f"sources:\n  py:\n    kind: python\n    dataset: {dataset}\n    resources:\n"
    return spec_in(tmp_path, head + textwrap.indent(textwrap.dedent(resources), "      "))


def count(query: Query, table: str) -> int:
    return query(f"SELECT count(*) FROM {table}")[0][0]


def test_shop_example_loads_with_types_nesting_and_keys(dataset: str, query: Query) -> None:
    info = runner.run_source(repo_spec(dataset), "shop")
    assert info.pipeline_name == "shop" and info.dataset == dataset
    counts = info.row_counts
    assert (counts["customers"], counts["orders"], counts["products"]) == (200, 2000, 50)
    assert counts["orders__items"] > 2000 and counts["products__tags"] > 50

    types = dict(query("SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = %s", (dataset,)))
    assert types["customers.id"] == "bigint"
    assert types["customers.signed_up_at"] == "timestamp with time zone"
    assert types["orders.ordered_at"] == "timestamp with time zone"
    assert "orders.shipping__city" in types and "orders__items.unit_price" in types
    assert types["products__tags.value"] == "character varying"

    assert query(f'SELECT name FROM "{dataset}".customers WHERE id = 7') == [("Lovelace, Ada",)]
    notes = query(f'SELECT notes FROM "{dataset}".customers WHERE id = 12')
    assert notes == [("Prefers email.\nCall only after 6pm.",)]
    assert query(f'SELECT count(*) FROM "{dataset}".customers WHERE notes IS NULL OR signed_up_at IS NULL'
                 ) == [(198,)]
    assert query(f'SELECT count(*) FROM "{dataset}".orders o LEFT JOIN "{dataset}".customers c '
                 "ON c.id = o.customer_id WHERE c.id IS NULL") == [(0,)]
    assert query(f'SELECT count(*) FROM "{dataset}".orders__items i LEFT JOIN "{dataset}".products p '
                 "ON p.sku = i.sku WHERE p.sku IS NULL") == [(0,)]


def test_rerun_loads_nothing_new_and_keeps_row_counts(dataset: str, query: Query) -> None:
    spec = repo_spec(dataset)
    runner.run_source(spec, "shop")
    again = runner.run_source(spec, "shop")
    assert again.row_counts.get("orders", 0) == 0
    assert (count(query, f'"{dataset}".customers'), count(query, f'"{dataset}".orders'),
            count(query, f'"{dataset}".products')) == (200, 2000, 50)


def test_events_example_is_incremental(dataset: str, query: Query) -> None:
    spec = repo_spec(dataset)
    events: list[ProgressEvent] = []
    assert runner.run_source(spec, "events", progress=events.append).row_counts["page_views"] == 450
    assert runner.run_source(spec, "events").row_counts.get("page_views", 0) == 0
    assert count(query, f'"{dataset}".page_views') == 450
    assert query(f'SELECT count(*) FROM "{dataset}".page_views WHERE device__type IS NULL') == [(0,)]
    assert events and events[-1].table == "page_views"


def test_loaded_files_are_skipped_through_the_stored_state(tmp_path: Path, dataset: str, query: Query) -> None:
    spec = spec_in(tmp_path, f"""
        sources:
          drop:
            kind: files
            dataset: {dataset}
            resources:
              rows: {{path: "in/*.jsonl", incremental: {{cursor_path: n}}}}
        """)
    (tmp_path / "in").mkdir()
    first = tmp_path / "in" / "1.jsonl"
    first.write_text('{"n": 1}\n{"n": 2}\n')
    assert runner.run_source(spec, "drop").row_counts["rows"] == 2
    stat = first.stat()
    first.write_text('{"n": 1}\n{"n"!!2}\n')                  # same size and mtime: not read again
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (tmp_path / "in" / "2.jsonl").write_text('{"n": 3}\n')
    assert runner.run_source(spec, "drop").row_counts["rows"] == 1
    assert query(f'SELECT n FROM "{dataset}".rows ORDER BY n') == [(1,), (2,), (3,)]


def test_selected_resources_and_partitions(tmp_path: Path, dataset: str, query: Query) -> None:
    (tmp_path / "daily.py").write_text("def rows(day):\n    return [{'day': day, 'n': 1}]\n")
    spec = spec_in(tmp_path, f"""
        sources:
          py:
            kind: python
            dataset: {dataset}
            resources:
              by_day:
                function: daily:rows
                args: {{day: "${{partition_key}}"}}
                partitions: {{type: daily, start: 2024-01-01, mode: merge_key}}
                write_disposition: merge
                merge_key: day
              other: {{function: daily:rows, args: {{day: x}}}}
        """)
    for day in ("2024-01-01", "2024-01-02", "2024-01-02"):
        info = runner.run_source(spec, "py", ["by_day"], partition={"partition_key": day})
        assert set(info.row_counts) == {"by_day"}
    assert query(f'SELECT day, n FROM "{dataset}".by_day ORDER BY day') == [("2024-01-01", 1), ("2024-01-02", 1)]


PARTITION_MODES = {
    "replace_mode_partitioned": ("replace", {"partition_key": "eu"}, "replace"),
    "merge_key_mode_partitioned": ("merge_key", {"partition_key": "eu"},
                                   {"disposition": "merge", "strategy": "delete-insert"}),
    "mode_unpartitioned": ("replace", None, "append"),
}


@pytest.mark.parametrize(("mode", "partition", "disposition"), PARTITION_MODES.values(), ids=PARTITION_MODES.keys())
def test_a_partitioned_run_writes_as_the_mode_says(tmp_path: Path, mode: str, partition: dict[str, str] | None,
                                                    disposition: Any) -> None:
    (tmp_path / "modes.py").write_text("def rows():\n    return []\n")
    spec = python_source(tmp_path, "d", f"""
        by_region:
          function: modes:rows
          partitions: {{type: static, keys: [eu, us], mode: {mode}}}
          merge_key: region
        """)
    (resource,) = runner.build_resources(spec, "py", partition=partition)
    assert resource.write_disposition == disposition


def test_a_partition_in_replace_mode_replaces_the_table(tmp_path: Path, dataset: str, query: Query) -> None:
    (tmp_path / "regions.py").write_text("def rows(region):\n    return [{'region': region, 'n': 1}]\n")
    spec = python_source(tmp_path, dataset, """
        by_region:
          function: regions:rows
          args: {region: "${partition_key}"}
          partitions: {type: static, keys: [eu, us], mode: replace}
        """)
    for key in ("eu", "us", "us"):
        assert runner.run_source(spec, "py", partition={"partition_key": key}).row_counts == {"by_region": 1}
    assert query(f'SELECT region, n FROM "{dataset}".by_region') == [("us", 1)]


def test_run_spec_runs_each_named_source(dataset: str) -> None:
    infos = runner.run_spec(repo_spec(dataset), ["events", "shop.products"])
    assert [info.pipeline_name for info in infos] == ["events", "shop"]
    assert set(infos[1].row_counts) == {"products", "products__tags"}


@pytest.mark.parametrize(("targets", "message"), [
    (["shopp"], "no source `shopp` in pipelines.yaml; the sources are `shop`, `events`, `chess`. Did you mean `shop`?"),
    (["shop.custmers"], "no resource `custmers` in source `shop`. Did you mean `customers`?"),
], ids=["unknown-source", "unknown-resource"])
def test_unknown_targets_suggest_the_closest(targets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("?", r"\?")):
        runner.parse_targets(load_spec(ROOT / "pipelines.yaml"), targets)


def test_parse_targets_groups_resources_by_source() -> None:
    spec = load_spec(ROOT / "pipelines.yaml")
    assert runner.parse_targets(spec, ["shop.orders", "events", "shop.customers"]) == {
        "shop": ["orders", "customers"], "events": None}
    assert runner.parse_targets(spec, ["shop.orders", "shop"]) == {"shop": None}
    assert list(runner.parse_targets(spec, [])) == ["shop", "events", "chess"]


def test_pipeline_for_uses_the_source_name_and_dataset(pg_credentials: Any) -> None:
    spec = load_spec(ROOT / "pipelines.yaml")
    pipeline = runner.pipeline_for(spec, "shop", credentials=pg_credentials)
    assert (pipeline.name, pipeline.dataset) == ("shop", "raw_shop")
