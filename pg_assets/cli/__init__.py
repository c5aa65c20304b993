"""The `pg-assets` command line.

`parser.py` builds the argument parser; each command group has its module here
(`validate`, `run`, `state`, `discover`, `dbt`, `embedded`) whose functions drive the
engine. This module runs the chosen one and turns every failure into a clear message
and an exit status:

- 2: the input is wrong (`ConfigError`: the spec, the credentials);
- 1: a load or a step failed (any other `PgAssetsError`), or an unexpected error, which
  is named in one line with where it was raised;
- 130: interrupted.

No traceback is printed unless `--traceback` asks for one. Every message goes through
`mask_secrets` first, so no password reaches the terminal whatever its form.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

from pg_assets.cli.parser import build_parser
from pg_assets.errors import ConfigError, PgAssetsError, user_code_location
from pg_assets.masking import mask_secrets

__all__ = ["build_parser", "main"]


# `pg-assets embedded psql ARG...` hands every ARG to psql, options too (`-c`, `-A`), unparsed
_PASSTHROUGH = ["embedded", "psql"]


def _split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """The arguments pg-assets parses, and those after `embedded psql`, which go to psql as they are."""
    for i in range(len(argv) - 1):
        if argv[i:i + 2] == _PASSTHROUGH and all(a.startswith("-") for a in argv[:i]):
            return argv[:i + 2], argv[i + 2:]
        if not argv[i].startswith("-"):
            break
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pg-assets` console script."""
    ours, passthrough = _split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(ours)
    args.psql_args = passthrough
    try:
        return int(args.handler(args) or 0)
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
