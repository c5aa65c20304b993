"""`pg-assets discover SOURCE [--tables PATTERN] [--write]`: print or add a database source's resources.

The listing and the YAML block come from `pg_assets.discover`; this module prints them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pg_assets.discover import TableInfo


def _listing(tables: list[TableInfo]) -> str:
    lines: list[str] = []
    for t in tables:
        key = ", ".join(t.primary_key) or "none"
        lines.append(f"{t.name}  (primary key: {key}; suggested cursor: {t.cursor or 'none'})")
        width = max((len(c.name) for c in t.columns), default=0)
        for c in t.columns:
            hint = c.hint["data_type"] if c.hint else "NO MAPPING: set a `columns` data_type"
            lines.append(f"    {c.name.ljust(width)}  {c.source_type} -> {hint}{'' if c.nullable else ', not null'}")
    return "\n".join(lines)


def cmd_discover(args: argparse.Namespace) -> int:
    """List the tables of a sql_database source and print (or `--write`) its resources block."""
    from pg_assets.discover import discover_tables, render_block, resources_block, source_of, write_block  # sqlalchemy

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
    sys.stdout.write(render_block(block))
    if args.write:
        added = write_block(path, args.source, block)
        kept = len(block) - len(added)
        note = f"; {kept} already declared, left as they are" if kept else ""
        print(f"# wrote {len(added)} resource{'s' if len(added) != 1 else ''} to {path.name}{note}",
              file=sys.stderr)
    return 0
