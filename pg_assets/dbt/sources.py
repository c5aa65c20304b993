"""dbt `sources.yml` from pipelines.yaml: one dbt source per dataset, named after it.

dagster-dbt gives a dbt source the asset key `[source name, table name]`; pg_assets
gives a loaded table the key `[dataset, table]`. Naming each dbt source after its
dataset makes the two equal, so Dagster draws lineage from the loads to the dbt
models with no stub assets. A child table (`orders__items`) is loaded by its root
resource and is not an asset of its own, so its dbt source names the root's key in
`config.meta.dagster.asset_key`.

Refreshing an existing file adds what is missing and changes or removes nothing
the file already has: hand-written descriptions, tests, columns, freshness and
whole sources of your own survive. Tables that the spec no longer loads are
reported, not deleted. YAML comments are not kept (use `description`).

The engine side of the dbt integration: no Dagster here.

Examples:
    >>> existing = {"version": 2, "sources": [{"name": "raw_shop", "tables": [
    ...     {"name": "orders", "description": "Mine."}]}]}
    >>> generated = {"version": 2, "sources": [{"name": "raw_shop", "schema": "raw_shop", "tables": [
    ...     {"name": "orders", "description": "Generated."}, {"name": "customers"}]}]}
    >>> merged = merge_sources(existing, generated)
    >>> merged["sources"][0]["tables"]
    [{'name': 'orders', 'description': 'Mine.'}, {'name': 'customers'}]
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pg_assets import sql
from pg_assets.connection import close_quietly, open_connection
from pg_assets.errors import ConfigError, PgAssetsError
from pg_assets.normalize.naming import normalize_dataset_name, normalize_identifier

DEFAULT_OUTPUT = Path("dbt_project") / "models" / "sources.yml"
_HEADER = """\
# dbt sources for the tables pg_assets loads: one source per dataset, named after it,
# so each source's Dagster asset key is the key of the pg_assets asset that loads it.
# Written by `pg-assets dbt-sources`; a refresh adds new datasets and tables
# and keeps everything already here. Comments are not kept: use `description`.
"""

# Tables of a dataset whose name starts with `_dlt`: the loader's bookkeeping, not data.
_SYSTEM_PREFIX = "_dlt"

# Child tables carry `_dlt_parent_id`; the name tells whose child they are.
@dataclass(frozen=True)
class LoadedTable:
    """A root table one resource of the spec loads into a dataset."""

    dataset: str
    name: str
    source: str
    resource: str
    description: str | None = None


@dataclass(frozen=True)
class Refresh:
    """What `write_dbt_sources` did.

    Attributes:
        path: the file written (or left alone when already up to date).
        changed: whether the file was written.
        children: child tables found in the destination, per dataset.
        warnings: what the user should look at (stale tables, unreachable destination).
    """

    path: Path
    changed: bool
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def loaded_tables(spec: Any) -> list[LoadedTable]:
    """The root table of every resource in the spec, in spec order, named as the engine names them."""
    return [
        _loaded_table(source_name, source, resource_name)
        for source_name, source in spec.sources.items()
        for resource_name in source.resources
    ]


def _loaded_table(source_name: str, source: Any, resource_name: str) -> LoadedTable:
    resource = source.resolved(resource_name)
    return LoadedTable(
        dataset=normalize_dataset_name(source.dataset),
        name=normalize_identifier(resource.table_name or resource_name),
        source=source_name,
        resource=resource_name,
        description=resource.description,
    )


def owning_root(table: str, roots: Iterable[str]) -> str | None:
    """The root a child table belongs to: the longest root that prefixes it with `__`.

    Examples:
        >>> owning_root("orders__items__tags", ["orders", "orders__items_x"])
        'orders'
        >>> owning_root("orders_archive", ["orders"]) is None
        True
    """
    matches = [root for root in roots if table.startswith(f"{root}__")]
    return max(matches, key=len) if matches else None


def child_tables(names_by_dataset: Mapping[str, Iterable[str]],
                 tables: Sequence[LoadedTable]) -> dict[str, tuple[str, ...]]:
    """Of the tables that exist in each dataset, those that are child tables of the spec's roots.

    Examples:
        >>> t = LoadedTable("raw_shop", "orders", "shop", "orders")
        >>> child_tables({"raw_shop": ["orders__items", "_dlt_loads", "other__x"]}, [t])
        {'raw_shop': ('orders__items',)}
    """
    found: dict[str, tuple[str, ...]] = {}
    for dataset, names in names_by_dataset.items():
        roots = {t.name for t in tables if t.dataset == dataset}
        kids = sorted(n for n in names if not n.startswith(_SYSTEM_PREFIX) and n not in roots and owning_root(n, roots))
        if kids:
            found[dataset] = tuple(kids)
    return found


def discover_child_tables(config: Any, tables: Sequence[LoadedTable]) -> dict[str, tuple[str, ...]]:
    """Child tables that loads have created so far, read from the destination's catalog.

    Child tables come from nested data and exist only once something nested was
    loaded, so the destination, not the spec, knows them.
    """
    datasets = sorted({t.dataset for t in tables})
    conn = open_connection(config, "pg_assets:dbt-sources")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.CHILD_TABLES_OF_SCHEMAS, (datasets,))
            rows = cur.fetchall()
    finally:
        close_quietly(conn)
    names: dict[str, list[str]] = {}
    for dataset, name in rows:
        names.setdefault(dataset, []).append(name)
    return child_tables(names, tables)


def build_sources(tables: Sequence[LoadedTable], children: Mapping[str, Iterable[str]] | None = None,
                  descriptions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The generated `sources.yml` document, before merging with an existing file.

    Args:
        tables: the spec's root tables (`loaded_tables(spec)`).
        children: child tables per dataset (`discover_child_tables`).
        descriptions: a description per dataset.
    """
    children = children or {}
    descriptions = descriptions or {}
    sources: dict[str, dict[str, Any]] = {}
    for table in tables:
        source = sources.setdefault(table.dataset, _source_entry(table.dataset, descriptions.get(table.dataset)))
        roots = [t.name for t in tables if t.dataset == table.dataset]
        kids = list(children.get(table.dataset, ()))
        # Each root is followed by its child tables, so the file reads like the data's nesting.
        source["tables"].append(_root_entry(table))
        source["tables"] += [
            _child_entry(table.dataset, kid, roots, kids) for kid in kids if owning_root(kid, roots) == table.name
        ]
    return {"version": 2, "sources": list(sources.values())}


def _source_entry(dataset: str, description: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": dataset, "schema": dataset}
    if description:
        entry["description"] = description
    entry["tables"] = []
    return entry


def _root_entry(table: LoadedTable) -> dict[str, Any]:
    where = f"Loaded by pg_assets source `{table.source}`, resource `{table.resource}`."
    return {"name": table.name, "description": table.description or where}


def _child_entry(dataset: str, name: str, roots: Sequence[str], children: Iterable[str]) -> dict[str, Any]:
    root = owning_root(name, roots) or name
    parent = owning_root(name, [*roots, *children]) or root
    return {
        "name": name,
        "description": f"A nested list in `{parent}`, loaded with `{root}`; `_dlt_parent_id` is `{parent}._dlt_id`.",
        # A child table is loaded by its root's asset: point Dagster at that asset.
        "config": {"meta": {"dagster": {"asset_key": [dataset, root]}}},
    }


def merge_sources(existing: Mapping[str, Any], generated: Mapping[str, Any]) -> dict[str, Any]:
    """`existing` with everything `generated` adds; nothing `existing` has is changed.

    Mappings merge key by key, lists of named items (sources, tables, columns) merge
    by `name` with existing items first in their order; any other value, a list of
    tests included, is kept as the existing file has it.
    """
    return _merge(existing, generated)


def _merge(mine: Any, theirs: Any) -> Any:
    if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
        merged = dict(mine)
        for key, value in theirs.items():
            merged[key] = _merge(mine[key], value) if key in mine else value
        return merged
    if _is_named_list(mine) and _is_named_list(theirs):
        by_name = {item["name"]: item for item in theirs}
        have = {item["name"] for item in mine}
        kept = [_merge(item, by_name[item["name"]]) if item["name"] in by_name else item for item in mine]
        return kept + [item for item in theirs if item["name"] not in have]
    return mine


def _is_named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, Mapping) and "name" in item for item in value)


def stale_tables(existing: Mapping[str, Any], generated: Mapping[str, Any]) -> list[str]:
    """`dataset.table` entries of the existing file, in generated sources, that the spec no longer loads.

    A table counts as loaded when it is generated or is a child of a generated table:
    child tables are only generated when the destination can be read.
    """
    wanted = {s["name"]: {t["name"] for t in s.get("tables", [])} for s in generated.get("sources", [])}
    return [
        f"{source['name']}.{table['name']}"
        for source in existing.get("sources") or []
        if source.get("name") in wanted
        for table in source.get("tables") or []
        if isinstance(table, Mapping) and not _loaded(str(table.get("name")), wanted[source["name"]])
    ]


def _loaded(name: str, generated: set[str]) -> bool:
    return name in generated or owning_root(name, generated) is not None


def read_sources_file(path: Path) -> dict[str, Any]:
    """An existing `sources.yml`, checked only as far as merging needs; `{}` when absent."""
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot read `{path}` to refresh it: {exc}") from None
    if doc is None:
        return {}
    sources = doc.get("sources", []) if isinstance(doc, Mapping) else None
    if not _is_named_list(sources):
        raise ConfigError(
            f"`{path}` is not a dbt sources file: expected a mapping with `sources:`, a list of sources "
            "that each have a `name`; fix or move the file, or pass another path with `-o`"
        )
    return dict(doc)


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists (as dbt's docs write YAML); short scalar lists inline."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    inline = bool(data) and all(isinstance(item, (str, int, float, bool)) for item in data) and len(str(data)) < 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_Dumper.add_representer(list, _represent_list)


def render_sources(doc: Mapping[str, Any]) -> str:
    """The text of a sources file: the header, then the document."""
    body = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return _HEADER + body


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dataset_descriptions(spec: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for source in spec.sources.values():
        if source.description:
            found.setdefault(normalize_dataset_name(source.dataset), source.description)
    return found


def write_dbt_sources(spec: Any, path: Path, *, credentials: Any = None, discover: bool = True) -> Refresh:
    """Write or refresh the dbt sources file at `path` for `spec`.

    Args:
        spec: a loaded `PipelinesSpec`.
        path: the `sources.yml` to write; an existing file is merged, never overwritten.
        credentials: the destination to read child tables from (default: the spec's, as a load resolves it).
        discover: read child tables from the destination; when it cannot be reached the
            file is still written, without them, and a warning says so.

    Examples:
        >>> from pg_assets.spec import load_spec                                   # doctest: +SKIP
        >>> write_dbt_sources(load_spec("pipelines.yaml"), Path("dbt_project/models/sources.yml"))  # doctest: +SKIP
    """
    tables = loaded_tables(spec)
    warnings: list[str] = []
    children: dict[str, tuple[str, ...]] = {}
    if discover:
        children, problem = _try_discover(spec, credentials, tables)
        if problem:
            warnings.append(problem)
    existing = read_sources_file(path)
    generated = build_sources(tables, children, _dataset_descriptions(spec))
    warnings += [
        f"`{name}` is in `{path}` but pipelines.yaml does not load it; delete it there if the table is gone"
        for name in stale_tables(existing, generated)
    ]
    text = render_sources(merge_sources(existing, generated) if existing else generated)
    changed = not path.exists() or path.read_text(encoding="utf-8") != text
    if changed:
        _write_atomically(path, text)
    return Refresh(path=path, changed=changed, children=children, warnings=tuple(warnings))


def _try_discover(spec: Any, credentials: Any,
                  tables: Sequence[LoadedTable]) -> tuple[dict[str, tuple[str, ...]], str | None]:
    import psycopg2

    from pg_assets.runner import credentials_for

    config = None
    try:
        config = credentials_for(spec, credentials)
        return discover_child_tables(config, tables), None
    except (PgAssetsError, psycopg2.Error) as exc:
        where = f"`{config.safe_uri()}`" if config is not None else "the destination"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {}, (
            f"could not read child tables from {where} ({first_line}); sources.yml lists root tables only. "
            "Run the loads, then `pg-assets dbt-sources` again to add the child tables"
        )


def default_output(spec_path: Path) -> Path:
    """`dbt_project/models/sources.yml` next to the spec file."""
    return spec_path.parent / DEFAULT_OUTPUT
