"""The argument parser of `pg-assets`: one small function per sub-command.

Each sub-command names the function that runs it (`handler`), found in the module of
its command group; `pg_assets.cli.main` calls it with the parsed arguments. The
handlers import what they drive when called, so `--help` and a quick `validate`
never pay for Dagster, dbt or a database driver.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pg_assets.cli import check, dbt, discover, embedded, init, replication, run, state, validate
from pg_assets.scaffold import DEFAULT_KINDS
from pg_assets.sources import KINDS

# what `add_subparsers` returns: sub-commands are added to it
SubParsers = argparse._SubParsersAction


def build_parser() -> argparse.ArgumentParser:
    """The parser for every sub-command; `--help` works at each level, and each has a description."""
    parser = argparse.ArgumentParser(prog="pg-assets", description=(
        "Load data into PostgreSQL from pipelines.yaml, as Dagster assets with dbt models on top. "
        "Start with `pg-assets init` in an empty folder."))
    parser.add_argument("--traceback", action="store_true",
                        help="on failure, also print the Python traceback (passwords masked)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_init, _validate, _run, _check, _materialize, _schema, _embedded, _state, _dbt_env, _discover,
                _dbt_sources, _replication):
        add(sub)
    return parser


def _command(sub: SubParsers, name: str, handler: Callable[[argparse.Namespace], int] | None, summary: str,
             description: str, *, spec_file: bool = True) -> argparse.ArgumentParser:
    """The parser of sub-command `name`, run by `handler`: `summary` in the list of commands,
    `description` atop its own `--help`; with `-f/--file` unless `spec_file` is false."""
    p = sub.add_parser(name, help=summary, description=description)
    if handler is not None:
        p.set_defaults(handler=handler)
    if spec_file:
        _add_spec_file(p)
    return p


def _add_spec_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--file", default="pipelines.yaml", help="the spec file (default: ./pipelines.yaml)")


def _init(sub: SubParsers) -> None:
    p = _command(sub, "init", init.cmd_init, "write a working project (pipelines.yaml, data, dbt) into a folder",
                 "Write a project that runs as it is: a pipelines.yaml with a commented example source per kind "
                 "and the data or module it reads, a small dbt_project/ over the loaded tables, dagster.yaml, "
                 "pyproject.toml (for `dagster dev` and `dg dev`) and .gitignore. No file is ever overwritten: "
                 "when one exists, nothing is written and the command says which.", spec_file=False)
    p.add_argument("directory", nargs="?", default=".", help="where to write (default: this folder; made if missing)")
    p.add_argument("--kinds", metavar="KIND,...", default=None,
                   help=f"the source kinds to show, comma-separated, from {', '.join(KINDS)} "
                        f"(default: {','.join(DEFAULT_KINDS)})")


def _validate(sub: SubParsers) -> None:
    _command(sub, "validate", validate.cmd_validate, "check pipelines.yaml and report every error at once",
             "Check the spec file without running anything: every error at once, each with file, line, key, what "
             "was expected and the closest valid word. Exit status 2 when there is any.")


def _run(sub: SubParsers) -> None:
    p = _command(sub, "run", run.cmd_run, "load the named sources or resources (everything when none is named)",
                 "Load sources into the destination, one atomic load per source: all its tables, or none. "
                 "Prints rows per table as they go, then what each load committed. Exit status 1 when a load "
                 "failed, 2 when the spec or a target is wrong.")
    p.add_argument("targets", nargs="*", metavar="SOURCE[.RESOURCE]", help="what to load")


def _check(sub: SubParsers) -> None:
    p = _command(sub, "check", check.cmd_check,
                 "check that the destination and its role can take the loads, loading nothing",
                 "Check, loading nothing, that the destination and its role can take each source's load: "
                 "privileges, a hot standby, read-only sessions, transaction pooling. Prints the GRANT lines "
                 "for what is missing; exit status 2 when something is.")
    p.add_argument("targets", nargs="*", metavar="SOURCE[.RESOURCE]", help="what to check (everything when none)")


def _schema(sub: SubParsers) -> None:
    _command(sub, "schema", validate.cmd_schema, "print the JSON Schema of pipelines.yaml",
             "Print the JSON Schema of pipelines.yaml, for editors that complete and check YAML "
             "(`# yaml-language-server: $schema=./pipelines.schema.json`).", spec_file=False)


_EMBEDDED_ACTIONS = {
    "uri": ("print the server's connection URI, starting it if needed",
            "Print the connection URI of the project's embedded Postgres (a unix socket in its pgdata), "
            "starting the server if it is not running."),
    "status": ("say whether the server runs, without starting it",
               "Say whether the project's embedded Postgres runs, with its pid, URI and data directory. "
               "Exit status 3 when it does not run, as `pg_ctl status`."),
    "start": ("start the server (a no-op when it runs)", "Start the project's embedded Postgres unless it runs."),
    "stop": ("stop the server", "Stop the project's embedded Postgres (a fast shutdown: open sessions end)."),
    "psql": ("run the psql bundled with the server, connected to it",
             "Run the psql that ships inside the embedded server's package, connected to the project's "
             "embedded Postgres (started if needed): no psql of your own needed. Arguments after `psql` go to "
             "psql itself, e.g. `pg-assets embedded psql -c 'select 1'`."),
}


def _embedded(sub: SubParsers) -> None:
    p = _command(sub, "embedded", None, "the embedded Postgres server: uri, status, start, stop, psql",
                 "The project's embedded PostgreSQL, used when no credentials are configured. It runs from "
                 "`.pg_assets/pgdata` (or `$PG_ASSETS_HOME/pgdata`) and outlives the command that started it.",
                 spec_file=False)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, (summary, description) in _EMBEDDED_ACTIONS.items():
        action = actions.add_parser(name, help=summary, description=description)
        action.set_defaults(handler=embedded.cmd_embedded)
        if name == "uri":
            action.add_argument("--dlt", action="store_true", help="the form dlt's Postgres destination accepts "
                                "(a host and a placeholder password)")
        if name == "psql":  # `pg_assets.cli.main` hands what follows `psql` to psql, unparsed
            action.usage = "pg-assets embedded psql [PSQL_ARG ...]"


def _state(sub: SubParsers) -> None:
    p = _command(sub, "state", None, "show or reset a pipeline's state kept in the destination",
                 "The state of a pipeline (one source of pipelines.yaml): its incremental cursors and saved "
                 "values, kept in the destination's `_dlt_pipeline_state` table as dlt keeps them.",
                 spec_file=False)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print the newest committed state as JSON",
                              description="Print the newest committed state of the pipeline as JSON; exit "
                                          "status 1 when there is none.")
    reset = actions.add_parser("reset", help="forget the cursors, so the next run loads from the start",
                               description="Forget the cursors and saved state of every resource of the pipeline "
                                           "(or of `--resource`), as a new state version committed under the "
                                           "pipeline's run lock; the old versions stay in the table.")
    for action in (show, reset):
        action.set_defaults(handler=state.cmd_state)
        action.add_argument("pipeline", help="pipeline name (the source name in pipelines.yaml)")
        action.add_argument("--dataset", help="dataset (Postgres schema); default: the source's dataset in the spec")
        _add_spec_file(action)
    reset.add_argument("--resource", help="only this resource's cursors")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _materialize(sub: SubParsers) -> None:
    p = _command(sub, "materialize", run.cmd_materialize,
                 "materialize every asset (the loads, then dbt build) in one run",
                 "Materialize every asset of the project in one Dagster run: the loads of pipelines.yaml, then "
                 "`dbt build` on dbt_project/ beside it, with their checks. The run is kept in the project's "
                 "Dagster instance, so `dagster dev` here shows it. Then say what was loaded and how to query it.")
    p.add_argument("--exclude", nargs="*", default=[], metavar="SOURCE",
                   help="sources to leave out (e.g. `chess`, which needs network)")


def _dbt_env(sub: SubParsers) -> None:
    _command(sub, "dbt-env", dbt.cmd_dbt_env, "print export lines that point plain dbt at the destination",
             "Print shell `export` lines (PG_ASSETS_DBT_*) that point plain `dbt` at the destination the loads "
             "use: `eval \"$(pg-assets dbt-env)\"`. A password is never printed.")


def _discover(sub: SubParsers) -> None:
    p = _command(sub, "discover", discover.cmd_discover,
                 "list a sql_database source's tables and print its resources block",
                 "Connect to a `kind: sql_database` source, list its tables with their primary keys, column types "
                 "(as the source has them and as Postgres will store them) and a suggested cursor, and print the "
                 "`resources:` block that loads them. `--write` adds it to the spec file, with the `dataset` the "
                 "source lacks, so `pg-assets validate` passes right after.")
    p.add_argument("source", metavar="SOURCE", help="a `kind: sql_database` source of the spec")
    p.add_argument("--tables", metavar="PATTERN", help="only tables matching these globs (`orders*,customers`)")
    p.add_argument("--write", action="store_true", help="add the resources not yet declared to the spec file")


def _dbt_sources(sub: SubParsers) -> None:
    p = _command(sub, "dbt-sources", dbt.cmd_dbt_sources, "write or refresh dbt sources.yml from pipelines.yaml",
                 "Write dbt's sources.yml from the spec: one dbt source per dataset, named after it, so Dagster "
                 "links each to the asset that loads it. A refresh adds what is new and keeps what you wrote.")
    p.add_argument("-o", "--output", default=None, help="where to write (default: dbt_project/models/sources.yml)")


def _replication(sub: SubParsers) -> None:
    p = _command(sub, "replication", replication.cmd_replication,
                 "a pg_replication source's slot: its lag, or drop it and its publication",
                 "Operate a `kind: pg_replication` source's replication slot: `status` shows the slot's lag in "
                 "bytes and time and the last position committed with the rows; `drop` removes the slot and the "
                 "publication pg_assets made (asking first).")
    p.add_argument("action", choices=["status", "drop"], help="status: the slot's lag; drop: slot and publication")
    p.add_argument("source", metavar="SOURCE", help="a `kind: pg_replication` source of the spec")
    p.add_argument("--json", action="store_true", help="with status: print JSON")
    p.add_argument("--yes", action="store_true", help="with drop: do not ask for confirmation")
