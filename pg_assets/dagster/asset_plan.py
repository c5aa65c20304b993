"""What a multi-asset loads, fixed at definition time and read at run time.

A `LoadPlan` is the hand-over from the factory (definition time) to the resource
(run time): the spec, the source, and for every asset the spec resource it loads,
its table and its checks. It lives in the asset's closure, never in metadata, so
nothing of it (credentials included) is serialised into the definitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from pg_assets.dagster.checks import CheckPlan


@dataclass(frozen=True)
class AssetPlan:
    """One table of a source as one asset."""

    key: dg.AssetKey
    resource: str
    dataset: str
    table: str
    disposition: str
    strategy: str | None
    checks: tuple[CheckPlan, ...] = ()

    def check_key(self, check: CheckPlan) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(self.key, check.name)


@dataclass(frozen=True)
class LoadPlan:
    """The assets of one multi-asset: resources of one source sharing one partitioning."""

    spec: Any
    source: str
    assets: tuple[AssetPlan, ...]
    partitioned: bool = False

    def selected(self, keys: Iterable[dg.AssetKey]) -> list[AssetPlan]:
        """The plans of the selected asset keys, in spec order."""
        wanted = set(keys)
        return [a for a in self.assets if a.key in wanted]

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(a.table for a in self.assets)
