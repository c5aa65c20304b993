"""Located validation issues, and pydantic's errors turned into them.

A pydantic error names a location (`loc`) that mixes the keys the user wrote with
names of union members; `explain` walks the raw YAML data alongside it to recover the
key path the user sees, asks `expected` what would have been valid there, and adds
the closest valid word:

    pipelines.yaml:12:7: sources.shop.resources.customers.write_dispositon: unknown key. Did you mean `write_disposition`?
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr

from pg_assets.errors import did_you_mean

KeyPath = tuple[str | int, ...]


class Mark(NamedTuple):
    line: int
    column: int


@dataclass(frozen=True, order=True)
class SpecIssue:
    """One problem in a spec file: where it is and what to do about it."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def format_path(path: KeyPath) -> str:
    """`("sources", "shop", "resources", 0)` -> `sources.shop.resources[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ---------------------------------------------------------------- walking types


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _members(tp: Any) -> tuple[Any, ...]:
    """The alternatives of a (nested, optional) union; `(tp,)` for anything else."""
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return tuple(m for arg in get_args(tp) if arg is not type(None) for m in _members(arg))
    return (tp,)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _pick(tp: Any, raw: Any) -> Any:
    """The member of a union that `raw` was meant to be (by its tag, then by its shape)."""
    members = _members(tp)
    if isinstance(raw, Mapping):
        models = [m for m in members if _is_model(m)]
        tagged = [m for m in models if _tags_match(m, raw)]
        if tagged or models:
            return (tagged or models)[0]
        members = tuple(m for m in members if get_origin(m) in (dict, Mapping)) or members
    elif isinstance(raw, list):
        members = tuple(m for m in members if get_origin(m) is list) or members
    return members[0] if len(members) == 1 else tp


def _tags_match(model: type[BaseModel], raw: Mapping[str, Any]) -> bool:
    """Whether `raw` has the values of the model's required `Literal` fields (its tags)."""
    for name, field in model.model_fields.items():
        tp = _unwrap(field.annotation)
        if get_origin(tp) is Literal and field.is_required() and raw.get(name) not in get_args(tp):
            return False
    return True


def annotation_at(root: Any, raw: Any, path: KeyPath) -> Any:
    """The type expected at `path` of the raw data, following what the user wrote."""
    tp = root
    for part in path:
        tp = _pick(tp, raw)
        if _is_model(tp):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif get_origin(tp) in (dict, Mapping):
            tp = get_args(tp)[1]
        elif get_origin(tp) is list:
            tp = get_args(tp)[0]
        else:
            return None
        raw = _child(raw, part)
    return _pick(tp, raw)


def _child(raw: Any, part: str | int) -> Any:
    if isinstance(raw, Mapping):
        return raw.get(part)
    if isinstance(raw, list) and isinstance(part, int) and 0 <= part < len(raw):
        return raw[part]
    return None


def allowed_keys(root: Any, raw: Any, path: KeyPath) -> list[str]:
    """The keys valid in the mapping at `path`."""
    tp = annotation_at(root, raw, path)
    return list(tp.model_fields) if _is_model(tp) else []


_SIMPLE = {str: "a string", SecretStr: "a string", int: "an integer", float: "a number",
           bool: "`true` or `false`", date: "a date (YYYY-MM-DD)", datetime: "an ISO timestamp"}


def describe(tp: Any) -> str:
    """What a value of type `tp` looks like, for a message."""
    members = _members(tp)
    if len(members) > 1:
        return ", or ".join(dict.fromkeys(describe(m) for m in members))
    tp = members[0]
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in get_args(tp))
    if get_origin(tp) is list:
        return f"a list of {_plural(describe(get_args(tp)[0]))}"
    if get_origin(tp) in (dict, Mapping) or tp is dict:
        return "a mapping"
    if _is_model(tp):
        return _describe_model(tp)
    return _SIMPLE.get(tp, "a value")


def _describe_model(tp: Any) -> str:
    """`a mapping with `disposition` (optional: `strategy`)`: its required keys, then the optional ones."""
    required = [k for k, f in tp.model_fields.items() if f.is_required()]
    optional = [k for k in tp.model_fields if k not in required]
    shown = ", ".join(f"`{k}`" for k in optional[:3]) + (" and more" if len(optional) > 3 else "")
    if not required:
        return f"a mapping of {shown}" if optional else "a mapping"
    text = "a mapping with " + " and ".join(f"`{k}`" for k in required)
    return text + (f" (optional: {shown})" if optional else "")


def _plural(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            return text[len(article):] + "s"
    return text


def literal_values(tp: Any) -> list[str]:
    return [str(v) for m in _members(tp) if get_origin(m) is Literal for v in get_args(m)]


# ---------------------------------------------------------------- pydantic errors

_TYPE_ERRORS = {"literal_error", "is_instance_of", "none_required", "int_from_float"}


def _is_type_error(kind: str) -> bool:
    return kind in _TYPE_ERRORS or kind.endswith("_type") or kind.endswith("_parsing")


def clean_loc(raw: Any, loc: Iterable[str | int]) -> KeyPath:
    """Drop the parts of a pydantic location that are not keys the user wrote."""
    path: list[str | int] = []
    for part in loc:
        child_exists = (isinstance(raw, Mapping) and part in raw) or (
            isinstance(raw, list) and isinstance(part, int) and 0 <= part < len(raw))
        if child_exists:
            path.append(part)
            raw = _child(raw, part)
    return tuple(path)


@dataclass(frozen=True)
class Problem:
    """An issue before it is placed: key path, message, and whether it is about the key."""

    path: KeyPath
    message: str
    of_key: bool = False


def explain(root: Any, raw: Any, errors: list[Mapping[str, Any]], secret: set[KeyPath]) -> Iterator[Problem]:
    """Turn pydantic's error list into one clear problem per place."""
    located = [(clean_loc(raw, e["loc"]), e) for e in errors]
    for path, error in located:
        kind = error["type"]
        if kind == "extra_forbidden":
            hint = did_you_mean(path[-1], allowed_keys(root, raw, path[:-1]))
            yield Problem(path, f"unknown key.{hint or _valid_keys(root, raw, path[:-1])}", of_key=True)
        elif kind == "missing":
            name = error["loc"][-1]
            expected = describe(annotation_at(root, raw, (*path, name)))
            yield Problem((*path, name), f"missing required key `{name}` ({expected})", of_key=True)
        elif kind.startswith("union_tag"):
            yield _tag_problem(path, error)
        elif not _is_type_error(kind):
            yield Problem(path, _message(error), of_key=error["loc"][-1] == "[key]")
        elif not _shape_matched(path, located):
            yield _type_problem(root, raw, path, secret)


def _valid_keys(root: Any, raw: Any, path: KeyPath) -> str:
    keys = allowed_keys(root, raw, path)
    return f" Valid keys: {', '.join(f'`{k}`' for k in keys)}." if keys else ""


def _shape_matched(path: KeyPath, located: list[tuple[KeyPath, Mapping[str, Any]]]) -> bool:
    """Whether another member of a union accepted the shape at `path` (errors deeper or not about type)."""
    return any((len(p) > len(path) and p[: len(path)] == path)
               or (p == path and not _is_type_error(e["type"]) and e["type"] != "missing")
               for p, e in located)


def _tag_problem(path: KeyPath, error: Mapping[str, Any]) -> Problem:
    ctx = error.get("ctx", {})
    field = str(ctx.get("discriminator", "type")).strip("'\"")
    tags = [t.strip().strip("'\"") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
    expected = ", ".join(f"`{t}`" for t in tags)
    if error["type"] == "union_tag_not_found":
        return Problem((*path, field), f"missing required key `{field}` (one of {expected})", of_key=True)
    tag = ctx.get("tag")
    return Problem((*path, field), f"unknown {field} `{tag}`; expected one of {expected}.{did_you_mean(tag, tags)}")


def _type_problem(root: Any, raw: Any, path: KeyPath, secret: set[KeyPath]) -> Problem:
    tp = annotation_at(root, raw, path)
    value = _child_at(raw, path)
    message = f"expected {describe(tp)}, got {_show(value, path in secret)}"
    if isinstance(value, str) and path not in secret:
        message += "." + did_you_mean(value, literal_values(tp))
    return Problem(path, message.rstrip("."))


def _child_at(raw: Any, path: KeyPath) -> Any:
    for part in path:
        raw = _child(raw, part)
    return raw


def _show(value: Any, secret: bool) -> str:
    if secret:
        return "the value from the environment"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value) if not isinstance(value, str) else value
    return f"`{text[:60]}`"


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message
