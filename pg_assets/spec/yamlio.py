"""Read pipelines.yaml keeping the line and column of every key and value.

`read_yaml` composes the YAML node graph, records where each key path starts, then
builds plain Python data and interpolates `${VAR}` / `${VAR:-default}` from the
environment. Problems (syntax, duplicate keys, unset variables) come back as located
issues rather than exceptions, so that they join the validation report.

Scalars follow YAML 1.2's core schema: only `true`/`false` are booleans (a country
code `NO` stays a string) and dates stay text (`2024-01-01` is the string a JSON API
would send, so cursors compare like with like).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pg_assets.spec.env import interpolate
from pg_assets.spec.issues import KeyPath, Mark, SpecIssue, format_path

_DROPPED_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and no implicit timestamps."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class LoadedYaml:
    """The data of one YAML file and where each part of it was written.

    Attributes:
        data: plain dicts, lists and scalars, environment variables substituted.
        marks: key path -> (position of the key, position of the value).
        from_env: key paths whose value came (at least partly) from the environment;
            such values are never shown in messages.
        issues: problems found while reading.
    """

    path: Path
    data: Any = None
    marks: dict[KeyPath, tuple[Mark, Mark]] = field(default_factory=dict)
    from_env: set[KeyPath] = field(default_factory=set)
    issues: list[SpecIssue] = field(default_factory=list)

    def mark(self, path: KeyPath, *, of_key: bool = False) -> Mark:
        """The position of `path`, or of its nearest written ancestor."""
        for end in range(len(path), 0, -1):
            found = self.marks.get(path[:end])
            if found:
                return found[0] if of_key or end < len(path) else found[1]
        return Mark(1, 1)

    def issue(self, path: KeyPath, message: str, *, of_key: bool = False) -> SpecIssue:
        mark = self.mark(path, of_key=of_key)
        return SpecIssue(str(self.path), mark.line, mark.column, format_path(path), message)


def read_yaml(path: str | Path, text: str | None = None, env: Mapping[str, str] | None = None) -> LoadedYaml:
    """Parse `path` (or `text` written as if it were at `path`)."""
    loaded = LoadedYaml(Path(path))
    if text is None:
        try:
            text = loaded.path.read_text(encoding="utf-8")
        except OSError as exc:
            loaded.issues.append(SpecIssue(str(path), 1, 1, "", f"cannot read the file: {exc.strerror}"))
            return loaded
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            loaded.data = {}
            return loaded
        _walk(node, (), loaded)
        loaded.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        loaded.issues.append(_yaml_issue(loaded.path, exc))
        return loaded
    finally:
        loader.dispose()
    loaded.data = _interpolate(loaded.data, (), loaded, env)
    return loaded


def _yaml_issue(path: Path, exc: yaml.MarkedYAMLError) -> SpecIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    return SpecIssue(str(path), line, column, "", f"invalid YAML: {problem}")


def _pos(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(node: yaml.Node, path: KeyPath, loaded: LoadedYaml) -> None:
    """Record the marks below `node` and report duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                loaded.issues.append(
                    SpecIssue(str(loaded.path), *_pos(key_node), format_path(child),
                              f"duplicate key `{key}`: the later value would silently win")
                )
            seen.add(key)
            loaded.marks[child] = (_pos(key_node), _pos(value_node))
            _walk(value_node, child, loaded)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            loaded.marks[(*path, index)] = (_pos(item), _pos(item))
            _walk(item, (*path, index), loaded)


def _interpolate(value: Any, path: KeyPath, loaded: LoadedYaml, env: Mapping[str, str] | None) -> Any:
    if isinstance(value, dict):
        return {str(k): _interpolate(v, (*path, str(k)), loaded, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), loaded, env) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    result, used, missing = interpolate(value, env)
    if used:
        loaded.from_env.add(path)
    for name in missing:
        loaded.issues.append(loaded.issue(
            path, f"environment variable `{name}` is not set; set it, or write `${{{name}:-default}}`"))
    return result
