"""`pg-assets state show|reset PIPELINE`: the pipeline state kept in the destination.

The dataset is `--dataset`, else the `dataset` of the source named PIPELINE in the
spec file (`-f`, default `pipelines.yaml`), else `<PIPELINE>_dataset` when there is no
spec file. Credentials come from the spec's destination, else the usual fallbacks.

`reset` forgets the cursors and saved state of every resource (or of `--resource`)
by writing a new state version, committed with a `_dlt_loads` row like any load and
under the pipeline's run lock, so it never races a running load. The old versions
stay in `_dlt_pipeline_state`: a reset can be looked at afterwards, and undone by
hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from pg_assets import sql
from pg_assets import state as state_store
from pg_assets.errors import ConfigError
from pg_assets.connection import close_quietly, open_connection
from pg_assets.pipeline import Pipeline, new_load_id

RESET_LOCK_TIMEOUT = 60.0


def cmd_state(args: argparse.Namespace) -> int:
    """Entry point of `pg-assets state`."""
    pipeline = pipeline_for_state(args.pipeline, args.dataset, Path(args.file))
    if args.action == "show":
        return show_state(pipeline)
    return reset_state(pipeline, args.resource, yes=args.yes)


def pipeline_for_state(name: str, dataset: str | None, spec_file: Path) -> Pipeline:
    """The pipeline `name` as the spec file declares it (dataset, credentials), or by convention."""
    if not spec_file.exists():
        return Pipeline(name, dataset, lock_timeout=RESET_LOCK_TIMEOUT)
    from pg_assets.runner import credentials_for
    from pg_assets.spec import load_spec

    spec = load_spec(spec_file)
    source = spec.sources.get(name)
    if source is None and dataset is None:
        known = ", ".join(f"`{s}`" for s in spec.sources) or "none"
        raise ConfigError(f"{spec_file} has no source `{name}` (sources: {known}); name one of them, or give "
                          f"`--dataset` for a pipeline that is not in the spec")
    schema_name = source.schema_name if source is not None else None
    return Pipeline(name, dataset or source.dataset, credentials_for(spec), lock_timeout=RESET_LOCK_TIMEOUT,
                    schema_name=schema_name)


def show_state(pipeline: Pipeline, out: TextIO | None = None) -> int:
    """Print the newest committed state as JSON; 1 when there is none."""
    state = pipeline.state()
    if state is None:
        print(f"No committed state for pipeline `{pipeline.name}` in dataset `{pipeline.dataset}`.", file=sys.stderr)
        return 1
    print(json.dumps(state, indent=2, default=str), file=out or sys.stdout)
    return 0


def reset_state(pipeline: Pipeline, resource: str | None = None, *, yes: bool = False) -> int:
    """Forget the cursors of `resource` (all when None) after a confirmation; 1 when declined.

    Raises:
        ConfigError: no stored state, an unknown resource, or no `--yes` without a terminal.
    """
    state = pipeline.state()
    if state is None:
        raise ConfigError(f"Pipeline `{pipeline.name}` has no committed state in dataset `{pipeline.dataset}`; "
                          f"nothing to reset")
    names = state_store.reset_resources(state_store.clone(state), resource)
    if not names:
        print(f"Pipeline `{pipeline.name}` has no cursors to reset.")
        return 0
    what = ", ".join(f"`{n}`" for n in names)
    question = (f"Reset the cursors and saved state of {what} of pipeline `{pipeline.name}` in dataset "
                f"`{pipeline.dataset}`? The next run loads them from their initial value. [y/N] ")
    if not yes and not confirm(question, "pg-assets state reset", "reset"):
        print("Nothing was reset.")
        return 1
    version = _write_reset(pipeline, resource)
    print(f"Reset {what} of pipeline `{pipeline.name}` (state version {version}).")
    return 0


def confirm(question: str, command: str, action: str) -> bool:
    """Ask `question` on the terminal; without one, ConfigError says to add `--yes`."""
    if not sys.stdin.isatty():
        raise ConfigError(f"`{command}` asks for confirmation, but stdin is not a terminal; "
                          f"add `--yes` to {action} without asking")
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _write_reset(pipeline: Pipeline, resource: str | None) -> int:
    """Under the run lock, re-read the state, reset it and commit it as a new version."""
    conn = open_connection(pipeline.config, f"pg_assets:{pipeline.name}:state-reset")
    try:
        with conn.cursor() as cur:
            state_store.acquire_lock(cur, pipeline.dataset, pipeline.name, pipeline.lock_timeout)
            stored = state_store.read_state(cur, pipeline.dataset, pipeline.name)
            if stored is None:  # another session dropped it meanwhile
                raise ConfigError(f"Pipeline `{pipeline.name}` no longer has state in `{pipeline.dataset}`")
            state = state_store.clone(stored)
            state_store.reset_resources(state, resource)
            if not state_store.bump(state, stored.get("_version_hash")):
                return int(state["_state_version"])
            load_id, now = new_load_id(), dt.datetime.now(dt.timezone.utc).isoformat()
            conn.autocommit = False
            cur.execute(state_store.insert_state_sql(pipeline.dataset, state, load_id, now))
            cur.execute(state_store.insert_load_sql(pipeline.dataset, load_id, pipeline.schema_name, now,
                                                    _schema_hash(cur, pipeline)))
            conn.commit()
            return int(state["_state_version"])
    finally:
        close_quietly(conn)  # rolls back anything uncommitted and releases the lock


def _schema_hash(cur: Any, pipeline: Pipeline) -> str | None:
    """The schema version of the pipeline's newest load: a reset does not change the schema."""
    cur.execute(sql.newest_schema_hash(pipeline.dataset, state_store.LOADS_TABLE), (pipeline.schema_name,))
    row = cur.fetchone()
    return row[0] if row else None
