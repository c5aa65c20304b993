"""`pg-assets embedded uri [--dlt]|status|start|stop`: the embedded Postgres server of the project.

The server itself lives in `pg_assets.embedded`; this module only answers the command,
and only inside a project, so it never leaves a new empty server in a stray folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pg_assets.embedded import HOME_ENV, dlt_uri, ensure_running, in_project, status, stop, uri


def _print_status(info: dict[str, Any]) -> int:
    if not info["running"]:
        print(f"embedded Postgres: not running (pgdata {info['pgdata']})")
        return 3  # like `pg_ctl status`, so scripts can test for it
    print(f"embedded Postgres: running, pid {info['pid']}\n  uri:    {info['uri']}\n  pgdata: {info['pgdata']}")
    return 0


def cmd_embedded(args: argparse.Namespace) -> int:
    """`pg-assets embedded uri|status|start|stop`, in a project only (never a new empty server elsewhere)."""
    if not in_project():
        print(f"error: `{Path.cwd()}` is not a pg_assets project (no `pipelines.yaml`, no `.pg_assets/`), "
              f"so it has no embedded Postgres. Run `pg-assets embedded {args.action}` in your project's folder, "
              f"or set `{HOME_ENV}` to the folder that holds the server's `pgdata/`.", file=sys.stderr)
        return 2
    if args.action == "uri":
        print(dlt_uri() if args.dlt else uri())
        return 0
    if args.action == "status":
        return _print_status(status())
    if args.action == "start":
        ensure_running()
        return _print_status(status())
    was_running = stop()
    print("embedded Postgres: stopped" if was_running else "embedded Postgres: was not running")
    return 0
