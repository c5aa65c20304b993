"""The rows of the `events` source in pipelines.yaml: replace them with your own.

A python source is any function that returns or yields dicts (or lists of dicts, Arrow
tables, pandas or polars DataFrames). A parameter named `incremental` receives the
resource's cursor, bound to what the last committed load stored, so the function can
skip what is already loaded.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

FIRST_DAY = date(2024, 3, 1)
PAGES = ("/", "/search", "/cart", "/checkout", "/books/1", "/books/3", "/lamps/7")


def page_views(days: int = 3, per_day: int = 20, incremental: Any = None) -> Iterator[list[dict[str, Any]]]:
    """`per_day` page views for each of `days` days from `FIRST_DAY`, the same on every run."""
    start = str(getattr(incremental, "start_value", None) or "")
    for offset in range(days):
        day = FIRST_DAY + timedelta(days=offset)
        if start and (day + timedelta(days=1)).isoformat() <= start[:10]:
            continue  # every view of this day was loaded before
        rng = random.Random(day.toordinal())
        midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        yield [
            {
                "id": offset * per_day + n + 1,
                "viewed_at": (midnight + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "url": rng.choice(PAGES),
                "device": {"type": rng.choice(("desktop", "mobile")), "os": rng.choice(("linux", "ios"))},
            }
            for n, s in enumerate(sorted(rng.randrange(86_400) for _ in range(per_day)))
        ]
