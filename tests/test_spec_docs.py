"""The repository's own spec, its JSON Schema and the YAML examples of the README and docs/ stay valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pg_assets.spec import json_schema, json_schema_text, load_spec, validate_file
from pg_assets.spec.yamlio import read_yaml

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def yaml_specs(document: Path) -> list[tuple[int, str]]:
    """(line, text) of every ```yaml block of `document` that declares `sources:`."""
    text = document.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```ya?ml\n(.*?)^```", text, flags=re.M | re.S):
        if re.search(r"^sources:", match.group(1), flags=re.M):
            blocks.append((text[: match.start()].count("\n") + 2, match.group(1)))
    return blocks


def documented_specs() -> list:
    """Every spec example of the README and the docs, each a case named `<file>-line-<n>`."""
    cases = []
    for document in DOCUMENTS:
        name = document.relative_to(ROOT).as_posix()
        cases += [pytest.param(document, line, text, id=f"{name}-line-{line}") for line, text in yaml_specs(document)]
    return cases


def test_repository_pipelines_yaml_is_valid() -> None:
    assert validate_file(ROOT / "pipelines.yaml") == []


def test_repository_pipelines_yaml_declares_the_documented_tables() -> None:
    spec = load_spec(ROOT / "pipelines.yaml")
    assert {name: (s.kind, s.dataset, list(s.resources)) for name, s in spec.sources.items()} == {
        "shop": ("files", "raw_shop", ["customers", "orders", "products"]),
        "events": ("python", "events", ["page_views"]),
        "chess": ("rest_api", "chess_data", ["players_profiles", "players_archives", "players_games"]),
    }


def test_committed_schema_is_the_generated_one() -> None:
    committed = (ROOT / "pipelines.schema.json").read_text(encoding="utf-8")
    assert committed == json_schema_text(), "run `pg-assets schema > pipelines.schema.json`"


def test_pipelines_yaml_points_editors_at_the_schema() -> None:
    first = (ROOT / "pipelines.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=./pipelines.schema.json"


def test_schema_accepts_the_repository_spec() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = read_yaml(ROOT / "pipelines.yaml").data
    jsonschema.Draft202012Validator(json_schema()).validate(json.loads(json.dumps(data)))


def test_schema_rejects_an_unknown_key() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = {"sources": {"s": {"kind": "files", "dataset": "d", "resources": {"r": {"pth": "x.csv"}}}}}
    assert not jsonschema.Draft202012Validator(json_schema()).is_valid(data)


def test_the_docs_hold_spec_examples() -> None:
    """The parametrized check below sees the pages' examples, not an empty list."""
    names = {case.values[0].relative_to(ROOT).as_posix() for case in documented_specs()}
    assert {"README.md", "docs/pipelines-yaml.md", "docs/sources/python.md", "docs/sources/files.md",
            "docs/sources/rest_api.md", "docs/sources/sql_database.md", "docs/dagster.md"} <= names


@pytest.mark.parametrize(("document", "line", "text"), documented_specs())
def test_documented_examples_are_valid(document: Path, line: int, text: str) -> None:
    # Validated as if beside the repository's pipelines.yaml, so relative paths and modules resolve.
    issues = validate_file(ROOT / f"{document.name}.yaml", text=text)
    assert issues == [], f"{document.relative_to(ROOT)} block at line {line}:\n" + "\n".join(map(str, issues))
