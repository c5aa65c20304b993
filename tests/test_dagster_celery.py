"""Beyond one machine: the same assets on dagster-celery, Redis as broker, two workers in their own processes.

A daily-partitioned backfill of 12 partitions, one run per partition, loads into one
merge table through Celery. Afterwards every partition's rows are there exactly
once, both workers loaded some, and Dagster's pool limit held: never more than
`POOL_LIMIT` loads at once, though the workers could run four.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

Query = Callable[..., list[tuple]]
POOL_LIMIT = 2
DAYS = [f"2024-01-{day:02d}" for day in range(1, 13)]

SOURCE = '''
import os
import time


def day_rows(day):
    """Three rows of one day, stamped with the worker that loaded them and when it read them."""
    started = time.time()
    time.sleep(0.6)  # long enough for loads to overlap when nothing stops them
    finished = time.time()
    worker = os.environ["PG_ASSETS_TEST_WORKER"]
    return [{"id": f"{day}-{n}", "day": day, "worker": worker, "started": started, "finished": finished}
            for n in range(3)]
'''

SPEC = """
sources:
  feed:
    kind: python
    dataset: {dataset}
    partitions: {{type: daily, start: "2024-01-01", end: "2024-02-01"}}
    resources:
      events:
        function: "celery_feed_source:day_rows"
        args: {{day: "${{partition_key}}"}}
        write_disposition: merge
        primary_key: id
        checks: false
"""

DEFS = '''
from pathlib import Path

import dagster as dg
from dagster_celery import celery_executor

from pg_assets.dagster import definitions_from_spec

loads = definitions_from_spec(Path(__file__).parent / "pipelines.yaml")
(assets,) = loads.assets
backfill = dg.define_asset_job("backfill", selection=dg.AssetSelection.all(), executor_def=celery_executor,
                               partitions_def=assets.partitions_def)
defs = dg.Definitions.merge(loads, dg.Definitions(jobs=[backfill]))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_nobody() -> list[str]:
    """Run a server as an unprivileged user when the tests run as root (CI does)."""
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """Debian's redis-server on 127.0.0.1 and a free port, no persistence, stopped afterwards."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    data = Path(tempfile.mkdtemp(prefix="pg_assets_redis_"))  # outside pytest's root-only tmp tree
    os.chmod(data, 0o777)
    port = _free_port()
    process = subprocess.Popen([*_as_nobody(), server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", str(data), "--protected-mode", "yes"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {process.stderr.read().decode()}") from None
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=20)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def project(tmp_path: Path, dataset: str, pg_credentials: object, query: Query) -> Iterator[Path]:
    """The spec, its source, the job module, Celery's config and a DAGSTER_HOME on the embedded Postgres."""
    (tmp_path / "celery_feed_source.py").write_text(SOURCE)
    (tmp_path / "pipelines.yaml").write_text(textwrap.dedent(SPEC).format(dataset=dataset))
    (tmp_path / "celery_defs.py").write_text(DEFS)
    database = f"dagster_{dataset}"[:63]
    query(f'CREATE DATABASE "{database}"')
    home = tmp_path / "dagster_home"
    home.mkdir()
    host, port = pg_credentials.host, pg_credentials.port  # type: ignore[attr-defined]
    (home / "dagster.yaml").write_text(textwrap.dedent(f"""\
        storage:
          postgres:
            postgres_url: "postgresql+psycopg2://postgres@/{database}?host={host}&port={port}"
        concurrency:
          pools:
            default_limit: {POOL_LIMIT}
        telemetry:
          enabled: false
    """))
    yield tmp_path
    query(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _env(project: Path, redis_url: str, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "DAGSTER_HOME": str(project / "dagster_home"), "PYTHONPATH": path, **extra}


@pytest.fixture
def workers(project: Path, redis_url: str) -> Iterator[list[subprocess.Popen]]:
    """Two Celery workers, each its own process tree, taking one task at a time per slot."""
    (project / "dagster_celery_config.py").write_text(f"broker_url = {redis_url!r}\nresult_backend = {redis_url!r}\n")
    celery = str(Path(sys.executable).parent / "celery")
    started = []
    for name in ("w1", "w2"):
        log = (project / f"{name}.log").open("w")
        started.append(subprocess.Popen(
            [celery, "-A", "dagster_celery.app", "worker", "-Q", "dagster", "-c", "2", "-n", f"{name}@%h",
             "--prefetch-multiplier", "1", "-O", "fair", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "INFO"],
            cwd=project, env=_env(project, redis_url, PG_ASSETS_TEST_WORKER=name), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True))
    _wait_for_workers(project, 2)
    yield started
    for process in started:
        os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        process.wait(timeout=60)


def _wait_for_workers(project: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while sum("ready." in (project / f"w{i}.log").read_text() for i in range(1, count + 1)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the Celery workers did not start:\n" + (project / "w1.log").read_text()[-2000:])
        time.sleep(0.2)


def _run_partition(project: Path, redis_url: str, day: str) -> subprocess.CompletedProcess[str]:
    config = project / "run_config.yaml"
    config.write_text(f"execution:\n  config:\n    broker: {redis_url!r}\n    backend: {redis_url!r}\n")
    dagster = str(Path(sys.executable).parent / "dagster")
    return subprocess.run([dagster, "job", "execute", "-f", str(project / "celery_defs.py"), "-a", "defs",
                           "-j", "backfill", "-c", str(config), "--tags", f'{{"dagster/partition": "{day}"}}'],
                          cwd=project, env=_env(project, redis_url), capture_output=True, text=True, timeout=600)


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_a_daily_backfill_spreads_over_two_celery_workers_into_one_merge_table(
        project: Path, redis_url: str, workers: list[subprocess.Popen], dataset: str, query: Query) -> None:
    # The pool's limit set before the runs, as `dagster instance concurrency set` does in a deployment
    # (runs that all find it unset race to create it).
    dagster = str(Path(sys.executable).parent / "dagster")
    subprocess.run([dagster, "instance", "concurrency", "set", "pg_assets", str(POOL_LIMIT)], check=True,
                   env=_env(project, redis_url), capture_output=True, timeout=120)
    with ThreadPoolExecutor(4) as pool:  # runs submitted four at a time, as a backfill daemon would
        results = list(pool.map(lambda day: _run_partition(project, redis_url, day), DAYS))
    for result in results:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = query(f'SELECT day, count(*), count(DISTINCT id) FROM "{dataset}".events GROUP BY day ORDER BY day')
    assert rows == [(day, 3, 3) for day in DAYS]  # every partition exactly once
    assert {w for (w,) in query(f'SELECT DISTINCT worker FROM "{dataset}".events')} == {"w1", "w2"}
    intervals = query(f'SELECT DISTINCT started, finished FROM "{dataset}".events')
    assert len(intervals) == len(DAYS) and _most_at_once(intervals) <= POOL_LIMIT
