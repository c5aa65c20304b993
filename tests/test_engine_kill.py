"""A load killed with SIGKILL at any moment leaves every final table as it was (or fully loaded)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

LOADER = textwrap.dedent("""
    import sys, pg_assets
    dataset, n, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    def items(tag):
        for i in range(n):
            yield {"id": i, "tag": tag, "pad": "x" * 80, "kids": [{"k": i}]}

    p = pg_assets.pipeline("killme", dataset=dataset, batch_bytes=64 << 10, workers=4)
    print("start", flush=True)
    p.run([pg_assets.resource(items(marker), name="snap", write_disposition="replace"),
           pg_assets.resource(items(marker), name="log", write_disposition="append")])
    print("done", flush=True)
""")


def _load(dataset: str, n: int, marker: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", LOADER, dataset, str(n), marker], stdout=subprocess.PIPE,
                            text=True, env=os.environ.copy())


def _snapshot(query, dataset: str) -> tuple:
    snap = query(f'SELECT tag, count(*) FROM "{dataset}".snap GROUP BY tag')
    log = query(f'SELECT tag, count(*) FROM "{dataset}".log GROUP BY tag ORDER BY tag')
    kids = query(f'SELECT count(*) FROM "{dataset}".snap__kids')
    loads = query(f'SELECT count(*) FROM "{dataset}"._dlt_loads')
    return snap, log, kids, loads


@pytest.mark.parametrize("delay", [0.4, 1.0, 2.0], ids=["early", "middle", "late"])
def test_sigkill_leaves_tables_as_before(delay: float, dataset: str, query) -> None:
    first = _load(dataset, 1000, "old")
    assert first.wait(60) == 0
    before = _snapshot(query, dataset)
    assert before == ([("old", 1000)], [("old", 1000)], [(1000,)], [(1,)])

    victim = _load(dataset, 40_000, "new")
    assert victim.stdout.readline().strip() == "start"
    time.sleep(delay)
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)

    after = _snapshot(query, dataset)
    completed = ([("new", 40_000)], [("new", 40_000), ("old", 1000)], [(40_000,)], [(2,)])
    assert after in (before, completed), after

    rerun = _load(dataset, 500, "again")
    assert rerun.wait(120) == 0
    snap, log, kids, loads = _snapshot(query, dataset)
    assert snap == [("again", 500)] and kids == [(500,)]
    assert dict(log)["again"] == 500 and dict(log)["old"] == 1000
    assert query(f'SELECT count(*) - count(DISTINCT _dlt_id) FROM "{dataset}".log') == [(0,)]
    staging_left = query("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (f"{dataset}_staging",))
    assert staging_left == [(0,)]
