"""`kind: python`: what a function may return, its args, its incremental cursor, partitions."""

from __future__ import annotations

import secrets
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pg_assets import runner
from pg_assets.errors import ConfigError
from pg_assets.sources.python import load_function
from pg_assets.spec import load_spec

FUNCTIONS = '''
def rows(n=2):
    for i in range(n):
        yield {"id": i}

def as_list(n=2):
    return [{"id": i} for i in range(n)]

def pages():
    yield [{"id": 0}, {"id": 1}]
    yield [{"id": 2}]

def one():
    return {"id": 0}

def nothing():
    return None

def number():
    return 42

def since(incremental):
    yield {"id": 1, "start": incremental.start_value}

def day(day):
    yield {"day": day}
'''


def build(tmp_path: Path, resources: str, partition: dict[str, str] | None = None) -> list[Any]:
    module = f"user_sources_{secrets.token_hex(4)}"   # a fresh module per test
    (tmp_path / f"{module}.py").write_text(FUNCTIONS)
    spec_path = tmp_path / "pipelines.yaml"
    spec_path.write_text("sources:\n  s:\n    kind: python\n    dataset: d\n    resources:\n"
                         + textwrap.indent(textwrap.dedent(resources).replace("MOD", module), "      "))
    return runner.build_resources(load_spec(spec_path), "s", partition=partition)


def items(resource: Any) -> list[dict[str, Any]]:
    found = []
    for page in resource.iter_data():
        found.extend(page if isinstance(page, list) else [page])
    return found


@pytest.mark.parametrize(("function", "expected"), [
    ("rows", [0, 1]),
    ("as_list", [0, 1]),
    ("pages", [0, 1, 2]),
    ("one", [0]),
    ("nothing", []),
], ids=["yields-dicts", "returns-a-list", "yields-pages", "returns-one-dict", "returns-none"])
def test_what_a_function_may_produce(tmp_path: Path, function: str, expected: list[int]) -> None:
    (resource,) = build(tmp_path, f"r: {{function: 'MOD:{function}'}}\n")
    assert [item["id"] for item in items(resource)] == expected


def test_args_are_passed(tmp_path: Path) -> None:
    (resource,) = build(tmp_path, "r: {function: 'MOD:rows', args: {n: 4}}\n")
    assert len(items(resource)) == 4


def test_a_non_iterable_result_is_an_error(tmp_path: Path) -> None:
    (resource,) = build(tmp_path, "r: {function: 'MOD:number'}\n")
    with pytest.raises(ConfigError, match="returned int; return or yield dicts"):
        items(resource)


def test_the_function_receives_the_bound_incremental(tmp_path: Path) -> None:
    (resource,) = build(tmp_path, "r: {function: 'MOD:since', incremental: {cursor_path: id, initial_value: 7}}\n")
    assert items(resource) == [{"id": 1, "start": 7}]
    resource.incremental.stored = {"last_value": 9}       # what the pipeline binds before reading
    assert items(resource) == [{"id": 1, "start": 9}]


def test_partition_parameters_fill_args(tmp_path: Path) -> None:
    yaml = "r: {function: 'MOD:day', args: {day: '${partition_key}'}, partitions: {type: daily, start: 2024-01-01}}\n"
    (resource,) = build(tmp_path, yaml, partition={"partition_key": "2024-01-05"})
    assert items(resource) == [{"day": "2024-01-05"}]
    with pytest.raises(ConfigError, match=r"uses `\$\{partition_key\}`, but this run has no partition"):
        build(tmp_path, yaml)


def test_example_page_views_are_deterministic_and_skip_loaded_days() -> None:
    page_views = load_function("examples.sources:page_views", Path(__file__).resolve().parent.parent)

    first = [view for page in page_views(days=3) for view in page]
    assert first == [view for page in page_views(days=3) for view in page]
    assert len(first) == 450 and len({v["id"] for v in first}) == 450
    assert {v["device"]["type"] for v in first} == {"desktop", "mobile", "tablet"}
    assert any(v["referrer"] is None for v in first)

    class Cursor:
        start_value = "2024-04-29T12:00:00Z"

    later = [view for page in page_views(days=3, incremental=Cursor()) for view in page]
    assert min(v["viewed_at"] for v in later) >= "2024-04-29" and len(later) == 300
