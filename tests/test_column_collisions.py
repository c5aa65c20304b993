"""Keys that become one column once normalised are refused, unless a `columns` hint gives one its own name.

Dict items (both file formats), Arrow tables and a `pipelines.yaml` resource (CSV,
read as Arrow) all run against the session's embedded server.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

import pg_assets
from pg_assets import runner
from pg_assets.errors import BadDataError, ConfigError, TerminalLoadError
from pg_assets.spec import load_spec

RENAMED = {"Foo Bar": {"name": "foo_bar_2"}, "fooBar": {"name": "foo_bar_3", "data_type": "text"}}


def _run(dataset: str, items, fmt: str = "insert_values", **options) -> pg_assets.LoadInfo:
    return pg_assets.pipeline("collide", dataset=dataset, file_format=fmt).run(items, table_name="t", **options)


def _absent(query, dataset: str) -> bool:
    return query("SELECT to_regclass(%s)", (f'"{dataset}".t',)) == [(None,)]


@pytest.mark.parametrize("fmt", ["insert_values", "copy"])
def test_keys_that_collide_across_items_are_refused_naming_both(dataset: str, query, fmt: str) -> None:
    items = [{"id": 1, "foo_bar": 1}, {"id": 2}, {"id": 3, "Foo Bar": 2}]
    with pytest.raises(BadDataError) as caught:
        _run(dataset, items, fmt)
    assert (caught.value.table, caught.value.column, caught.value.row) == ("t", "foo_bar", 3)
    assert "`foo_bar` and `Foo Bar` both become column `foo_bar`" in str(caught.value)
    assert "name: foo_bar_2" in str(caught.value)
    assert _absent(query, dataset)


def test_nested_keys_that_collide_across_items_are_refused(dataset: str, query) -> None:
    with pytest.raises(BadDataError, match="`b` in `a` and `a__b` both become column `a__b`"):
        _run(dataset, [{"id": 1, "a": {"b": 1}}, {"id": 2, "a__b": 2}])
    assert _absent(query, dataset)


def test_keys_of_a_child_table_collide_too(dataset: str, query) -> None:
    with pytest.raises(BadDataError) as caught:
        _run(dataset, [{"id": 1, "kids": [{"Some Key": 1}, {"someKey": 2}]}])
    assert caught.value.table == "t__kids" and caught.value.column == "some_key"
    assert "name:" not in str(caught.value)  # `name` hints rename the resource's own table's keys only
    assert _absent(query, dataset)


def test_the_same_key_in_two_tables_is_no_collision(dataset: str, query) -> None:
    _run(dataset, [{"id": 1, "foo_bar": 1, "kids": [{"Foo Bar": 2}]}])
    assert query(f'SELECT foo_bar FROM "{dataset}".t__kids') == [(2,)]


@pytest.mark.parametrize("fmt", ["insert_values", "copy"])
def test_a_name_hint_gives_a_colliding_key_its_own_column(dataset: str, query, fmt: str) -> None:
    items = [{"id": 1, "foo_bar": 1, "Foo Bar": 2, "fooBar": 3}, {"id": 2, "Foo Bar": 5}]
    _run(dataset, items, fmt, columns=RENAMED, primary_key="id", write_disposition="merge")
    assert query(f'SELECT id, foo_bar, foo_bar_2, foo_bar_3 FROM "{dataset}".t ORDER BY id') == [
        (1, 1, 2, "3"), (2, None, 5, None)]


def test_arrow_columns_that_collide_are_refused_before_anything_is_written(dataset: str, query) -> None:
    table = pa.table({"id": [1], "Foo Bar": [1], "foo_bar": [2]})
    with pytest.raises(TerminalLoadError, match="`Foo Bar` and `foo_bar` both become column `foo_bar`") as caught:
        _run(dataset, table)
    assert (caught.value.table, caught.value.column) == ("t", "foo_bar")
    assert _absent(query, dataset)


def test_arrow_and_dict_items_of_one_table_collide_too(dataset: str, query) -> None:
    with pytest.raises((BadDataError, TerminalLoadError), match="both become column `foo_bar`"):
        _run(dataset, [pa.table({"id": [1], "fooBar": [1]}), {"id": 2, "foo_bar": 2}])
    assert _absent(query, dataset)


def test_a_name_hint_renames_an_arrow_column(dataset: str, query) -> None:
    _run(dataset, pa.table({"id": [1, 2], "Foo Bar": [1, 2], "foo_bar": [3, 4], "fooBar": [5, 6]}), columns=RENAMED)
    assert query(f'SELECT id, foo_bar, foo_bar_2, foo_bar_3 FROM "{dataset}".t ORDER BY id') == [
        (1, 3, 1, "5"), (2, 4, 2, "6")]


def test_a_name_hint_cannot_land_on_a_column_another_key_takes(dataset: str, query) -> None:
    with pytest.raises(BadDataError, match="`Foo Bar` and `foo_bar` both become column `foo_bar`"):
        _run(dataset, [{"id": 1, "Foo Bar": 1, "foo_bar": 2}], columns={"Foo Bar": {"name": "Foo_Bar"}})
    assert _absent(query, dataset)


@pytest.mark.parametrize(("columns", "message"), [
    ({"a": {"name": "x"}, "b": {"name": "X"}}, "the column hints `a` and `b` both name column `x`"),
    ({"a": {"name": " "}}, "`name` must be a non-empty column name"),
    ({"a": {"name": "_pg_assets_seq"}}, "pg_assets' own"),
])
def test_bad_name_hints_are_refused(dataset: str, columns: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _run(dataset, [{"id": 1, "a": 1, "b": 2}], columns=columns)


SPEC = """\
sources:
  s:
    kind: files
    dataset: {dataset}
    resources:
      people:
        path: people.csv
        primary_key: Person ID
        write_disposition: merge
        columns:
          Person ID: {{name: person}}
          person_id: {{data_type: text}}
          First Name: {{name: given_name}}
"""


def test_a_spec_renames_colliding_csv_headers_end_to_end(tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / "people.csv").write_text("Person ID,person_id,First Name,first_name\n1,a-1,Ann,x\n2,b-2,Bo,y\n")
    (tmp_path / "pipelines.yaml").write_text(textwrap.dedent(SPEC.format(dataset=dataset)))
    runner.run_source(load_spec(tmp_path / "pipelines.yaml"), "s")
    runner.run_source(load_spec(tmp_path / "pipelines.yaml"), "s")  # merge on the renamed key: no duplicates
    assert query(f'SELECT person, person_id, given_name, first_name FROM "{dataset}".people ORDER BY 1') == [
        (1, "a-1", "Ann", "x"), (2, "b-2", "Bo", "y")]


def test_a_spec_without_the_hint_names_the_colliding_headers(tmp_path: Path, dataset: str, query) -> None:
    (tmp_path / "people.csv").write_text("Person ID,person_id\n1,a-1\n")
    spec = SPEC.format(dataset=dataset).split("        primary_key")[0]
    (tmp_path / "pipelines.yaml").write_text(spec)
    with pytest.raises(TerminalLoadError, match="`Person ID` and `person_id` both become column `person_id`"):
        runner.run_source(load_spec(tmp_path / "pipelines.yaml"), "s")
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".people',)) == [(None,)]
