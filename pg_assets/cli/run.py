"""`pg-assets run` and `pg-assets materialize`: the loads, alone or with dbt under Dagster.

Each returns the exit status: 0 on success, 1 when a load (or a step, or an ERROR
check) failed, 2 when the spec (or a target on the command line) is wrong.
`pg_assets.cli.parser` parses the arguments.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from pg_assets.masking import mask_secrets
from pg_assets.errors import ConfigError, PgAssetsError
from pg_assets.info import LoadInfo, ProgressEvent


def cmd_run(args: argparse.Namespace) -> int:
    """Load the targets source by source; a failed source does not stop the others."""
    from pg_assets import runner
    from pg_assets.spec.document import load_spec

    spec = load_spec(args.file)
    plan = runner.parse_targets(spec, getattr(args, "targets", None))
    failed: dict[str, PgAssetsError] = {}
    started = time.monotonic()
    rows = 0
    for source_name, names in plan.items():
        board = LiveProgress(source_name, sys.stderr)
        try:
            info = runner.run_source(spec, source_name, names, progress=board)
        except PgAssetsError as exc:
            board.clear()
            if getattr(args, "traceback", False):
                print(mask_secrets("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
            print(mask_secrets(f"{source_name}: FAILED, nothing of it was committed: {exc}"), file=sys.stderr)
            failed[source_name] = exc
            continue
        board.clear()
        rows += sum(info.row_counts.values())
        print(summary(source_name, info))
    print(f"{len(plan) - len(failed)} of {len(plan)} sources loaded, {rows:,} rows in "
          f"{time.monotonic() - started:.1f}s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    if not failed:
        return 0
    # a wrong setting (credentials, a path) is the user's to fix, like an invalid spec
    return 2 if all(isinstance(exc, ConfigError) for exc in failed.values()) else 1


def summary(source_name: str, info: LoadInfo) -> str:
    """A few lines: the source, its dataset and load id, then rows per table."""
    total = info.timings.get("total", 0.0)
    retried = f", {info.retries} transient faults retried" if info.retries else ""
    lines = [f"{source_name} -> {info.dataset} (load {info.load_id}, {total:.2f}s{retried})"]
    width = max((len(name) for name in info.tables), default=0)
    for name, table in sorted(info.tables.items()):
        lines.append(f"  {name:<{width}}  {table.rows:>10,} rows")
    return "\n".join(lines)


class LiveProgress:
    """Rows (and rows/s, once it says something) per table on one terminal line, redrawn at most ten times a second."""

    def __init__(self, source_name: str, stream: IO[str], interval: float = 0.1) -> None:
        self.source_name = source_name
        self.stream = stream
        self.interval = interval
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.tables: dict[str, ProgressEvent] = {}
        self._drawn = 0.0
        self._width = 0
        self._lock = threading.Lock()  # events may come from the loader's worker threads

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            self.tables[event.table] = event
            now = time.monotonic()
            if self.live and now - self._drawn >= self.interval:
                self._drawn = now
                self._draw(self.line())

    def line(self) -> str:
        parts = [f"{t.table} {t.rows:,}" + (f" ({_rate(t.rows_per_second)}/s)" if t.rate_is_telling else "")
                 for t in self.tables.values()]
        return f"{self.source_name}: " + " | ".join(parts)

    def _draw(self, text: Any) -> None:
        text = str(text)[:_columns() - 1]
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        if self.live and self._width:
            self._draw("")
            self.stream.write("\r")
            self.stream.flush()


def _rate(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size((100, 20)).columns


def cmd_materialize(args: argparse.Namespace) -> int:
    """`pg-assets materialize [-f FILE] [--exclude SOURCE ...]`; exit 1 when a step or an ERROR check failed."""
    from pg_assets.dagster.materialize import materialize_project, report

    exclude = [name.strip() for item in (args.exclude or []) for name in item.split(",") if name.strip()]
    outcome = materialize_project(Path(args.file), exclude=exclude)
    print(report(outcome))
    ok = outcome.success and not outcome.checks_failed
    if not ok:
        print("error: not everything materialized cleanly (see above)", file=sys.stderr)
    return 0 if ok else 1
