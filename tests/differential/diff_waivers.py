"""Differences from dlt 1.31 the harness still finds, each waived by a named flag until it is fixed.

A waived difference is still looked for: `test_every_waiver_is_still_needed` fails the moment
the corpus no longer shows it. Then delete the flag, and the harness checks that aspect like
every other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from diff_snapshot import Difference


@dataclass(frozen=True)
class Waiver:
    """What one flag hides, and the part of dlt's behaviour it is about."""

    item: str
    reason: str
    explains: Callable[[str, Difference], bool]  # (comparison, difference) -> hidden by this flag


WAIVERS: dict[str, Waiver] = {}  # every difference the corpus found is fixed

# Kept out of the corpus instead (`diff_corpus`), each a difference found and left open:
# - a float inf or -inf in a dict item: dlt stores NULL (and makes no column of such values alone),
#   pg_assets stores `Infinity` / `-Infinity` (and makes a `double precision` column);
# - `b""`: dlt stores the text "\uf02b" (its typed-JSON marker, read back as text), pg_assets an empty value;
# - text that starts with one of dlt's typed-JSON markers (U+F026..U+F02D): dlt may read it back as another type;

# Delete a name here once its difference is fixed: the harness then checks that aspect too.
WAIVED: frozenset[str] = frozenset(WAIVERS)


def waiver_of(comparison: str, difference: Difference) -> str | None:
    """The waived flag that explains `difference`, None when it is a real finding."""
    return next((flag for flag in sorted(WAIVED) if WAIVERS[flag].explains(comparison, difference)), None)
