"""`pg-assets init [DIRECTORY] [--kinds KIND,...]`: a working project in an empty folder.

The files come from `pg_assets.scaffold`; this module prints what was written and what
to run next.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pg_assets.scaffold import init_project, parse_kinds


def _next_steps(directory: Path, kinds: tuple[str, ...]) -> list[str]:
    here = Path.cwd().absolute()
    go = [] if directory == here else [f"  cd {os.path.relpath(directory, here)}"]
    offline = "" if "rest_api" not in kinds else " --exclude chess   # `chess` needs network"
    return [
        "Next:",
        *go,
        f"  pg-assets materialize{offline}",
        "  pg-assets embedded psql     # query what was loaded (`\\dn` lists the datasets)",
        "  dagster dev                 # the same assets in the UI, http://127.0.0.1:3000 (or `dg dev`)",
    ]


def cmd_init(args: argparse.Namespace) -> int:
    """Write the project, or write nothing and exit 2 when any of its files exists."""
    kinds = parse_kinds(args.kinds)
    written = init_project(Path(args.directory), kinds)
    print(f"wrote a pg_assets project with {', '.join(f'`{k}`' for k in kinds)} sources to {written.directory}:")
    print("\n".join(f"  {path}" for path in sorted(written.files)))
    if written.gitignore != "kept":
        print(f"  .gitignore ({'the lines it lacked added' if written.gitignore == 'extended' else 'written'})")
    print("\n".join(["", *_next_steps(written.directory, kinds)]))
    return 0
