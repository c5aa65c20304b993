"""`pg-assets validate` and `pg-assets schema`: the spec file checked, and its JSON Schema.

`validate` exits 2 when the spec has any problem, after printing every one of them.
"""

from __future__ import annotations

import argparse
import sys


def cmd_validate(args: argparse.Namespace) -> int:
    """Print every problem of the spec file; exit 2 when there is any.

    Cron strings are judged by Dagster's own constructors, as the definitions will be.
    """
    import pg_assets.dagster.cron  # noqa: F401 - registers Dagster's cron judge
    from pg_assets.spec.document import read_spec

    spec, issues = read_spec(args.file)
    for issue in issues:
        print(issue, file=sys.stderr)
    if issues:
        print(f"{args.file}: {len(issues)} error{'s' if len(issues) != 1 else ''}", file=sys.stderr)
        return 2
    resources = sum(len(source.resources) for source in spec.sources.values())
    print(f"{args.file}: valid ({len(spec.sources)} sources, {resources} resources)")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of pipelines.yaml."""
    from pg_assets.spec.document import json_schema_text

    sys.stdout.write(json_schema_text())
    return 0
