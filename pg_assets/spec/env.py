"""`${VAR}` and `${VAR:-default}` in pipelines.yaml, read from the environment.

Secrets stay out of the file: `credentials: ${PG_ASSETS_CREDENTIALS}`. `$${` writes a
literal `${`. The partition parameters (`${partition_key}`, `${partition_start}`,
`${partition_end}`) are left in place here and filled per run by the runner.

Examples:
    >>> interpolate("postgresql://${USER:-me}@localhost/db", {})[0]
    'postgresql://me@localhost/db'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

PARTITION_PARAMETERS = ("partition_key", "partition_start", "partition_end")

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(text: str, env: Mapping[str, str] | None = None) -> tuple[str, bool, list[str]]:
    """Substitute environment references in `text`.

    Returns:
        the new text, whether any variable was substituted, and the names of unset
        variables that have no default (they are replaced by an empty string).
    """
    env = os.environ if env is None else env
    used = False
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        nonlocal used
        name, default = match.group(1), match.group(2)
        if name is None:
            return "${"
        if name in PARTITION_PARAMETERS:
            return match.group(0)
        used = True
        if name in env:
            return env[name]
        if default is None:
            missing.append(name)
            return ""
        return default

    return _REFERENCE.sub(substitute, text), used, missing


def fill_partition(text: str, partition: Mapping[str, str]) -> tuple[str, list[str]]:
    """Substitute `${partition_key}` and friends; returns the text and the names not provided."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PARTITION_PARAMETERS:
            return match.group(0)
        if name in partition:
            return str(partition[name])
        missing.append(name)
        return match.group(0)

    return _REFERENCE.sub(substitute, text), missing


def partition_references(text: str) -> list[str]:
    """The partition parameters `text` refers to."""
    return [m.group(1) for m in _REFERENCE.finditer(text) if m.group(1) in PARTITION_PARAMETERS]
