"""The whole pipelines.yaml: `PipelinesSpec`, reading it, and its JSON Schema."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, PrivateAttr, ValidationError

from pg_assets.errors import SpecError
from pg_assets.sources import all_kinds
from pg_assets.spec.checks import check_document
from pg_assets.spec.issues import SpecIssue, explain
from pg_assets.spec.models import DestinationSpec, Name, Strict
from pg_assets.spec.yamlio import LoadedYaml, read_yaml

SourceUnion = Annotated[
    Union[tuple(kind.source_model for kind in all_kinds())],  # type: ignore[misc]  # noqa: UP007
    Field(discriminator="kind"),
]


class PipelinesSpec(Strict):
    """A pipelines.yaml file: where to load, and the sources to load from.

    Examples:
        >>> spec = load_spec("pipelines.yaml")                     # doctest: +SKIP
        >>> spec.sources["shop"].resolved("customers").disposition  # doctest: +SKIP
        'merge'
    """

    destination: DestinationSpec = Field(default_factory=DestinationSpec)
    sources: dict[Name, SourceUnion] = Field(min_length=1)

    _path: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)
    _project_dir: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path:
        """The spec file (absolute); relative paths and module imports start at its folder."""
        return self._path or Path("pipelines.yaml").resolve()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def project_dir(self) -> Path:
        """Where `.pg_assets/` (the embedded server, secrets.toml) lives: the spec's folder, or
        the project root a host such as a `dg` project names with `at_project`."""
        return self._project_dir or self.base_dir

    def at_project(self, project_dir: str | Path) -> PipelinesSpec:
        """This spec, its `.pg_assets/` at `project_dir` (set once, before any load)."""
        self._project_dir = Path(project_dir).absolute()
        return self

    def line_of(self, *path: Any) -> int | None:
        """The line where the key at `path` (`"sources", "shop", "resources", "orders"`) is written."""
        return self._lines.get(tuple(path))


def read_spec(path: str | Path, *, text: str | None = None,
              env: Mapping[str, str] | None = None) -> tuple[PipelinesSpec | None, list[SpecIssue]]:
    """The spec and every issue found in it (the spec is None unless there are none)."""
    with _collector_paused():
        return _read_spec(path, text, env)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Reading a spec allocates a burst of small objects and no reference cycles: the cyclic
    collector would only rescan them, again and again (a third of the time on 20,000 resources)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_spec(path: str | Path, text: str | None,
               env: Mapping[str, str] | None) -> tuple[PipelinesSpec | None, list[SpecIssue]]:
    loaded = read_yaml(path, text, env)
    if loaded.issues and loaded.data is None:
        return None, loaded.issues
    if not isinstance(loaded.data, dict):
        return None, [loaded.issue((), "the file must be a mapping with a `sources:` key")]
    spec: PipelinesSpec | None = None
    problems = []
    try:
        spec = PipelinesSpec.model_validate(loaded.data)
    except ValidationError as exc:
        problems += explain(PipelinesSpec, loaded.data, exc.errors(include_url=False), loaded.from_env)
    problems += check_document(loaded.data, Path(path).resolve().parent)
    issues = _placed(loaded, problems)
    if spec is not None and not issues:
        spec._path = Path(path).resolve()
        spec._lines = {key: marks[0].line for key, marks in loaded.marks.items()}
        return spec, []
    return None, issues


def _placed(loaded: LoadedYaml, problems: list[Any]) -> list[SpecIssue]:
    """Locate, drop repeats and problems caused by an unset variable, order by position."""
    unset = {issue.path for issue in loaded.issues}
    issues = list(loaded.issues)
    for problem in problems:
        message = _scrub(problem.message, problem.path, loaded)
        issue = loaded.issue(problem.path, message, of_key=problem.of_key)
        if issue.path not in unset and issue not in issues:
            issues.append(issue)
    return sorted(issues, key=lambda i: (i.line, i.column, i.path, i.message))


def _scrub(message: str, path: tuple[Any, ...], loaded: LoadedYaml) -> str:
    """Hide a value that came from the environment: it may be a secret."""
    if path not in loaded.from_env:
        return message
    value: Any = loaded.data
    for part in path:
        value = value.get(part) if isinstance(value, dict) else value[part] if isinstance(value, list) else None
    return message.replace(value, "***") if isinstance(value, str) and value else message


def validate_file(path: str | Path, *, text: str | None = None) -> list[SpecIssue]:
    """Every problem in the spec file at `path`; an empty list when it is valid.

    Examples:
        >>> for issue in validate_file("pipelines.yaml"):         # doctest: +SKIP
        ...     print(issue)
    """
    return read_spec(path, text=text)[1]


def load_spec(path: str | Path = "pipelines.yaml", *, text: str | None = None) -> PipelinesSpec:
    """Read and validate a spec file.

    Raises:
        SpecError: with `.issues`, every problem in the file, each located.
    """
    spec, issues = read_spec(path, text=text)
    if spec is None:
        count = f"{len(issues)} error{'s' if len(issues) != 1 else ''}"
        lines = "\n".join(f"  {issue}" for issue in issues)
        raise SpecError(f"{path} has {count}:\n{lines}", issues)
    return spec


def json_schema() -> dict[str, Any]:
    """The JSON Schema of pipelines.yaml, for editors (`yaml-language-server`)."""
    schema = PipelinesSpec.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "pg_assets pipelines.yaml"}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
