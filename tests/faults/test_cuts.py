"""Connection cuts at random bytes in each phase of a load, with and without refused connections after.

Each trial must end in the before-state or the after-state (see `fault_trials.py`), and most
must finish: the retries outlast a cut followed by up to 2 s of refusal.
"""

from __future__ import annotations

import random
import secrets

import pytest

from fault_trials import Dataset

PHASES = ("plan", "staging", "commit")
SEEDS = range(4)


@pytest.fixture
def dataset(tcp_server, proxy) -> Dataset:
    return Dataset(tcp_server.config, tcp_server.at(proxy.port), f"f_{secrets.token_hex(4)}")


@pytest.mark.parametrize("refuse", [0.0, 1.5], ids=["cut", "cut_then_refuse_1.5s"])
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
@pytest.mark.parametrize("phase", PHASES)
def test_a_cut_in_each_phase_is_retried_to_success(dataset: Dataset, proxy, phase: str, seed: int,
                                                    refuse: float) -> None:
    trial = dataset.faulted_load(proxy, random.Random(f"{phase}-{seed}-{refuse}"), refuse=refuse, phase=phase)
    assert trial.problems == []
    assert trial.ok, trial.error
    assert proxy.cuts >= 1
    assert trial.retries >= 1 or trial.phase != phase  # a cut between statements may go unnoticed


@pytest.mark.parametrize("file_format", ["insert_values", "copy"])
def test_a_lost_commit_reply_neither_loses_nor_doubles_the_load(tcp_server, proxy, file_format: str) -> None:
    ds = Dataset(tcp_server.config, tcp_server.at(proxy.port), f"f_{secrets.token_hex(4)}", file_format=file_format)
    ds.clean_load(proxy)
    ids = ds._take()
    proxy.drop_commit_reply()
    info = ds.load(ds.through, ids)
    assert info.retries >= 1
    assert ds.check(ids) == []
    assert ds.ids() == ds.expected and set(ids) <= ds.expected


def test_refused_connections_at_the_start_are_waited_out(dataset: Dataset, proxy) -> None:
    proxy.refuse_for(1.5)
    ids = dataset._take()
    info = dataset.load(dataset.through, ids)
    assert info.retries >= 1
    assert dataset.check(ids) == [] and dataset.ids() == set(ids)


def test_a_wrong_password_is_not_retried(tcp_server, proxy) -> None:
    import dataclasses
    import time

    import pg_assets

    config = dataclasses.replace(tcp_server.at(proxy.port), password="not-it")
    started = time.monotonic()
    with pytest.raises(pg_assets.CredentialsError, match="the `password` or `username` is wrong"):
        pg_assets.pipeline("faulty", dataset="f_wrong_pw", credentials=config).run([{"id": 1}], table_name="t")
    assert time.monotonic() - started < 2
