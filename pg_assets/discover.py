"""The resources of a database source, for `pg-assets discover SOURCE [--tables PATTERN] [--write]`.

Definitions never connect to a database, so the tables of a `kind: sql_database`
source are not listed at definition time. `discover` connects once, lists the tables
with their primary keys, column types and a suggested cursor, and prints the
`resources:` block that loads them. `--write` adds the tables not yet declared to
pipelines.yaml, through a round-trip YAML reader so the file keeps its comments, key
order and `${VAR}` references.

The source only needs `kind` and `credentials` (and optionally `schema`) in the file:
its `dataset` and `resources` may still be missing, which the full spec would refuse;
`--write` adds both (the dataset named after the source), so the file validates after it.
"""

from __future__ import annotations

import fnmatch
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pg_assets.errors import ConfigError, did_you_mean
from pg_assets.normalize.naming import normalize_dataset_name, normalize_identifier
from pg_assets.normalize.sql_types import column_hint, type_name
from pg_assets.sources.sql_connect import display_location
from pg_assets.sources.sql_database import connect
from pg_assets.spec.yamlio import read_yaml

# names of a "last changed" column, best first; then any timestamp that says update/modify
CURSOR_NAMES = ("updated_at", "modified_at", "last_modified", "last_modified_at", "updated", "modified",
                "changed_at", "last_update", "last_updated", "updated_on", "modified_on", "update_time")
CURSOR_WORDS = ("updat", "modif", "chang")
CURSOR_TYPES = ("timestamp", "date")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    source_type: str
    hint: dict[str, Any] | None
    nullable: bool


@dataclass(frozen=True)
class TableInfo:
    """What `discover` found of one source table."""

    name: str
    primary_key: tuple[str, ...]
    columns: tuple[ColumnInfo, ...]
    cursor: str | None

    def resource(self) -> dict[str, Any]:
        """The resource options that load this table, as pipelines.yaml would say them."""
        options: dict[str, Any] = {}
        if normalize_identifier(self.name) != self.name:
            options["table"] = self.name
        options["write_disposition"] = "merge" if self.primary_key else ("append" if self.cursor else "replace")
        if self.cursor:
            options["incremental"] = {"cursor_path": self.cursor}
        unmapped = {c.name: {"data_type": "text"} for c in self.columns if c.hint is None}
        if unmapped:
            options["columns"] = unmapped
        return options


def suggest_cursor(columns: tuple[ColumnInfo, ...]) -> str | None:
    """A column that tells when a row last changed: a known name, else a timestamp named so."""
    timed = [c for c in columns if c.hint and c.hint["data_type"] in CURSOR_TYPES]
    by_name = {c.name.lower(): c.name for c in timed}
    for name in CURSOR_NAMES:
        if name in by_name:
            return by_name[name]
    return next((c.name for c in timed if any(w in c.name.lower() for w in CURSOR_WORDS)), None)


def _table_info(table: sa.Table, dialect: Any) -> TableInfo:
    # plain `str`: SQLAlchemy's `quoted_name` is a subclass the YAML writer does not know
    columns = tuple(ColumnInfo(str(c.name), type_name(c.type, dialect), column_hint(c.type, dialect.name),
                               bool(c.nullable))
                    for c in table.columns)
    return TableInfo(str(table.name), tuple(str(c.name) for c in table.primary_key.columns), columns,
                     suggest_cursor(columns))


def _matches(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def discover_tables(credentials: str, *, schema: str | None = None, patterns: list[str] | None = None,
                    base_dir: Path | None = None, where: str = "discover") -> tuple[str, list[TableInfo]]:
    """The source's location (no secrets) and its tables (those matching `patterns`, globs)."""
    with connect(credentials, base_dir, where) as (conn, url):
        names = [n for n in sa.inspect(conn).get_table_names(schema=schema) if _matches(n, patterns or [])]
        metadata = sa.MetaData()
        metadata.reflect(bind=conn, schema=schema, only=names)
        tables = [_table_info(metadata.tables[f"{schema}.{n}" if schema else n], conn.dialect) for n in names]
        return display_location(url), tables


# ---------------------------------------------------------------- the spec file


def source_of(path: Path, name: str) -> Mapping[str, Any]:
    """The raw source `name` of the spec, `${VAR}` filled; only `kind` and `credentials` are needed."""
    loaded = read_yaml(path)
    if loaded.data is None:
        raise ConfigError("\n".join(map(str, loaded.issues)) or f"{path} cannot be read")
    sources = loaded.data.get("sources") if isinstance(loaded.data, Mapping) else None
    sources = sources if isinstance(sources, Mapping) else {}
    source = sources.get(name)
    if not isinstance(source, Mapping):
        raise ConfigError(f"no source `{name}` in {path.name}.{did_you_mean(name, sources)}")
    if source.get("kind") != "sql_database":
        raise ConfigError(f"source `{name}` is `kind: {source.get('kind')}`; `discover` reads `kind: sql_database` "
                          "sources")
    own = [issue for issue in loaded.issues if str(issue.path).startswith(f"sources.{name}.")]
    if own:  # an unset `${VAR}`, most likely
        raise ConfigError("\n".join(map(str, own)))
    if not isinstance(source.get("credentials"), str) or not source["credentials"]:
        raise ConfigError(f"source `{name}` needs `credentials`: a SQLAlchemy URL (write `${{VAR}}`)")
    return source


def resources_block(tables: list[TableInfo]) -> dict[str, dict[str, Any]]:
    return {normalize_identifier(t.name): t.resource() for t in tables}


def _round_trip() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _flowing(options: dict[str, Any]) -> Any:
    """The options as ruamel nodes, inner mappings written `{cursor_path: ...}` on one line."""
    from ruamel.yaml.comments import CommentedMap

    node = CommentedMap()
    for key, value in options.items():
        if isinstance(value, dict):
            inner = CommentedMap(value)
            inner.fa.set_flow_style()
            value = inner
        node[key] = value
    return node


def default_dataset(source: str) -> str:
    """The `dataset` `--write` gives a source that has none: the source's name, as a Postgres schema name.

    Examples:
        >>> default_dataset("CRM-prod")
        'crm_prod'
    """
    return normalize_dataset_name(source)


def render_block(block: dict[str, dict[str, Any]], dataset: str | None = None) -> str:
    """The `resources:` block as YAML text, after `dataset:` when the source needs one."""
    from ruamel.yaml.comments import CommentedMap

    resources = CommentedMap((name, _flowing(options)) for name, options in block.items())
    out = io.StringIO()
    _round_trip().dump({**({"dataset": dataset} if dataset else {}), "resources": resources}, out)
    return out.getvalue()


def write_block(path: Path, source: str, block: dict[str, dict[str, Any]], dataset: str | None = None) -> list[str]:
    """Add the resources not yet declared to `source` in the file, and `dataset` (after `kind`) when
    given; returns the names added. The source is then complete: `validate` needs nothing more."""
    from ruamel.yaml.comments import CommentedMap

    yaml = _round_trip()
    document = yaml.load(path.read_text(encoding="utf-8"))
    node = document["sources"][source]
    if dataset and not node.get("dataset"):
        keys = list(node)
        node.insert(keys.index("kind") + 1 if "kind" in keys else 0, "dataset", dataset)
    if not isinstance(node.get("resources"), Mapping):
        node["resources"] = CommentedMap()
    resources = node["resources"]
    added = [name for name in block if name not in resources]
    for name in added:
        resources[name] = _flowing(block[name])
    out = io.StringIO()
    yaml.dump(document, out)
    path.write_text(out.getvalue(), encoding="utf-8")
    return added
