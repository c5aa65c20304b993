"""`kind: python`: a function of the user's project produces the items.

```yaml
events:
  kind: python
  dataset: events
  resources:
    page_views: {function: examples.sources:page_views, args: {days: 3}}
```

The function returns or yields dicts, pages (lists) of dicts, pyarrow tables or record
batches, or pandas or polars DataFrames, in any mix. Modules import with
the spec file's folder on `sys.path`. A function with a parameter named
`incremental` receives the resource's `pg_assets.Incremental`, bound to the stored
cursor, so it can ask its own source only for newer data.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from pg_assets.errors import ConfigError, did_you_mean, user_code_location
from pg_assets.resource import is_columnar
from pg_assets.sources.base import CheckContext, Problem, SourceContext, SourceKind
from pg_assets.spec.models import Name, ResourceSpec, SourceSpec

_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
INCREMENTAL_PARAMETER = "incremental"


def _target(value: str) -> str:
    if not _TARGET.match(value):
        raise ValueError(f"`{value}` is not `module:function` (for example `my_project.sources:orders`)")
    return value


class PythonResource(ResourceSpec):
    function: Annotated[str, AfterValidator(_target)] | None = None
    """`module:function` returning or yielding dicts, pages of dicts, Arrow tables or DataFrames."""
    args: dict[str, Any] | None = None
    """Keyword arguments for the function."""
    add_dlt_load_id: bool | None = None
    """Columnar items (Arrow, pandas, polars): add `_dlt_load_id` (default true; dlt's switch)."""
    add_dlt_id: bool | None = None
    """Columnar items: add a random `_dlt_id` (default true; merge needs it)."""

    def engine_options(self) -> dict[str, Any]:
        switches = {"add_dlt_load_id": self.add_dlt_load_id, "add_dlt_id": self.add_dlt_id}
        return {**super().engine_options(), **{k: v for k, v in switches.items() if v is not None}}


class PythonSource(SourceSpec):
    resource_model = PythonResource

    kind: Literal["python"]
    """`python`."""
    defaults: PythonResource = Field(default_factory=PythonResource)
    """Options every resource of the source starts from."""
    resources: dict[Name, PythonResource] = Field(min_length=1)
    """The tables: one resource each, by name."""


def load_function(target: str, base_dir: Path) -> Callable[..., Any]:
    """Import `module:attr` with `base_dir` on `sys.path`; ConfigError says what went wrong."""
    module_name, _, attr_path = target.partition(":")
    folder = str(base_dir)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    obj: Any = _import(module_name, target)
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(f"`{obj.__name__}` has no `{part}`.{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"`{target}` is not callable")
    return obj


def _import(module_name: str, target: str) -> Any:
    """The module, or a ConfigError for whatever its import raised (a syntax error, `sys.exit`, any error).

    The user's module runs its top level here, at validation time: nothing it raises may
    end validation, so even `SystemExit` becomes a message naming the user's file and line.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module `{module_name}` of `{target}`: {exc}") from None
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}"
        raise ConfigError(f"module `{module_name}` of `{target}` has a syntax error at {where}: {exc.msg}") from None
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: a module must not end the validation
        location = user_code_location(exc)
        at = f" at {location}" if location else ""
        raise ConfigError(f"importing module `{module_name}` of `{target}` failed{at}: "
                          f"{type(exc).__name__}: {exc}") from None


def _takes_incremental(function: Callable[..., Any]) -> bool:
    try:
        return INCREMENTAL_PARAMETER in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def check(source: PythonSource, name: str, resource: PythonResource, context: CheckContext) -> Iterator[Problem]:
    if not resource.function:
        yield (), "missing `function`: the `module:function` that produces the items"
        return
    try:
        function = load_function(resource.function, context.base_dir)
    except ConfigError as exc:
        yield ("function",), str(exc)
        return
    yield from _check_args(function, resource)


def _check_args(function: Callable[..., Any], resource: PythonResource) -> Iterator[Problem]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    args = dict(resource.args or {})
    if resource.incremental and _takes_incremental(function):
        args[INCREMENTAL_PARAMETER] = None
    try:
        signature.bind(**args)
    except TypeError as exc:
        accepted = [p for p in signature.parameters if p != INCREMENTAL_PARAMETER]
        unknown = [a for a in args if a not in signature.parameters]
        hint = did_you_mean(unknown[0], accepted) if unknown else ""
        where = ("args", unknown[0]) if unknown else ("args",)
        yield where, f"`{resource.function}` cannot be called with these args: {exc}.{hint}"


def read(source: PythonSource, resource: PythonResource, context: SourceContext) -> Iterator[Any]:
    function = load_function(resource.function or "", context.base_dir)
    kwargs = dict(resource.args or {})
    if _takes_incremental(function):
        kwargs[INCREMENTAL_PARAMETER] = context.incremental
    result = function(**kwargs)
    if result is None:
        return
    if isinstance(result, dict) or is_columnar(result):
        yield result
    elif isinstance(result, Iterable) and not isinstance(result, (str, bytes)):
        yield from result
    else:
        raise ConfigError(f"`{resource.function}` returned {type(result).__name__}; return or yield dicts")


KIND = SourceKind(name="python", source_model=PythonSource, read=read, check=check)
