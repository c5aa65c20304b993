"""The stored schema document and state, key by key against the ones dlt 1.31 writes for the same rows.

Twin datasets: dlt loads the rows into one, pg_assets into the other, under one pipeline
name; the newest `_dlt_version` documents must then be equal except for the version
bookkeeping (`version_hash` and `previous_hashes` depend on when each wrote what), with
the columns of every table in the same order. Then the hand-overs on one dataset: what
dlt set is kept, and a dlt source whose name differs from the pipeline's is updated in
place, from Python and from `pipelines.yaml`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pytest

import pg_assets
from pg_assets import runner, state as state_store
from pg_assets.spec import load_spec, validate_file
from test_dlt_interop import START, day, dlt_pipeline, dlt_uri, orders, stored_document  # noqa: F401

BOOKKEEPING = ("version_hash", "previous_hashes")
LONG = "a_column_whose_name_is_so_long_that_its_variant_column_needs_a_shortened_name"
# deep dicts (flattened in dlt's order), lists of dicts and of scalars, a value that changes type
# (a variant column), every scalar type, and a column hinted by the resource
ROWS = [
    {"id": 1, "name": "a", "deep": {"a": 1, "b": {"c": 1, "e": {"f": 1}}, "d": 2, "g": {"h": 1}}, "price": 1.5,
     "paid": True, "ts": dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), "on": dt.date(2024, 1, 2),
     "amount": Decimal("1.25"), "blob": b"\x00x", "v": 1, "lines": [{"sku": "s1", "dims": [1, 2]}], LONG: 1},
    {"id": 2, "name": "b", "v": "text", "deep": {"a": "x"}, "lines": [{"sku": 7}], LONG: "x"},
]
HINTS = {"name": {"data_type": "text", "nullable": False, "unique": True}}
CASES = {
    "append": {"write_disposition": "append"},
    "replace": {"write_disposition": "replace"},
    "merge": {"write_disposition": "merge"},
    "upsert": {"write_disposition": {"disposition": "merge", "strategy": "upsert"}},
    # merge's default strategy, named: dlt then stores `x-merge-strategy` (plain `merge` leaves it out)
    "delete-insert": {"write_disposition": {"disposition": "merge", "strategy": "delete-insert"}},
    "nesting-1": {"write_disposition": "append", "max_table_nesting": 1},
}


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture
def twin(dataset: str, query: Callable[..., list[tuple]]) -> Iterator[str]:
    """A second dataset for dlt, dropped afterwards."""
    name = f"{dataset}_d"
    yield name
    for schema in (name, f"{name}_staging"):
        query(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def without_bookkeeping(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in BOOKKEEPING}


def column_orders(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {name: list(table["columns"]) for name, table in doc["tables"].items()}


def newest_state(query: Callable[..., list[tuple]], dataset: str) -> dict[str, Any]:
    (text,), = query(f'SELECT state FROM "{dataset}"._dlt_pipeline_state ORDER BY created_at DESC LIMIT 1')
    return state_store.decode_state(text)


def differences(theirs: Any, ours: Any, path: str = "") -> list[str]:
    """Every key path where the two documents differ, for a readable failure."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out = [f"{path}/{k}: only dlt's" for k in theirs if k not in ours]
        out += [f"{path}/{k}: only pg_assets'" for k in ours if k not in theirs]
        return out + [d for k in theirs if k in ours for d in differences(theirs[k], ours[k], f"{path}/{k}")]
    return [] if theirs == ours else [f"{path}: dlt {theirs!r}, pg_assets {ours!r}"]


@pytest.mark.parametrize("case", list(CASES))
def test_stored_document_equals_dlts_key_by_key(case, dataset, twin, dlt_uri, query, tmp_path):
    options = {"primary_key": "id", "columns": HINTS, **CASES[case]}
    dlt_pipeline("twin", twin, dlt_uri, tmp_path).run(dlt_things(**options))
    pg_assets.pipeline("twin", dataset=dataset).run(ROWS, table_name="things", **options)
    theirs, ours = stored_document(query, twin, "twin"), stored_document(query, dataset, "twin")
    assert differences(without_bookkeeping(theirs), without_bookkeeping(ours)) == []
    assert column_orders(ours) == column_orders(theirs)
    schema = dlt.Schema.from_dict(ours)
    assert (schema.version, schema.version_hash) == (ours["version"], ours["version_hash"])


@pytest.mark.parametrize("case", ["replace", "merge", "upsert"])  # appended twice, `name` would not be unique
def test_the_same_rows_after_dlt_leave_dlts_document_as_it_was(case, dataset, dlt_uri, query, tmp_path):
    options = {"primary_key": "id", "columns": HINTS, **CASES[case]}
    dlt_pipeline("shop", dataset, dlt_uri, tmp_path).run(dlt_things(**options))
    theirs = stored_document(query, dataset, "shop")
    pg_assets.pipeline("shop", dataset=dataset).run(ROWS, table_name="things", **options)
    ours = stored_document(query, dataset, "shop")
    assert differences(theirs, ours) == []
    assert column_orders(ours) == column_orders(theirs)


@pytest.mark.parametrize("case", ["replace", "merge", "upsert"])
def test_dlt_finds_nothing_to_change_in_pg_assets_document(case, dataset, dlt_uri, query, tmp_path):
    options = {"primary_key": "id", "columns": HINTS, **CASES[case]}
    pg_assets.pipeline("shop", dataset=dataset).run(ROWS, table_name="things", **options)
    ours = stored_document(query, dataset, "shop")
    dp = dlt_pipeline("shop", dataset, dlt_uri, tmp_path)
    dp.sync_destination()
    dp.run(dlt_things(**options))
    theirs = stored_document(query, dataset, "shop")
    assert differences(ours, theirs) == []
    assert column_orders(theirs) == column_orders(ours)


def dlt_things(**options: Any) -> Any:
    """ROWS as a dlt resource named `things`, with pg_assets' resource options in dlt's words."""
    return dlt.resource(ROWS, name="things", **options)


@pytest.mark.parametrize("boundary", ["2024-06-01T00:00:00+00:00", dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)])
def test_an_scd2_boundary_timestamp_is_stored_as_dlt_stores_it(boundary, dataset, twin, dlt_uri, query, tmp_path):
    rows = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    wd = {"disposition": "merge", "strategy": "scd2", "boundary_timestamp": boundary}
    dlt_pipeline("twin", twin, dlt_uri, tmp_path).run(dlt.resource(rows, name="things", write_disposition=wd))
    pg_assets.pipeline("twin", dataset=dataset).run(rows, table_name="things", write_disposition=wd)
    theirs, ours = stored_document(query, twin, "twin"), stored_document(query, dataset, "twin")
    assert ours["tables"]["things"]["x-boundary-timestamp"] == "2024-06-01T00:00:00+00:00"
    assert differences(without_bookkeeping(theirs), without_bookkeeping(ours)) == []


def test_plain_merge_keeps_the_strategy_dlt_was_given(dataset, dlt_uri, query, tmp_path):
    explicit = {"write_disposition": {"disposition": "merge", "strategy": "delete-insert"}, "primary_key": "id"}
    dlt_pipeline("shop", dataset, dlt_uri, tmp_path).run(dlt_things(**explicit))
    pg_assets.pipeline("shop", dataset=dataset).run(ROWS, table_name="things", write_disposition="merge",
                                                     primary_key="id")
    assert stored_document(query, dataset, "shop")["tables"]["things"]["x-merge-strategy"] == "delete-insert"


def test_an_incremental_cursor_column_is_hinted_as_dlt_hints_it(dataset, twin, dlt_uri, query, tmp_path):
    dlt_pipeline("twin", twin, dlt_uri, tmp_path).run(dlt_things(incremental=dlt.sources.incremental("id")))
    pg_assets.pipeline("twin", dataset=dataset).run(pg_assets.resource(ROWS, name="things",
                                                                       incremental={"cursor_path": "id"}))
    theirs, ours = stored_document(query, twin, "twin"), stored_document(query, dataset, "twin")
    assert ours["tables"]["things"]["columns"]["id"]["incremental"] is True
    assert differences(theirs["tables"], ours["tables"]) == []


def test_a_pipeline_name_that_is_no_identifier_names_its_schema_as_dlt_does(dataset, twin, dlt_uri, query,
                                                                            tmp_path):
    dlt_pipeline("my-Shop", twin, dlt_uri, tmp_path).run([{"id": 1}], table_name="t")
    pg_assets.pipeline("my-Shop", dataset=dataset).run([{"id": 1}], table_name="t")
    names = 'SELECT DISTINCT schema_name FROM "{}".{}'
    for table in ("_dlt_version", "_dlt_loads"):
        assert query(names.format(dataset, table)) == query(names.format(twin, table)) == [("my_shop",)]
    assert newest_state(query, dataset)["schema_names"] == ["my_shop"]


def test_state_holds_the_keys_dlts_holds(dataset, twin, dlt_uri, query, tmp_path):
    dlt_pipeline("twin", twin, dlt_uri, tmp_path).run(ROWS, table_name="things")
    pg_assets.pipeline("twin", dataset=dataset).run(ROWS, table_name="things")
    theirs, ours = newest_state(query, twin), newest_state(query, dataset)
    assert list(ours) == sorted(theirs, key=list(ours).index) and set(ours) == set(theirs)
    same = ("_version_hash", "dataset_name")
    assert {k: v for k, v in ours.items() if k not in same} == {k: v for k, v in theirs.items() if k not in same}


def test_dlts_normalizer_hints_on_a_table_are_kept(dataset, dlt_uri, query, tmp_path):
    dlt_pipeline("shop", dataset, dlt_uri, tmp_path).run(dlt_things(max_table_nesting=1))
    before = stored_document(query, dataset, "shop")["tables"]["things"]
    assert before["x-normalizer"] == {"max_nesting": 1, "seen-data": True}
    pg_assets.pipeline("shop", dataset=dataset).run(ROWS, table_name="things", max_table_nesting=1)
    after = stored_document(query, dataset, "shop")["tables"]["things"]
    assert after["x-normalizer"] == before["x-normalizer"]
    assert differences(before, after) == []


def shop_source(rows: list[dict[str, Any]]) -> Any:
    @dlt.source(name="shop_src")
    def source() -> Any:
        @dlt.resource(name="orders", primary_key="id", write_disposition="merge")
        def resource(updated_at: Any = dlt.sources.incremental("updated_at", initial_value=START)) -> Iterator[Any]:
            yield rows

        return resource

    return source()


def pg_orders(rows: list[dict[str, Any]]) -> pg_assets.Resource:
    return pg_assets.resource(rows, name="orders", primary_key="id", write_disposition="merge",
                              incremental={"cursor_path": "updated_at", "initial_value": START})


def with_note(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "note": f"n{row['id']}"} for row in rows]


def assert_updated_dlts_schema(query: Callable[..., list[tuple]], dataset: str, dlt_uri: str, tmp_path: Path,
                               ) -> None:
    """pg_assets wrote into `shop_src` (no schema named after the pipeline), and dlt sees it all."""
    assert query(f'SELECT DISTINCT schema_name FROM "{dataset}"._dlt_version') == [("shop_src",)]
    assert query(f'SELECT DISTINCT schema_name FROM "{dataset}"._dlt_loads') == [("shop_src",)]
    doc = stored_document(query, dataset, "shop_src")
    assert "note" in doc["tables"]["orders"]["columns"]
    state = newest_state(query, dataset)
    assert set(state["sources"]) == {"shop_src"} and state["schema_names"] == ["shop_src"]
    assert state["sources"]["shop_src"]["resources"]["orders"]["incremental"]["updated_at"]["last_value"] == day(5)
    dp = dlt_pipeline("shop", dataset, dlt_uri, tmp_path / "fresh")
    dp.sync_destination()
    assert "note" in dp.schemas["shop_src"].tables["orders"]["columns"]
    dp.run(shop_source(with_note(orders(range(5, 7), day, "c"))))  # 5 is on the boundary: skipped
    assert query(f'SELECT count(*), max(id) FROM "{dataset}".orders') == [(6, 6)]


def test_a_dlt_source_name_is_updated_from_python(dataset, dlt_uri, query, tmp_path):
    dlt_pipeline("shop", dataset, dlt_uri, tmp_path / "dlt").run(shop_source(orders(range(1, 3), day, "a")))
    p = pg_assets.pipeline("shop", dataset=dataset, schema_name="shop_src")
    p.run(pg_orders(with_note(orders(range(2, 6), day, "b"))))
    assert query(f'SELECT id FROM "{dataset}".orders WHERE customer__name LIKE %s ORDER BY id', ("b%",)) == [
        (3,), (4,), (5,)]  # dlt's cursor, found under `sources.shop_src`, skipped 2
    assert_updated_dlts_schema(query, dataset, dlt_uri, tmp_path)


def test_a_dlt_source_name_is_updated_from_yaml(dataset, dlt_uri, query, tmp_path, monkeypatch):
    dlt_pipeline("shop", dataset, dlt_uri, tmp_path / "dlt").run(shop_source(orders(range(1, 3), day, "a")))
    (tmp_path / "shop_rows.py").write_text(textwrap.dedent(f"""
        import datetime as dt
        def orders():
            start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
            return [{{"id": i, "updated_at": start + dt.timedelta(days=i), "customer": {{"name": f"b{{i}}"}},
                      "items": [{{"sku": f"b-{{i}}-{{k}}", "qty": k, "tags": ["b", f"k{{k}}"]}} for k in range(2)],
                      "note": f"n{{i}}"}} for i in range(2, 6)]
    """))
    spec_file = tmp_path / "pipelines.yaml"
    spec_file.write_text(textwrap.dedent(f"""
        sources:
          shop:
            kind: python
            dataset: {dataset}
            schema_name: shop_src
            resources:
              orders:
                function: shop_rows:orders
                primary_key: id
                write_disposition: merge
                incremental: {{cursor_path: updated_at, initial_value: "{START.isoformat()}"}}
    """))
    runner.run_source(load_spec(spec_file), "shop")
    assert_updated_dlts_schema(query, dataset, dlt_uri, tmp_path)


def test_a_bad_schema_name_is_refused_where_it_is_written(tmp_path):
    with pytest.raises(pg_assets.ConfigError, match="`shop-src` is not a valid schema name"):
        pg_assets.pipeline("shop", schema_name="shop-src")
    spec_file = tmp_path / "pipelines.yaml"
    spec_file.write_text("sources:\n  shop:\n    kind: python\n    dataset: d\n    schema_name: 1shop\n"
                         "    resources:\n      t: {function: 'm:f'}\n")
    with pytest.raises(pg_assets.ConfigError, match=r"pipelines.yaml:5:\d+: sources.shop.schema_name: `1shop` is not a valid"):
        load_spec(spec_file)


def test_dlt_loads_the_document_pg_assets_wrote_with_a_schema_name(dataset, query):
    pg_assets.pipeline("shop", dataset=dataset, schema_name="shop_src").run(ROWS, table_name="things")
    doc = stored_document(query, dataset, "shop_src")
    assert dlt.Schema.from_dict(doc).name == "shop_src"
    assert json.loads(json.dumps(doc))["name"] == "shop_src"


def test_the_coming_from_dlt_page_yaml_is_valid():
    page = (Path(__file__).resolve().parents[1] / "docs" / "coming-from-dlt.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"^```yaml\n(.*?)^```", page, flags=re.M | re.S) if b.startswith("sources:")]
    assert blocks, "the page shows `schema_name:` in a pipelines.yaml"
    root = Path(__file__).resolve().parents[1]  # beside the repository's pipelines.yaml, as its module
    for block in blocks:
        assert validate_file(root / "coming-from-dlt.yaml", text=block) == []
        assert load_spec(root / "pipelines.yaml", text=block).sources["shop"].schema_name == "shop_src"


def load_spec_text(folder: Path, text: str) -> Any:
    path = folder / "pipelines.yaml"
    path.write_text(text)
    return load_spec(path)


def _src_replace(rows: list[dict[str, Any]]) -> Any:
    @dlt.source(name="src")
    def source() -> Any:
        return dlt.resource(rows, name="things", write_disposition="replace")

    return source()


# (dlt's run arguments, pg_assets' pipeline options, pg_assets' run arguments) for the same load
STATE_SOURCES = {
    "list-append": (lambda: ([{"id": 1}],), {}, {"table_name": "things"}),
    "list-replace": (lambda: ([{"id": 1}],), {}, {"table_name": "things", "write_disposition": "replace"}),
    "resource-replace": (lambda: (dlt.resource([{"id": 1}], name="things", write_disposition="replace"),), {},
                         {"table_name": "things", "write_disposition": "replace"}),
    "resource-replace-dict": (lambda: (dlt.resource([{"id": 1}], name="things", write_disposition={
        "disposition": "replace", "strategy": "truncate-and-insert"}),), {},
        {"table_name": "things", "write_disposition": {"disposition": "replace", "strategy": "truncate-and-insert"}}),
    "source-replace": (lambda: (_src_replace([{"id": 1}]),), {"schema_name": "src"},
                       {"table_name": "things", "write_disposition": "replace"}),
    "merge": (lambda: (dlt.resource([{"id": 1}], name="things", write_disposition="merge", primary_key="id"),), {},
              {"table_name": "things", "write_disposition": "merge", "primary_key": "id"}),
}


@pytest.mark.parametrize("case", list(STATE_SOURCES))
def test_state_sources_entry_is_made_when_dlt_makes_it(case, dataset, twin, dlt_uri, query, tmp_path):
    """dlt writes `sources: {<source>: {}}` exactly when it resets a plain `"replace"` resource's state."""
    dlt_args, pipeline_options, run_options = STATE_SOURCES[case]
    dlt_kwargs = run_options if case.startswith("list-") else {}  # a list takes pg_assets' run() options
    dlt_pipeline("twin", twin, dlt_uri, tmp_path).run(*dlt_args(), **dlt_kwargs)
    pg_assets.pipeline("twin", dataset=dataset, **pipeline_options).run([{"id": 1}], **run_options)
    theirs, ours = newest_state(query, twin), newest_state(query, dataset)
    assert ours.get("sources", "<none>") == theirs.get("sources", "<none>")
    same = ("_version_hash", "dataset_name")
    assert {k: v for k, v in ours.items() if k not in same} == {k: v for k, v in theirs.items() if k not in same}


def version_counts(query: Callable[..., list[tuple]], dataset: str) -> list[tuple[int, int]]:
    """Each stored schema version with the number of previous hashes it keeps."""
    rows = query(f'SELECT version, schema FROM "{dataset}"._dlt_version ORDER BY inserted_at')
    return [(version, len(json.loads(text)["previous_hashes"])) for version, text in rows]


SCD2_AT = ("2024-06-01T00:00:00+00:00", "2024-07-01T00:00:00+00:00", "2024-08-01T00:00:00+00:00")
# batches, each changing the schema in another of dlt's steps: a new schema, nothing new, a new
# column, a new child table, no rows at all, a new table hint (the scd2 boundary) with a new column
VERSION_BATCHES = [([{"id": 1}], 0), ([{"id": 1}], 0), ([{"id": 1, "x": 2}], 0), ([{"id": 1, "x": 2, "l": [1]}], 0),
                   ([], 1), ([{"id": 1, "x": 2, "y": "new"}], 2)]


def _scd2(at: int) -> dict[str, Any]:
    return {"disposition": "merge", "strategy": "scd2", "boundary_timestamp": SCD2_AT[at]}


@pytest.mark.parametrize("first", ["dlt", "pg_assets", "neither"])
def test_schema_versions_count_as_dlts_do(first, dataset, twin, dlt_uri, query, tmp_path):
    """dlt bumps the schema once per step of a run that changed it (extract: table hints; normalize:
    columns); pg_assets alone, and each tool after the other, keeps the same count of versions and hashes."""
    theirs = dlt_pipeline("twin", twin, dlt_uri, tmp_path / "alone")
    for rows, at in VERSION_BATCHES:
        theirs.run(dlt.resource(rows, name="things", write_disposition=_scd2(at)))
    ours = dlt_pipeline("twin", dataset, dlt_uri, tmp_path / "ours")
    for n, (rows, at) in enumerate(VERSION_BATCHES):
        if first == "dlt" and n < 3:
            ours.run(dlt.resource(rows, name="things", write_disposition=_scd2(at)))
        elif first == "pg_assets" and n >= 3:
            ours.sync_destination()
            ours.run(dlt.resource(rows, name="things", write_disposition=_scd2(at)))
        else:
            pg_assets.pipeline("twin", dataset=dataset).run(rows, table_name="things", write_disposition=_scd2(at))
    assert version_counts(query, dataset) == version_counts(query, twin)
    assert stored_document(query, dataset, "twin")["tables"]["things"]["x-boundary-timestamp"] == SCD2_AT[2]
