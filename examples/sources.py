"""Python-kind sources for the repository's pipelines.yaml.

A python source is any function returning or yielding dicts (or pages of dicts).
Declaring a parameter named `incremental` gives it the resource's cursor, bound to
what the last committed load stored, so it can skip what is already loaded.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

FIRST_DAY = date(2024, 4, 28)
CUSTOMERS = 200
PAGES = ("/", "/search", "/cart", "/checkout", "/account") + tuple(f"/products/SKU-{n:03d}" for n in range(1, 51))
REFERRERS = ("https://www.google.com/", "https://duckduckgo.com/", "https://news.ycombinator.com/",
             "https://www.instagram.com/")
DEVICES = (("desktop", "windows"), ("desktop", "macos"), ("desktop", "linux"),
           ("mobile", "ios"), ("mobile", "android"), ("tablet", "ipados"))


def page_views(days: int = 3, per_day: int = 150, incremental: Any = None) -> Iterator[list[dict[str, Any]]]:
    """Page views of the shop, one page of items per day, the same every time.

    Args:
        days: how many days from `FIRST_DAY` to produce.
        per_day: views per day.
        incremental: the `viewed_at` cursor; days that end before it are not produced.

    Examples:
        >>> first_day = next(page_views(days=1, per_day=2))
        >>> [view["id"] for view in first_day]
        [1, 2]
    """
    start = getattr(incremental, "start_value", None)
    for offset in range(days):
        day = FIRST_DAY + timedelta(days=offset)
        if start and (day + timedelta(days=1)).isoformat() <= str(start)[:10]:
            continue  # every view of this day is older than the stored cursor
        yield _views_of(day, offset, per_day)


def _views_of(day: date, offset: int, per_day: int) -> list[dict[str, Any]]:
    rng = random.Random(day.toordinal())
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    seconds = sorted(rng.randrange(86_400) for _ in range(per_day))
    return [_view(rng, offset * per_day + n + 1, midnight + timedelta(seconds=s)) for n, s in enumerate(seconds)]


def _view(rng: random.Random, view_id: int, at: datetime) -> dict[str, Any]:
    device, os_name = rng.choice(DEVICES)
    return {
        "id": view_id,
        "customer_id": rng.randint(1, CUSTOMERS),
        "url": "https://shop.example.com" + rng.choice(PAGES),
        "viewed_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "referrer": rng.choice(REFERRERS) if rng.random() < 0.6 else None,
        "device": {"type": device, "os": os_name},
    }


def page_views_of_day(day: str, per_day: int = 150) -> list[dict[str, Any]]:
    """The page views of one day, each tagged with its `day`: a source for daily partitions.

    Examples:
        >>> views = page_views_of_day("2024-04-28", per_day=2)
        >>> [(v["id"], v["day"]) for v in views]
        [(1, '2024-04-28'), (2, '2024-04-28')]
    """
    first = date.fromisoformat(str(day)[:10])
    offset = (first - FIRST_DAY).days
    return [{**view, "day": first.isoformat()} for view in _views_of(first, offset, per_day)]
