"""Two runs of one pipeline and dataset at once: the second waits for the first (an advisory
lock), or fails after `lock_timeout` naming the run that holds it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import pg_assets
from pg_assets import state as state_store
from pg_assets.errors import LockTimeoutError, TerminalLoadError
from pg_assets.connection import open_connection


class _Run(threading.Thread):
    """`pipeline.run(*args)` in a thread, keeping its LoadInfo or its error."""

    def __init__(self, pipeline: pg_assets.Pipeline, *args: Any) -> None:
        super().__init__(daemon=True)
        self.pipeline, self.args = pipeline, args
        self.info: pg_assets.LoadInfo | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.info = self.pipeline.run(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc


def _stalled(release: threading.Event, *ids: int) -> Callable[[], Iterator[dict[str, Any]]]:
    """Items that stop after the first one until `release` is set."""
    def items() -> Iterator[dict[str, Any]]:
        for n, i in enumerate(ids):
            if n == 1:
                assert release.wait(60)
            yield {"id": i, "ts": i}
    return items


def _events(data: Any) -> pg_assets.Resource:
    return pg_assets.resource(data, name="events", primary_key="id", incremental={"cursor_path": "ts"})


def _until(condition: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _holds_lock(query, dataset: str, name: str) -> bool:
    unsigned = tuple(k & 0xFFFFFFFF for k in state_store.lock_keys(dataset, name))
    rows = query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                 "classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 2", unsigned)
    return rows[0][0] == 1


def test_the_second_run_waits_for_the_first(dataset, query, caplog):
    release = threading.Event()
    with caplog.at_level(logging.INFO, logger="pg_assets"):
        first = _Run(pg_assets.pipeline("busy", dataset=dataset, workers=2), _events(_stalled(release, 1, 2)))
        _until(lambda: _holds_lock(query, dataset, "busy"), "the first run to take the lock")
        second = _Run(pg_assets.pipeline("busy", dataset=dataset, workers=2), _events([{"id": 2, "ts": 2},
                                                                                       {"id": 3, "ts": 3}]))
        _until(lambda: "waits up to" in caplog.text, "the second run to wait")
        time.sleep(0.3)
        assert second.is_alive() and second.info is None
        release.set()
        first.join(60)
        second.join(60)
    assert first.error is None and second.error is None
    assert f"`pg_assets:busy:{first.info.load_id}`" in caplog.text  # the wait names the holder
    # the second read the state the first committed: id 2 (at its boundary) is not loaded twice
    assert query(f'SELECT id, _dlt_load_id FROM "{dataset}".events ORDER BY id') == [
        (1, first.info.load_id), (2, first.info.load_id), (3, second.info.load_id)]
    assert query(f'SELECT load_id FROM "{dataset}"._dlt_loads ORDER BY inserted_at') == [
        (first.info.load_id,), (second.info.load_id,)]


def test_lock_timeout_names_the_run_holding_the_lock(dataset, query):
    release = threading.Event()
    first = _Run(pg_assets.pipeline("busy", dataset=dataset, workers=2), _events(_stalled(release, 1, 2)))
    try:
        _until(lambda: _holds_lock(query, dataset, "busy"), "the first run to take the lock")
        impatient = pg_assets.pipeline("busy", dataset=dataset, workers=2, lock_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as raised:
            impatient.run(_events([{"id": 9, "ts": 9}]))
        assert 0.5 <= time.monotonic() - started < 10
    finally:
        release.set()
        first.join(60)
    message = str(raised.value)
    assert f"Another run of pipeline `busy` into dataset `{dataset}` still holds the lock" in message
    assert f"`pg_assets:busy:{first.info.load_id}` (server pid" in message
    assert query(f'SELECT id FROM "{dataset}".events ORDER BY id') == [(1,), (2,)]


@pytest.mark.parametrize("other_name, other_dataset", [("other", None), ("busy", "elsewhere")],
                         ids=["other-pipeline-same-dataset", "same-pipeline-other-dataset"])
def test_other_pipelines_do_not_wait(dataset, query, other_name, other_dataset):
    release = threading.Event()
    first = _Run(pg_assets.pipeline("busy", dataset=dataset, workers=2), _events(_stalled(release, 1, 2)))
    target = f"{dataset}_{other_dataset}" if other_dataset else dataset
    try:
        _until(lambda: _holds_lock(query, dataset, "busy"), "the first run to take the lock")
        other = pg_assets.pipeline(other_name, dataset=target, workers=2, lock_timeout=1)
        other.run([{"id": 1}], table_name="other")
    finally:
        release.set()
        first.join(60)
        query(f'DROP SCHEMA IF EXISTS "{dataset}_elsewhere" CASCADE')
        query(f'DROP SCHEMA IF EXISTS "{dataset}_elsewhere_staging" CASCADE')
    assert first.error is None


def test_a_failed_run_releases_the_lock(dataset):
    def broken() -> Iterator[dict[str, Any]]:
        yield {"id": 1, "ts": 1}
        raise TerminalLoadError("source broke")

    p = pg_assets.pipeline("busy", dataset=dataset, workers=2, lock_timeout=1)
    with pytest.raises(TerminalLoadError):
        p.run(_events(broken))
    assert p.run(_events([{"id": 1, "ts": 1}])).row_counts == {"events": 1}


@pytest.mark.parametrize("keys", [(-5, -7), (-(2 ** 31), 2 ** 31 - 1), (12, -1)],
                         ids=["negative", "extremes", "mixed"])
def test_lock_holder_finds_keys_of_any_sign(pg_credentials, keys):
    holder = open_connection(pg_credentials, "pg_assets:holder:123.456")
    waiter = open_connection(pg_credentials, "pg_assets:waiter")
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", keys)
        with waiter.cursor() as cur:
            assert state_store.lock_holder(cur, keys).startswith("`pg_assets:holder:123.456` (server pid ")
            with holder.cursor() as hcur:
                hcur.execute("SELECT pg_advisory_unlock(%s, %s)", keys)
            assert state_store.lock_holder(cur, keys) == "the holder has just released it"
    finally:
        holder.close()
        waiter.close()
