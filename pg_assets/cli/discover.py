"""`pg-assets discover SOURCE [--tables PATTERN] [--write]`: print or add a database source's resources.

The listing and the YAML block come from `pg_assets.discover`; this module prints them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pg_assets.schema import stored_type

if TYPE_CHECKING:
    from pg_assets.discover import TableInfo


def _stored(hint: dict[str, Any]) -> str:
    """The column's type as Postgres will store it, from the engine's own type-to-DDL table."""
    return stored_type(hint["data_type"], hint.get("precision"), hint.get("scale"), hint.get("timezone"))


def _listing(tables: list[TableInfo]) -> str:
    lines: list[str] = []
    for t in tables:
        key = ", ".join(t.primary_key) or "none"
        lines.append(f"{t.name}  (primary key: {key}; suggested cursor: {t.cursor or 'none'})")
        width = max((len(c.name) for c in t.columns), default=0)
        for c in t.columns:
            hint = _stored(c.hint) if c.hint else "NO MAPPING: set a `columns` data_type"
            lines.append(f"    {c.name.ljust(width)}  {c.source_type} -> {hint}{'' if c.nullable else ', not null'}")
    return "\n".join(lines)


def cmd_discover(args: argparse.Namespace) -> int:
    """List the tables of a sql_database source and print (or `--write`) its resources block."""
    from pg_assets.discover import (default_dataset, discover_tables, render_block, resources_block,  # sqlalchemy
                                    source_of, write_block)

    path = Path(args.file).resolve()
    source = source_of(path, args.source)
    patterns = [p.strip() for p in (args.tables or "").split(",") if p.strip()]
    location, tables = discover_tables(source["credentials"], schema=source.get("schema"), patterns=patterns,
                                       base_dir=path.parent, where=f"source `{args.source}`")
    schema = f" (schema {source['schema']})" if source.get("schema") else ""
    if not tables:
        print(f"{args.source}: no tables{' match ' + args.tables if patterns else ''} in {location}{schema}",
              file=sys.stderr)
        return 1
    print(f"# {args.source}: {len(tables)} table{'s' if len(tables) != 1 else ''} in {location}{schema}")
    print("\n".join(f"# {line}" for line in _listing(tables).splitlines()))
    block = resources_block(tables)
    dataset = None if source.get("dataset") else default_dataset(args.source)
    sys.stdout.write(render_block(block, dataset))
    if not args.write:
        if dataset:
            print(f"# source `{args.source}` has no `dataset` (the Postgres schema it lands in): `--write` adds "
                  f"`dataset: {dataset}` with the resources", file=sys.stderr)
        return 0
    added = write_block(path, args.source, block, dataset)
    kept = len(block) - len(added)
    note = f"; {kept} already declared, left as they are" if kept else ""
    with_dataset = f" and `dataset: {dataset}`" if dataset else ""
    print(f"# wrote {len(added)} resource{'s' if len(added) != 1 else ''}{with_dataset} to {path.name}{note}; "
          "`pg-assets validate` checks the file", file=sys.stderr)
    return 0
