"""The argument parser of `pg-assets`: one small function per sub-command.

Each sub-command names the function that runs it (`handler`), found in the module of
its command group; `pg_assets.cli.main` calls it with the parsed arguments. The
handlers import what they drive when called, so `--help` and a quick `validate`
never pay for Dagster, dbt or a database driver.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pg_assets.cli import dbt, discover, embedded, replication, run, state, validate

# what `add_subparsers` returns: sub-commands are added to it
SubParsers = argparse._SubParsersAction


def build_parser() -> argparse.ArgumentParser:
    """The parser for every sub-command; `--help` works at each level."""
    parser = argparse.ArgumentParser(prog="pg-assets", description="Load data into PostgreSQL from pipelines.yaml.")
    parser.add_argument("--traceback", action="store_true",
                        help="on failure, also print the Python traceback (passwords masked)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_validate, _run, _schema, _embedded, _state, _materialize, _dbt_env, _discover, _dbt_sources,
                _replication):
        add(sub)
    return parser


def _command(sub: SubParsers, name: str, handler: Callable[[argparse.Namespace], int], summary: str, *,
             spec_file: bool = True) -> argparse.ArgumentParser:
    """The parser of sub-command `name`, run by `handler`; with `-f/--file` unless `spec_file` is false."""
    p = sub.add_parser(name, help=summary)
    p.set_defaults(handler=handler)
    if spec_file:
        _add_spec_file(p)
    return p


def _add_spec_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--file", default="pipelines.yaml", help="the spec file (default: ./pipelines.yaml)")


def _validate(sub: SubParsers) -> None:
    _command(sub, "validate", validate.cmd_validate, "check pipelines.yaml and report every error at once")


def _run(sub: SubParsers) -> None:
    p = _command(sub, "run", run.cmd_run, "load the named sources or resources (everything when none is named)")
    p.add_argument("targets", nargs="*", metavar="SOURCE[.RESOURCE]", help="what to load")


def _schema(sub: SubParsers) -> None:
    _command(sub, "schema", validate.cmd_schema, "print the JSON Schema of pipelines.yaml", spec_file=False)


def _embedded(sub: SubParsers) -> None:
    p = _command(sub, "embedded", embedded.cmd_embedded, "the embedded Postgres server", spec_file=False)
    p.add_argument("action", choices=["uri", "status", "stop", "start"], help="what to do")


def _state(sub: SubParsers) -> None:
    p = _command(sub, "state", state.cmd_state, "pipeline state kept in the destination", spec_file=False)
    p.add_argument("action", choices=["show", "reset"])
    p.add_argument("pipeline", help="pipeline name (the source name in pipelines.yaml)")
    p.add_argument("--dataset", help="dataset (Postgres schema); defaults to the source's dataset in the spec")
    p.add_argument("--resource", help="with reset: only this resource's cursors")
    p.add_argument("--yes", action="store_true", help="with reset: do not ask for confirmation")
    _add_spec_file(p)


def _materialize(sub: SubParsers) -> None:
    p = _command(sub, "materialize", run.cmd_materialize,
                 "materialize every asset (the loads, then dbt build) in one run")
    p.add_argument("--exclude", nargs="*", default=[], metavar="SOURCE",
                   help="sources to leave out (e.g. `chess`, which needs network)")


def _dbt_env(sub: SubParsers) -> None:
    _command(sub, "dbt-env", dbt.cmd_dbt_env, "print export lines that point plain dbt at the destination")


def _discover(sub: SubParsers) -> None:
    p = _command(sub, "discover", discover.cmd_discover,
                 "list a sql_database source's tables and print its resources block")
    p.add_argument("source", metavar="SOURCE", help="a `kind: sql_database` source of the spec")
    p.add_argument("--tables", metavar="PATTERN", help="only tables matching these globs (`orders*,customers`)")
    p.add_argument("--write", action="store_true", help="add the resources not yet declared to the spec file")


def _dbt_sources(sub: SubParsers) -> None:
    p = _command(sub, "dbt-sources", dbt.cmd_dbt_sources, "write or refresh dbt sources.yml from pipelines.yaml")
    p.add_argument("-o", "--output", default=None, help="where to write (default: dbt_project/models/sources.yml)")


def _replication(sub: SubParsers) -> None:
    p = _command(sub, "replication", replication.cmd_replication,
                 "a `kind: pg_replication` source's slot: its lag, or drop it and its publication")
    p.add_argument("action", choices=["status", "drop"])
    p.add_argument("source", metavar="SOURCE", help="a `kind: pg_replication` source of the spec")
    p.add_argument("--json", action="store_true", help="with status: print JSON")
    p.add_argument("--yes", action="store_true", help="with drop: do not ask for confirmation")
