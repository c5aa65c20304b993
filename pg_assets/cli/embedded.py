"""`pg-assets embedded uri [--dlt]|status|start|stop|psql`: the embedded Postgres server of the project.

The server itself lives in `pg_assets.embedded`; this module only answers the command,
and only inside a project, so it never leaves a new empty server in a stray folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pg_assets.embedded import HOME_ENV, dlt_uri, ensure_running, in_project, psql_path, status, stop, uri


def _print_status(info: dict[str, Any]) -> int:
    if not info["running"]:
        print(f"embedded Postgres: not running (pgdata {info['pgdata']})")
        return 3  # like `pg_ctl status`, so scripts can test for it
    print(f"embedded Postgres: running, pid {info['pid']}\n  uri:    {info['uri']}\n  pgdata: {info['pgdata']}")
    return 0


def _psql(psql_args: list[str]) -> int:
    """Replace this process with the bundled psql, connected to the server (started if needed).

    `exec`, not a child process: psql owns the terminal, Ctrl-C cancels its query rather
    than ending pg_assets, and its exit status is the command's.
    """
    target = ensure_running().uri()
    executable = str(psql_path())
    os.execv(executable, [executable, f"--dbname={target}", *psql_args])
    return 0  # not reached


def cmd_embedded(args: argparse.Namespace) -> int:
    """`pg-assets embedded uri|status|start|stop|psql`, in a project only (never a new empty server elsewhere)."""
    if not in_project():
        print(f"error: `{Path.cwd()}` is not a pg_assets project (no `pipelines.yaml`, no `.pg_assets/`), "
              f"so it has no embedded Postgres. Run `pg-assets embedded {args.action}` in your project's folder, "
              f"start one here with `pg-assets init`, or set `{HOME_ENV}` to the folder that holds the server's "
              "`pgdata/`.", file=sys.stderr)
        return 2
    if args.action == "psql":
        return _psql(list(args.psql_args))
    if args.action == "uri":
        print(dlt_uri() if getattr(args, "dlt", False) else uri())
        return 0
    if args.action == "status":
        return _print_status(status())
    if args.action == "start":
        ensure_running()
        return _print_status(status())
    was_running = stop()
    print("embedded Postgres: stopped" if was_running else "embedded Postgres: was not running")
    return 0
