"""The `pg-assets` command line.

Each sub-command lives beside the feature it drives; this module only builds the
argument parser and turns every failure into a clear message and an exit status:

- 2: the input is wrong (`ConfigError`: the spec, the credentials);
- 1: a load or a step failed (any other `PgAssetsError`), or an unexpected error, which
  is named in one line with where it was raised;
- 130: interrupted.

No traceback is printed unless `--traceback` asks for one. Every message goes through
`mask_secrets` first, so no password reaches the terminal whatever its form.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence

from pg_assets.masking import mask_secrets
from pg_assets.errors import ConfigError, PgAssetsError, user_code_location

# sub-command -> (module, function taking the parsed args and returning an exit status)
_COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("pg_assets.spec.commands", "cmd_validate"),
    "run": ("pg_assets.spec.commands", "cmd_run"),
    "schema": ("pg_assets.spec.commands", "cmd_schema"),
    "embedded": ("pg_assets.embedded", "cmd_embedded"),
    "state": ("pg_assets.state_commands", "cmd_state"),
    "dbt-sources": ("pg_assets.dbt_sources", "cmd_dbt_sources"),
    "materialize": ("pg_assets.dagster.materialize", "cmd_materialize"),
    "dbt-env": ("pg_assets.dbt_env", "cmd_dbt_env"),
    "discover": ("pg_assets.discover", "cmd_discover"),
}


def _add_spec_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--file", default="pipelines.yaml", help="the spec file (default: ./pipelines.yaml)")


def build_parser() -> argparse.ArgumentParser:
    """The parser for every sub-command; `--help` works at each level."""
    parser = argparse.ArgumentParser(prog="pg-assets", description="Load data into PostgreSQL from pipelines.yaml.")
    parser.add_argument("--traceback", action="store_true",
                        help="on failure, also print the Python traceback (passwords masked)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check pipelines.yaml and report every error at once")
    _add_spec_file(p)

    p = sub.add_parser("run", help="load the named sources or resources (everything when none is named)")
    _add_spec_file(p)
    p.add_argument("targets", nargs="*", metavar="SOURCE[.RESOURCE]", help="what to load")

    sub.add_parser("schema", help="print the JSON Schema of pipelines.yaml")

    p = sub.add_parser("embedded", help="the embedded Postgres server")
    p.add_argument("action", choices=["uri", "status", "stop", "start"], help="what to do")

    p = sub.add_parser("state", help="pipeline state kept in the destination")
    p.add_argument("action", choices=["show", "reset"])
    p.add_argument("pipeline", help="pipeline name (the source name in pipelines.yaml)")
    p.add_argument("--dataset", help="dataset (Postgres schema); defaults to the source's dataset in the spec")
    p.add_argument("--resource", help="with reset: only this resource's cursors")
    p.add_argument("--yes", action="store_true", help="with reset: do not ask for confirmation")
    _add_spec_file(p)

    p = sub.add_parser("materialize", help="materialize every asset (the loads, then dbt build) in one run")
    _add_spec_file(p)
    p.add_argument("--exclude", nargs="*", default=[], metavar="SOURCE",
                   help="sources to leave out (e.g. `chess`, which needs network)")

    p = sub.add_parser("dbt-env", help="print export lines that point plain dbt at the destination")
    _add_spec_file(p)

    p = sub.add_parser("discover", help="list a sql_database source's tables and print its resources block")
    _add_spec_file(p)
    p.add_argument("source", metavar="SOURCE", help="a `kind: sql_database` source of the spec")
    p.add_argument("--tables", metavar="PATTERN", help="only tables matching these globs (`orders*,customers`)")
    p.add_argument("--write", action="store_true", help="add the resources not yet declared to the spec file")

    p = sub.add_parser("dbt-sources", help="write or refresh dbt sources.yml from pipelines.yaml")
    _add_spec_file(p)
    p.add_argument("-o", "--output", default=None, help="where to write (default: dbt_project/models/sources.yml)")
    return parser


def _handler(name: str) -> Callable[[argparse.Namespace], int]:
    module, func = _COMMANDS[name]
    return getattr(importlib.import_module(module), func)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pg-assets` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(_handler(args.command)(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure ends in a message, never a bare traceback
        return _report(exc, show_traceback=args.traceback)


def _report(exc: BaseException, *, show_traceback: bool) -> int:
    """Print `exc` as one clear message (and its traceback when asked); the exit status for it."""
    if show_traceback:
        print(mask_secrets("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
    exc = _from_driver(exc)
    if isinstance(exc, PgAssetsError):
        message = str(exc)
    else:
        where = user_code_location(exc) or _raised_at(exc)
        message = f"unexpected {type(exc).__name__} at {where}: {exc}"
    hint = "" if show_traceback else "\n(run again with `pg-assets --traceback ...` to see the traceback)"
    print(mask_secrets(f"error: {message}{hint if not isinstance(exc, ConfigError) else ''}"), file=sys.stderr)
    return 2 if isinstance(exc, ConfigError) else 1


def _from_driver(exc: BaseException) -> BaseException:
    """A driver error that escaped a command, as its `PgAssetsError` (classified in `load/errors.py`)."""
    driver = sys.modules.get("psycopg2")
    if driver is not None and isinstance(exc, driver.Error):
        from pg_assets.load.errors import as_error

        return as_error(exc)
    return exc


def _raised_at(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "an unknown place"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
