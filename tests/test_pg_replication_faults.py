"""`kind: pg_replication` under faults: runs killed at random moments and connections cut at random
bytes while the source keeps changing; after a clean run the replica equals the source, table to
table, nothing lost or applied out of order, and no slot is left but the source's own."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from replication_support import replication_server  # noqa: F401 - the module's server fixture
from replication_support import Setup, assert_same, execute, slots

sys.path.insert(0, str(Path(__file__).parent / "faults"))
from fault_proxy import FaultProxy  # noqa: E402

from pg_assets.errors import PgAssetsError  # noqa: E402
from pg_assets.runner import run_source  # noqa: E402
from pg_assets.spec import load_spec  # noqa: E402

COLUMNS = ["id", "n", "body", "tags"]
KEYS = 3000
_RUN = "import sys; from pg_assets.spec import load_spec; from pg_assets.runner import run_source; " \
       "run_source(load_spec(sys.argv[1]), 'app')"


@pytest.fixture(scope="module")
def server(replication_server: object) -> object:
    return replication_server


class Writer:
    """Random inserts, updates (some of wide TOASTed rows), deletes and key changes, in transactions
    of 1 to 30 statements, until stopped."""

    def __init__(self, setup: Setup, table: str, seed: int) -> None:
        self.setup, self.table, self.rng = setup, table, random.Random(seed)
        self.stop = threading.Event()
        self.transactions = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _statement(self) -> str:
        rng, t = self.rng, self.table
        key = rng.randrange(KEYS)
        choice = rng.random()
        if choice < 0.35:
            return (f"INSERT INTO {t} VALUES ({key}, 0, md5('{key}'), ARRAY[{key}]) ON CONFLICT (id) DO UPDATE "
                    f"SET n = {t}.n + 1")
        if choice < 0.6:
            return f"UPDATE {t} SET n = n + 1, tags = tags || {rng.randrange(100)} WHERE id = {key}"
        if choice < 0.7:
            big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300))"
            return f"UPDATE {t} SET body = {big} WHERE id = {key}"
        if choice < 0.9:
            return f"DELETE FROM {t} WHERE id = {key}"
        return f"UPDATE {t} SET id = {KEYS + rng.randrange(KEYS)} WHERE id = {key} AND NOT EXISTS " \
               f"(SELECT 1 FROM {t} WHERE id >= {KEYS})"

    def _run(self) -> None:
        while not self.stop.is_set():
            statements = [self._statement() for _ in range(self.rng.randint(1, 30))]
            execute(self.setup.source, "BEGIN", *statements, "COMMIT")
            self.transactions += 1
            time.sleep(0.01)


def _killed_run(spec_path: Path, rng: random.Random) -> bool:
    """A run killed (SIGKILL) at a random moment; True when it was still running then."""
    child = subprocess.Popen([sys.executable, "-c", _RUN, str(spec_path)], env=dict(os.environ),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.3, 3.0))
    running = child.poll() is None
    child.send_signal(signal.SIGKILL)
    child.wait()
    return running


def _cut_run(spec_path: Path, proxy: FaultProxy, rng: random.Random) -> bool:
    """A run whose connections (source and replica alike) are all cut after a random number of bytes;
    True when the cut failed it."""
    proxy.cut_after(rng.randrange(500, 400_000))
    try:
        run_source(load_spec(spec_path), "app")
        return False
    except PgAssetsError:
        return True  # the fault surfaced as pg_assets' own error; the next run repairs
    finally:
        proxy.disarm()


def test_kills_and_cuts_lose_and_double_nothing(server: object, tmp_path: Path) -> None:
    seed = int(os.environ.get("PG_ASSETS_FAULT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    proxy = FaultProxy(server.port)  # type: ignore[attr-defined]
    try:
        direct = Setup(server, "r_faults", tmp_path / "direct")  # type: ignore[arg-type]
        cut = Setup(server, "r_faults", tmp_path / "cut", proxy.port)  # type: ignore[arg-type]
        for s in (direct, cut):
            s.folder.mkdir()
        table = "public.r_faults_orders"
        execute(direct.source, f"CREATE TABLE {table} (id int PRIMARY KEY, n int, body text, tags int[])",
                f"INSERT INTO {table} SELECT g, 0, md5(g::text), ARRAY[g] FROM generate_series(0, {KEYS - 1}, 2) g")
        direct_spec, cut_spec = direct.write_spec([table]), cut.write_spec([table])
        writer = Writer(direct, table, seed)
        writer.thread.start()
        faults = {"killed": 0, "cut": 0}
        try:
            for trial in range(14):
                if trial % 2 == 0:
                    faults["killed"] += _killed_run(direct_spec, rng)
                else:
                    faults["cut"] += _cut_run(cut_spec, proxy, rng)
        finally:
            writer.stop.set()
            writer.thread.join()
        assert writer.transactions > 50, f"seed {seed}: the writer hardly wrote"
        assert faults["killed"] >= 3 and faults["cut"] >= 2, f"seed {seed}: too few faults fired: {faults}"
        for _ in range(3):
            run_source(load_spec(direct_spec), "app")
        rows = assert_same(direct, table, "r_faults.r_faults_orders", COLUMNS, "id")
        assert rows > 100, f"seed {seed}"
        assert slots(direct.source) == ["r_faults"], f"seed {seed}"
    finally:
        proxy.close()
