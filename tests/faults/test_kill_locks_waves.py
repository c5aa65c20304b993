"""SIGKILL at random moments, locks, deadlocks and timeouts, and waves of concurrent runs under cuts."""

from __future__ import annotations

import random
import secrets
import threading
import time

import psycopg2
import pytest

import pg_assets
from fault_trials import Dataset, killed_load

KILL_SEEDS = range(4)


def _dataset(tcp_server, proxy, **options) -> Dataset:
    return Dataset(tcp_server.config, tcp_server.at(proxy.port), f"f_{secrets.token_hex(4)}", **options)


@pytest.mark.parametrize("seed", KILL_SEEDS, ids=[f"seed{s}" for s in KILL_SEEDS])
def test_a_load_killed_at_a_random_moment_leaves_before_or_after(tcp_server, proxy, seed: int) -> None:
    ds = _dataset(tcp_server, proxy)
    ds.clean_load(proxy)
    trial = killed_load(ds, random.Random(seed))
    assert trial.problems == []


def _admin_conn(tcp_server):
    conn = psycopg2.connect(**tcp_server.config.connect_kwargs())
    conn.autocommit = False
    return conn


def _wait_until_blocked(tcp_server, timeout: float = 20.0) -> None:
    """Until a pg_assets session waits on a table lock."""
    deadline = time.monotonic() + timeout
    with psycopg2.connect(**tcp_server.config.connect_kwargs()) as conn, conn.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND application_name LIKE 'pg_assets:%%'")
            if cur.fetchone()[0]:
                return
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError("the load never waited on the lock")


def test_a_lock_timeout_is_retried_until_the_lock_is_free(tcp_server, proxy) -> None:
    ds = _dataset(tcp_server, proxy)
    ds.clean_load(proxy)
    holder = _admin_conn(tcp_server)
    with holder.cursor() as cur:
        cur.execute(f'LOCK TABLE "{ds.name}".events IN ACCESS EXCLUSIVE MODE')
    threading.Timer(1.2, holder.rollback).start()
    impatient = pg_assets.connection.ConnectionConfig(
        ds.direct.database, ds.direct.username, ds.direct.password, ds.direct.host, port=ds.direct.port,
        query={"options": "-c lock_timeout=300"})
    ids = ds._take()
    info = ds.load(impatient, ids)
    holder.close()
    assert info.retries >= 1
    assert ds.check(ids) == [] and set(ids) <= ds.expected


def test_a_deadlock_in_the_commit_is_retried(tcp_server, proxy) -> None:
    """Another session locks `_dlt_loads`, then waits for `events`, which the commit holds: a cycle."""
    ds = _dataset(tcp_server, proxy)
    ds.clean_load(proxy)
    other = _admin_conn(tcp_server)
    with other.cursor() as cur:
        cur.execute(f'LOCK TABLE "{ds.name}"._dlt_loads IN EXCLUSIVE MODE')

    def close_the_cycle() -> None:
        _wait_until_blocked(tcp_server)
        with other.cursor() as cur:
            try:
                cur.execute(f'LOCK TABLE "{ds.name}".events IN ACCESS EXCLUSIVE MODE')
            except psycopg2.Error:
                pass  # the server may pick this session as the victim instead
        time.sleep(0.3)
        other.rollback()

    thread = threading.Thread(target=close_the_cycle)
    thread.start()
    ids = ds._take()
    info = ds.load(ds.direct, ids)
    thread.join()
    other.close()
    assert info.retries >= 1
    assert ds.check(ids) == [] and set(ids) <= ds.expected


def test_a_statement_timeout_fails_cleanly_and_names_it(tcp_server, proxy) -> None:
    ds = _dataset(tcp_server, proxy)
    ds.clean_load(proxy)
    holder = _admin_conn(tcp_server)
    with holder.cursor() as cur:
        cur.execute(f'LOCK TABLE "{ds.name}".events IN ACCESS EXCLUSIVE MODE')
    strict = pg_assets.connection.ConnectionConfig(
        ds.direct.database, ds.direct.username, ds.direct.password, ds.direct.host, port=ds.direct.port,
        query={"options": "-c statement_timeout=400"})
    ids = ds._take()
    with pytest.raises(pg_assets.TerminalLoadError, match="statement timeout"):
        ds.load(strict, ids)
    holder.rollback()
    holder.close()
    assert ds.check(ids) == [] and not set(ids) & ds.ids()


def test_a_wave_of_concurrent_runs_through_one_cut(tcp_server, proxy) -> None:
    """Six runs at once, every connection cut together mid-way and refused for 1 s: all finish or fail clean."""
    datasets = [_dataset(tcp_server, proxy) for _ in range(6)]
    for ds in datasets:
        ds.clean_load(proxy)
    batches = [ds._take() for ds in datasets]
    errors: list[BaseException] = []

    def run(ds: Dataset, ids: range) -> None:
        try:
            ds.load(ds.through, ids)
        except pg_assets.PgAssetsError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(datasets, batches)]
    proxy.cut_after(60_000, refuse=1.0)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert proxy.cuts >= 1
    for ds, ids in zip(datasets, batches):
        assert ds.check(ids) == []
        if not set(ids) <= ds.expected:
            ds.load(ds.direct, ids)
            ds._committed(ids)
            assert ds.check(ids) == []
    assert len(errors) <= 1, errors
