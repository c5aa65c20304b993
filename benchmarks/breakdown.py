"""Where a load's time went, from what the engine already measures.

`LoadInfo.timings` splits a load into `extract_normalize_load` (reading, normalising, encoding and the COPY
of each batch, overlapped: batches are staged by worker threads while the next is encoded) and `commit` (the
one transaction: final DDL, the disposition's statements, index builds, state, `COMMIT`). The columnar paths
also spend a measurable, separate part of the stream on the client encode: casting each Arrow column to its
wire type (`arrow_wire.wire_array`) and pgpq's binary COPY encoding (`arrow_wire.copy_payload`).
`EncodeClock` times those two calls while a load runs in a benchmark's own process (it changes nothing they
do, it only adds up their wall time), so the breakdown is:

    client encode   wire_array + copy_payload, on the thread that reads the data
    read + COPY     the rest of the stream: reading the input, normalising, and waiting on the COPY
    commit          the transaction's end; with `create_indexes: true` this is where indexes are built
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class EncodeClock:
    """Adds up the wall time of the columnar path's two client-side encoding calls while active."""

    NAMES = ("wire_array", "copy_payload")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._saved: dict[str, Callable[..., Any]] = {}

    def _timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            self.calls += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
        return run

    def __enter__(self) -> EncodeClock:
        from pg_assets.normalize import arrow_wire

        for name in self.NAMES:
            self._saved[name] = getattr(arrow_wire, name)
            setattr(arrow_wire, name, self._timed(self._saved[name]))
        return self

    def __exit__(self, *exc: object) -> None:
        from pg_assets.normalize import arrow_wire

        for name, fn in self._saved.items():
            setattr(arrow_wire, name, fn)


def phases(outcome: Any, clock: EncodeClock | None, seconds: float) -> dict[str, float]:
    """Seconds per phase of one load: from its `LoadInfo`, with the client encode when it was timed.

    A baseline that is not a pg_assets load (an int row count) has one phase, the whole of it."""
    timings = getattr(outcome, "timings", None)
    if not timings:
        return {"whole": seconds}
    stream, commit = timings["extract_normalize_load"], timings["commit"]
    if clock is None or not clock.calls:  # a dict path encodes value by value inside the stream: not apart
        out = {"stream (read, encode, COPY)": stream, "commit": commit}
    else:
        out = {"client encode": clock.seconds, "read + COPY": max(stream - clock.seconds, 0.0), "commit": commit}
    out["setup"] = max(seconds - stream - commit, 0.0)  # dropping the old schema, connecting, reading the catalog
    return out


def format_phases(name: str, parts: dict[str, float]) -> str:
    """One line: each phase's seconds and its share of the whole."""
    total = sum(parts.values()) or 1.0
    return f"  {name:<15}" + "  ".join(f"{k} {v:.2f}s ({v / total:.0%})" for k, v in parts.items())
