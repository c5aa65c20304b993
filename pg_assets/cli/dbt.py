"""`pg-assets dbt-sources` and `pg-assets dbt-env`: dbt's sources.yml and connection from the spec.

The work is done in `pg_assets.dbt`; these commands print what it did.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from pg_assets.dbt.env import PASSWORD_VAR, profile_env
from pg_assets.dbt.sources import default_output, write_dbt_sources


def cmd_dbt_sources(args: argparse.Namespace) -> int:
    """`pg-assets dbt-sources [-f FILE] [-o PATH]`."""
    from pg_assets.spec import load_spec

    spec_path = Path(args.file)
    output = Path(args.output) if args.output else default_output(spec_path)
    result = write_dbt_sources(load_spec(spec_path), output)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    found = sum(len(kids) for kids in result.children.values())
    state = "written" if result.changed else "already up to date"
    print(f"{output}: {state} ({found} child table(s) found in the destination)")
    return 0


def _export_lines(env: Mapping[str, str]) -> list[str]:
    # The password is never printed: say how to pass it instead.
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items() if name != PASSWORD_VAR]
    if env.get(PASSWORD_VAR):
        lines.append(f"# the destination has a password: export {PASSWORD_VAR}=... yourself")
    return lines


def cmd_dbt_env(args: argparse.Namespace) -> int:
    """`pg-assets dbt-env [-f FILE]`: shell `export` lines that point plain `dbt` at the destination.

    Use as `eval "$(pg-assets dbt-env)"`. The destination is the one the loads of the
    spec use (its `destination.credentials`, `PG_ASSETS_CREDENTIALS`,
    `.pg_assets/secrets.toml`, else the embedded server, started if needed).
    """
    from pg_assets.destination import resolve_credentials

    spec_file = Path(getattr(args, "file", None) or "pipelines.yaml")
    if spec_file.is_file():
        from pg_assets.runner import credentials_for
        from pg_assets.spec import load_spec

        config = credentials_for(load_spec(spec_file))
    else:
        config = resolve_credentials()
    print("\n".join(_export_lines(profile_env(config))))
    return 0
