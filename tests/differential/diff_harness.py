"""The differential harness: the same batches loaded by dlt 1.31 and by pg_assets, then compared.

For every example of the corpus (`diff_corpus.batches`), each group of cases (one table
per disposition and strategy) is loaded into four datasets of the same server:

- `d`: dlt loads both batches, the reference;
- `p`: pg_assets loads both batches (its twin);
- `dp`: dlt loads the first batch, pg_assets the second;
- `pd`: pg_assets loads the first batch, dlt (a fresh machine, restoring from the dataset) the second.

`p`, `dp` and `pd` are each compared with `d` (`diff_snapshot.compare`). dlt runs for real
(`dlt.pipeline(..., destination=dlt.destinations.postgres(...))`, its own `pipelines_dir`), with
its replace strategy from the environment, as a dlt user sets it; pg_assets gets the same strategy
from `pipeline(replace_strategy=...)`, and both get the same `write_disposition`.
"""

from __future__ import annotations

import copy
import os
import secrets
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import hypothesis

import pg_assets
from pg_assets.connection import ConnectionConfig

import diff_corpus
from diff_snapshot import Difference, compare, snapshot

PIPELINE = "diff"
Batch = list[dict[str, Any]]
# scd2's boundary of each batch, given to both tools, so validity columns are compared exactly
BOUNDARIES = ("2024-06-01T00:00:00+00:00", "2024-07-01T00:00:00+00:00")


@dataclass(frozen=True)
class Case:
    """One table of a group: a disposition, its strategy and keys, the same in both tools."""

    table: str
    disposition: str
    strategy: str | None = None
    primary_key: tuple[str, ...] | None = None
    merge_key: tuple[str, ...] | None = None

    @property
    def random_root(self) -> bool:
        """Whether dlt draws the root rows' `_dlt_id` at random (else it hashes the key or the row)."""
        return self.strategy not in ("upsert", "insert-only", "scd2")

    def disposition_for(self, batch_no: int) -> Any:
        """The `write_disposition` of batch `batch_no`, the same for both tools: a replace strategy is
        the pipeline's (dlt's configuration, pg_assets' `replace_strategy=`), as dlt users set it."""
        if self.disposition in ("replace", "append"):
            return self.disposition
        wd: dict[str, Any] = {"disposition": "merge", "strategy": self.strategy}
        if self.strategy == "scd2":
            wd["boundary_timestamp"] = BOUNDARIES[batch_no]
        return wd


@dataclass(frozen=True)
class Group:
    """Cases loaded together: one dlt run and one pg_assets run per batch (dlt's replace strategy is global)."""

    name: str
    replace_strategy: str
    cases: tuple[Case, ...]


ID = ("id",)
GROUPS = (
    Group("main", "truncate-and-insert", (
        Case("append", "append"),
        Case("replace_truncate", "replace", primary_key=ID),
        Case("delete_insert", "merge", "delete-insert", primary_key=ID),
        Case("delete_insert_mk", "merge", "delete-insert", merge_key=("grp",)),
        Case("upsert", "merge", "upsert", primary_key=("id", "day")),
        Case("insert_only", "merge", "insert-only", primary_key=ID),
        Case("scd2", "merge", "scd2"),
        Case("scd2_mk", "merge", "scd2", merge_key=ID),
    )),
    Group("staging", "insert-from-staging", (Case("replace_staging", "replace", primary_key=ID),)),
    Group("optimized", "staging-optimized", (Case("replace_optimized", "replace", primary_key=ID),)),
)
CASES = {case.table: case for group in GROUPS for case in group.cases}
COMPARISONS = ("pg_assets", "dlt_then_pg_assets", "pg_assets_then_dlt")


def dlt_uri(config: ConnectionConfig) -> str:
    """The server as dlt's credentials want it: dlt insists on a password and a host, the embedded server
    listens on a socket folder (passed as libpq's `host` parameter) and trusts local connections."""
    if config.host.startswith("/"):
        return f"postgresql://{config.username}:unused@localhost/{config.database}?host={config.host}"
    return config.uri()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def dlt_load(group: Group, dataset: str, batch: Batch, batch_no: int, uri: str, pipelines_dir: Path) -> None:
    """One dlt 1.31 run of every case of `group` (a copy of `batch` each)."""
    resources = [dlt.resource(copy.deepcopy(batch), name=c.table, write_disposition=c.disposition_for(batch_no),
                              primary_key=list(c.primary_key or ()), merge_key=list(c.merge_key or ()))
                 for c in group.cases]
    with _environment({"DESTINATION__REPLACE_STRATEGY": group.replace_strategy,
                       "RUNTIME__DLTHUB_TELEMETRY": "false"}):
        p = dlt.pipeline(pipeline_name=PIPELINE, destination=dlt.destinations.postgres(uri), dataset_name=dataset,
                         pipelines_dir=str(pipelines_dir))
        p.run(resources)


def pg_load(group: Group, dataset: str, batch: Batch, batch_no: int, config: ConnectionConfig) -> None:
    """One pg_assets run of every case of `group` (a copy of `batch` each)."""
    resources = [pg_assets.resource(copy.deepcopy(batch), name=c.table,
                                    write_disposition=c.disposition_for(batch_no),
                                    primary_key=list(c.primary_key) if c.primary_key else None,
                                    merge_key=list(c.merge_key) if c.merge_key else None)
                 for c in group.cases]
    pg_assets.pipeline(PIPELINE, dataset=dataset, credentials=config,
                       replace_strategy=group.replace_strategy).run(resources)


@dataclass
class Outcome:
    """What one example found: the differences of each comparison, or the load that failed (`refused`:
    dlt alone failed, so the example proves nothing)."""

    differences: dict[str, list[Difference]]
    failures: list[str]
    refused: list[str] = field(default_factory=list)  # what dlt itself could not load


class Harness:
    """Loads examples into fresh datasets of one server, compares them and drops them again."""

    def __init__(self, config: ConnectionConfig, workdir: Path) -> None:
        self.config = config
        self.uri = dlt_uri(config)
        self.workdir = workdir
        self.examples = 0

    def run_example(self, batches: tuple[Batch, Batch]) -> Outcome:
        """Every group over the two batches; the datasets are dropped afterwards."""
        self.examples += 1
        outcome = Outcome({name: [] for name in COMPARISONS}, [])
        for group in GROUPS:
            prefix = f"dif_{secrets.token_hex(3)}_{group.name}"
            try:
                self._run_group(group, prefix, batches, outcome)
            finally:
                self._drop(prefix)
        return outcome

    def _run_group(self, group: Group, prefix: str, batches: tuple[Batch, Batch], outcome: Outcome) -> None:
        tools: dict[str, Callable[[str, Batch, int], None]] = {
            "dlt": lambda ds, b, n: dlt_load(group, ds, b, n, self.uri, self.workdir / f"{ds}_{n}"),
            "dlt_local": lambda ds, b, n: dlt_load(group, ds, b, n, self.uri, self.workdir / ds),
            "pg": lambda ds, b, n: pg_load(group, ds, b, n, self.config)}
        plans = {"d": ("dlt_local", "dlt_local"), "p": ("pg", "pg"), "dp": ("dlt_local", "pg"),
                 "pd": ("pg", "dlt")}
        for suffix, steps in plans.items():
            for n, (tool, batch) in enumerate(zip(steps, batches)):
                error = _attempt(lambda: tools[tool](f"{prefix}_{suffix}", batch, n))
                if error:
                    # dlt alone failing says nothing about pg_assets: the example is refused, not a finding
                    kept = outcome.refused if suffix == "d" else outcome.failures
                    kept.append(f"group `{group.name}`, dataset `{suffix}`, batch {n + 1} by {tool}: {error}")
                    return
        conn = self.config.connect()
        try:
            reference = snapshot(conn, f"{prefix}_d")
            for name, suffix in zip(COMPARISONS, ("p", "dp", "pd")):
                outcome.differences[name] += compare(reference, snapshot(conn, f"{prefix}_{suffix}"), CASES)
        finally:
            conn.close()

    def _drop(self, prefix: str) -> None:
        conn = self.config.connect()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for suffix in ("d", "p", "dp", "pd"):
                    for schema in (f"{prefix}_{suffix}", f"{prefix}_{suffix}_staging"):
                        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            conn.close()


def _attempt(load: Callable[[], None]) -> str | None:
    """None when `load` succeeds, else its error's last line (a failed load is a finding, not a crash)."""
    try:
        load()
    except Exception as exc:  # noqa: BLE001 - any failure of either tool is reported with the example
        while exc.__cause__ is not None:  # dlt wraps the failing step's error: its cause says what failed
            exc = exc.__cause__
        return "".join(traceback.format_exception_only(exc)).strip()[:2000]
    return None


@dataclass(frozen=True)
class Finding:
    """One example of the corpus and what it found."""

    batches: tuple[Batch, Batch]
    outcome: Outcome


def run_corpus(harness: Harness, examples: int, seed: int | None = None) -> list[Finding]:
    """The explicit examples, then `examples` generated ones: by a fixed seed, or derandomized (CI).

    No example stops the run: every one is loaded and compared, and its findings kept (hypothesis
    neither shrinks nor replays, so a run takes a predictable time).
    """
    findings: list[Finding] = []

    @hypothesis.settings(max_examples=max(examples, 1), derandomize=seed is None, database=None, deadline=None,
                         phases=(hypothesis.Phase.explicit, hypothesis.Phase.generate) if examples
                         else (hypothesis.Phase.explicit,),
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(diff_corpus.batches())
    @hypothesis.example(diff_corpus.EVERY_TYPE)
    def one(batches: tuple[Batch, Batch]) -> None:
        findings.append(Finding(batches, harness.run_example(batches)))

    (hypothesis.seed(seed)(one) if seed is not None else one)()
    return findings


def unexplained(findings: list[Finding], comparison: str, case: str,
                waived: Callable[[str, Difference], str | None]) -> list[tuple[Finding, list[Difference]]]:
    """Per example, the differences of one comparison and case that no waiver explains."""
    out = []
    for finding in findings:
        left = [d for d in finding.outcome.differences[comparison] if d.case == case and not waived(comparison, d)]
        if left:
            out.append((finding, left))
    return out


def report(found: list[tuple[Finding, list[Difference]]], limit: int = 40) -> str:
    """The differences as a reader wants them: per example, its batches, then table, column or key and both
    values."""
    lines = []
    for finding, differences in found:
        lines.append(f"example (batch 1, batch 2) = {_shown_batches(finding.batches)}")
        lines += [f"  {d}" for d in differences[:limit]]
        if len(differences) > limit:
            lines.append(f"  ... and {len(differences) - limit} more")
    return "\n".join(lines)


def _shown_batches(batches: tuple[Batch, Batch], width: int = 1500) -> str:
    text = repr(batches)
    return text if len(text) <= width else text[:width] + " ..."
