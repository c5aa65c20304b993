"""Read pipelines.yaml keeping the line and column of every key and value.

`read_yaml` composes the YAML node graph, records where each key path starts, then
builds plain Python data and interpolates `${VAR}` / `${VAR:-default}` from the
environment. Problems (syntax, duplicate keys, unset variables) come back as located
issues rather than exceptions, so that they join the validation report.

Scalars follow YAML 1.2's core schema: only `true`/`false` are booleans (a country
code `NO` stays a string) and dates stay text (`2024-01-01` is the string a JSON API
would send, so cursors compare like with like).

Hostile files cannot crash or stall the reader. Before anything is built, one pass
over the parser's events refuses nesting deeper than `MAX_DEPTH`, an alias inside the
node it names (a recursive document) and aliases that would expand to more than
`MAX_ALIAS_NODES` nodes ("billion laughs"). A file that is not UTF-8, a character YAML
forbids (a NUL byte) and a number longer than `MAX_DIGITS` digits are located issues.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pg_assets.errors import NO_SPEC_HINT
from pg_assets.spec.env import interpolate
from pg_assets.spec.issues import KeyPath, Mark, SpecIssue, format_path

_DROPPED_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000
MAX_DIGITS = 100


# libyaml's parser when PyYAML has it (about ten times faster on a large spec), else PyYAML's own
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if yaml.__with_libyaml__ else yaml.SafeLoader


class _Loader(_SafeLoader):
    """SafeLoader with YAML 1.2 booleans and no implicit timestamps."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _bounded_int(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """An int, or the text of a number too long to be one (`_walk` reports it)."""
    if len(node.value) > MAX_DIGITS:
        return node.value
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:int", _bounded_int)


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
        text = _read_text(loaded)
        if text is None:
            return loaded
    try:
        refused = _refused_shape(text, loaded.path)
    except yaml.YAMLError as exc:
        loaded.issues.append(_yaml_issue(loaded.path, exc, text))
        return loaded
    if refused is not None:
        loaded.issues.append(refused)
        return loaded
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            loaded.data = {}
            return loaded
        _walk(node, (), loaded)
        loaded.data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        loaded.issues.append(_yaml_issue(loaded.path, exc, text))
        return loaded
    finally:
        loader.dispose()
    loaded.data = _interpolate(loaded.data, (), loaded, env)
    return loaded


def _read_text(loaded: LoadedYaml) -> str | None:
    """The file's text (a UTF-8 BOM is fine), or None with an issue saying why it cannot be read."""
    where = str(loaded.path)
    try:
        raw = loaded.path.read_bytes()
    except FileNotFoundError as exc:
        loaded.issues.append(SpecIssue(where, 1, 1, "", f"cannot read the file: {exc.strerror}. {NO_SPEC_HINT}"))
        return None
    except OSError as exc:
        loaded.issues.append(SpecIssue(where, 1, 1, "", f"cannot read the file: {exc.strerror}"))
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        loaded.issues.append(SpecIssue(where, line, column, "", (
            f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}, column {column}): "
            "save it as UTF-8")))
        return None


def _yaml_issue(path: Path, exc: yaml.YAMLError, text: str) -> SpecIssue:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else int(exc.character)
        return SpecIssue(str(path), line, column, "",
                         f"the file contains a character YAML does not allow (U+{code:04X}); remove it")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or "invalid YAML"
    return SpecIssue(str(path), line, column, "", f"invalid YAML: {problem}")


def _refused_shape(text: str, path: Path) -> SpecIssue | None:
    """One pass over the parser's events: too deep, a recursive alias, or aliases that expand too far."""
    open_nodes: list[list[Any]] = []  # [anchor, nodes below it] of each collection still open
    sizes: dict[str, int] = {}
    expanded = 0
    for event in yaml.parse(text, Loader=_Loader):
        if type(event) is yaml.ScalarEvent:  # most events: counted without the checks below
            if event.anchor:
                sizes[event.anchor] = 1
            if open_nodes:
                open_nodes[-1][1] += 1
            continue
        problem, size = None, 0
        if isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append([event.anchor, 1])
            if len(open_nodes) > MAX_DEPTH:
                problem = f"the document is nested deeper than {MAX_DEPTH} levels"
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size = open_nodes.pop()
            if anchor:
                sizes[anchor] = size
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_nodes):
                problem = f"the alias `*{event.anchor}` refers to the node that contains it"
            size = sizes.get(event.anchor, 1)
            expanded += size
            if expanded > MAX_ALIAS_NODES:
                problem = f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes; write the values out instead"
        if problem:
            mark = event.start_mark
            return SpecIssue(str(path), mark.line + 1, mark.column + 1, "", problem)
        if open_nodes and size:
            open_nodes[-1][1] += size
    return None


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
    elif node.tag in _NUMBER_TAGS and len(node.value) > MAX_DIGITS:
        digits = sum(ch.isdigit() for ch in node.value)
        loaded.issues.append(SpecIssue(str(loaded.path), *_pos(node), format_path(path), (
            f"a number of {digits} digits; numbers are limited to {MAX_DIGITS} digits (quote it to make it text)")))


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
