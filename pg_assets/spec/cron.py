"""Check cron strings (`schedule`, `automation.on_cron`) before anything runs.

Five fields (minute hour day-of-month month day-of-week), each `*`, a number, a
range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those; months and weekdays
may be written `jan`, `mon`, and a weekday `1#2` (the second Monday). The macros
`@hourly`, `@daily`, `@weekly`, `@monthly` and `@yearly` are accepted too.

The yes or no is Dagster's when the Dagster layer is loaded (it registers its
judge with `use_judge`): Dagster's own constructors then decide, so a string that
passes here never fails the definitions (`0 0 30 2 *`, a day that never comes, is
refused). This module explains what is wrong, located by the spec reader; the
engine alone, without Dagster, uses the syntax rules above.

Examples:
    >>> cron_problem("0 6 * * mon-fri") is None
    True
    >>> cron_problem("0 25 * * *")
    'hour `25` is outside 0-23'
"""

from __future__ import annotations

import re
from collections.abc import Callable

MACROS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")

_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DAYS = "sun mon tue wed thu fri sat".split()

# field name, lowest, highest, names that stand for numbers
_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {name: i for i, name in enumerate(_DAYS)}),
)

_PART = re.compile(r"^(\*|(?P<lo>\w+)(?:-(?P<hi>\w+))?)(?:/(?P<step>\d+))?$")
_NTH_WEEKDAY = re.compile(r"^(?P<lo>\w+)#[1-5]$")  # `1#2`: the second Monday of the month

_judge: Callable[[str], bool] | None = None
NEVER_MATCHES = ("Dagster refuses it: no time ever matches it (a day the month never has, such as February 30?) "
                 "or it uses syntax Dagster does not know")


def use_judge(judge: Callable[[str], bool] | None) -> None:
    """Let `judge` (the scheduler's own parser) decide which cron strings are valid."""
    global _judge
    _judge = judge


def cron_problem(text: str) -> str | None:
    """What is wrong with a cron string, or None when it is valid."""
    ours = _syntax_problem(text)
    if _judge is None:
        return ours
    if _judge(text.strip()):
        return None
    return ours or NEVER_MATCHES


def _syntax_problem(text: str) -> str | None:
    text = text.strip()
    if text.startswith("@"):
        return None if text in MACROS else f"unknown macro `{text}`; use one of {', '.join(MACROS)}"
    fields = text.split()
    if len(fields) != 5:
        return f"a cron string has 5 fields (minute hour day month weekday), this one has {len(fields)}"
    for value, spec in zip(fields, _FIELDS):
        for part in value.split(","):
            problem = _part_problem(part, *spec)
            if problem:
                return problem
    return None


def _part_problem(part: str, name: str, low: int, high: int, names: dict[str, int]) -> str | None:
    match = (_NTH_WEEKDAY.match(part.lower()) if name == "day of week" else None) or _PART.match(part.lower())
    if not match:
        return f"{name} `{part}` is not a number, range, step or `*`"
    if match.groupdict().get("step") is not None and int(match.group("step")) == 0:
        return f"{name} step `{part}` must be at least 1"
    for bound in (match.group("lo"), match.groupdict().get("hi")):
        if bound is None:
            continue
        number = names.get(bound, int(bound) if bound.isdigit() else None)
        if number is None:
            return f"{name} `{bound}` is not a number" + (f" or a name like `{next(iter(names))}`" if names else "")
        if not low <= number <= high:
            return f"{name} `{bound}` is outside {low}-{high}"
    return None
