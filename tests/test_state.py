"""Pipeline state in the destination: encoding, the same-transaction write, restore in a new
process, killed and failed loads, and the `pg-assets state` command."""

from __future__ import annotations

import base64
import json
import os
import pty
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

import pg_assets
from pg_assets import state as state_store
from pg_assets.cli import main as cli
from pg_assets.errors import ConfigError

# ---- encoding, hashing, versions ---------------------------------------------------------------------


def _sample() -> dict[str, Any]:
    state = state_store.new_state("p", "ds")
    state["sources"] = {"p": {"resources": {"a": {"incremental": {"ts": {"last_value": 3}}}, "b": {"x": 1}}}}
    return state


def test_state_is_encoded_as_dlt_encodes_it():
    state = {**_sample(), "_local": {"machine": "only"}}
    text = state_store.encode_state(state)
    assert text.startswith("eNp") and text.isascii()
    decoded = json.loads(zlib.decompress(base64.b64decode(text)))
    assert decoded == {k: v for k, v in state.items() if k != "_local"}
    assert state_store.decode_state(text) == decoded


def test_plain_json_state_is_read_too():
    assert state_store.decode_state('{"sources": {}}') == {"sources": {}}


def test_version_hash_covers_content_not_versions():
    state = _sample()
    digest = state_store.state_hash(state)
    assert state_store.state_hash({**state, "_state_version": 9, "_version_hash": "x", "_local": {}}) == digest
    state["sources"]["p"]["resources"]["a"]["incremental"]["ts"]["last_value"] = 4
    assert state_store.state_hash(state) != digest


def test_bump_moves_the_version_only_when_content_changed():
    state = _sample()
    assert state_store.bump(state, None) and state["_state_version"] == 1
    assert not state_store.bump(state, state["_version_hash"]) and state["_state_version"] == 1
    state["sources"]["p"]["resources"]["b"]["x"] = 2
    assert state_store.bump(state, "stale") and state["_state_version"] == 2


@pytest.mark.parametrize("resource, reset, left", [
    (None, ["a", "b"], []),
    ("a", ["a"], ["b"]),
], ids=["all", "one"])
def test_reset_resources(resource, reset, left):
    state = _sample()
    assert state_store.reset_resources(state, resource) == reset
    assert [name for _, name in state_store.resources_with_state(state)] == left


def test_reset_of_an_unknown_resource_suggests_one():
    with pytest.raises(ConfigError, match=r"no stored state for resource `aa`.*Did you mean `a`\?"):
        state_store.reset_resources(_sample(), "aa")


@pytest.mark.parametrize("dataset, name", [("ds", "p"), ("raw_shop", "shop"), ("x" * 63, "y" * 200)])
def test_lock_keys_fit_int4(dataset, name):
    assert all(-(2 ** 31) <= k < 2 ** 31 for k in state_store.lock_keys(dataset, name))


# ---- state in the destination ----------------------------------------------------------------------


def _pipeline(dataset: str, name: str = "stateful") -> pg_assets.Pipeline:
    return pg_assets.pipeline(name, dataset=dataset, workers=2)


def _cursor(p: pg_assets.Pipeline, resource: str = "events") -> Any:
    state = p.state()
    return state["sources"][p.name]["resources"][resource]["incremental"]["ts"]["last_value"]


def _load(p: pg_assets.Pipeline, *ts: int) -> pg_assets.LoadInfo:
    return p.run([{"id": t, "ts": t} for t in ts], table_name="events", primary_key="id",
                 incremental={"cursor_path": "ts"})


def test_state_is_committed_with_the_load(dataset, query):
    p = _pipeline(dataset)
    info = _load(p, 1, 2)
    rows = query(f'SELECT s.version, s.state, s.version_hash, s.engine_version, l.status FROM "{dataset}".'
                 f'_dlt_pipeline_state AS s JOIN "{dataset}"._dlt_loads AS l ON l.load_id = s._dlt_load_id '
                 f"WHERE s._dlt_load_id = %s", (info.load_id,))
    assert len(rows) == 1
    version, text, version_hash, engine, status = rows[0]
    decoded = state_store.decode_state(text)
    assert (version, engine, status) == (1, 4, 0)
    assert decoded == p.state() and decoded["_version_hash"] == version_hash
    assert decoded["pipeline_name"] == "stateful" and decoded["dataset_name"] == dataset


@pytest.mark.parametrize("load_row", [None, 1], ids=["no-loads-row", "failed-status"])
def test_state_of_an_unfinished_load_is_never_read(dataset, query, load_row):
    p = _pipeline(dataset)
    _load(p, 1)
    newer = state_store.clone(p.state())
    newer["sources"]["stateful"]["resources"]["events"]["incremental"]["ts"]["last_value"] = 99
    state_store.bump(newer, None)
    query(state_store.insert_state_sql(dataset, newer, "9999999999.000000", "2030-01-01T00:00:00+00:00"))
    if load_row is not None:
        query(f'INSERT INTO "{dataset}"._dlt_loads (load_id, schema_name, status, inserted_at) '
              "VALUES ('9999999999.000000', 'stateful', %s, now())", (load_row,))
    assert _cursor(p) == 1
    _load(p, 2)
    assert _cursor(p) == 2


def test_state_of_another_pipeline_in_the_same_dataset_is_its_own(dataset):
    first, second = _pipeline(dataset, "first"), _pipeline(dataset, "second")
    _load(first, 5)
    assert second.state() is None
    second.run([{"id": 1, "ts": 1}], table_name="other", incremental={"cursor_path": "ts"})
    assert _cursor(first) == 5 and second.state()["pipeline_name"] == "second"


# ---- a new process, a killed process -----------------------------------------------------------------

RUNNER = textwrap.dedent("""
    import json, sys, time, pg_assets
    dataset, first, last, stall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "stall"

    def events():
        for i in range(first, last + 1):
            yield {"id": i, "ts": i, "pad": "x" * 200}
            if stall and i == last:
                print("staged", flush=True)
                time.sleep(120)  # killed here, mid-stream, with batches already staged

    p = pg_assets.pipeline("stateful", dataset=dataset, workers=2, batch_bytes=16 << 10)
    info = p.run(pg_assets.resource(events, name="events", primary_key="id", incremental={"cursor_path": "ts"}))
    print(json.dumps(info.row_counts), flush=True)
""")


def _process(dataset: str, first: int, last: int, *, stall: bool = False, cwd: Path | None = None
             ) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUNNER, dataset, str(first), str(last),
                             "stall" if stall else "go"], stdout=subprocess.PIPE, text=True, cwd=cwd,
                            env=os.environ.copy())


def _finish(proc: subprocess.Popen) -> dict[str, int]:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


def test_a_new_process_resumes_from_the_stored_cursor(dataset, query, tmp_path):
    """Nothing local is needed: a fresh process in an empty folder reads the state from Postgres."""
    assert _finish(_process(dataset, 1, 10)) == {"events": 10}
    fresh = tmp_path / "new_worker"
    fresh.mkdir()
    assert _finish(_process(dataset, 5, 15, cwd=fresh)) == {"events": 5}  # 10 is the boundary: 11..15
    assert query(f'SELECT count(*), count(DISTINCT id), max(id) FROM "{dataset}".events') == [(15, 15, 15)]
    assert list(fresh.iterdir()) == []


def test_state_of_a_killed_load_is_ignored(dataset, query):
    assert _finish(_process(dataset, 1, 10)) == {"events": 10}
    victim = _process(dataset, 11, 2000, stall=True)
    assert victim.stdout.readline().strip() == "staged"
    staged = query("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (f"{dataset}_staging",))
    assert staged[0][0] >= 1
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)

    p = _pipeline(dataset)
    assert _cursor(p) == 10
    assert query(f'SELECT count(*), max(id) FROM "{dataset}".events') == [(10, 10)]
    assert query(f'SELECT count(*) FROM "{dataset}"._dlt_loads') == [(1,)]
    assert _finish(_process(dataset, 1, 2000)) == {"events": 1990}
    assert query(f'SELECT count(*), count(DISTINCT id) FROM "{dataset}".events') == [(2000, 2000)]
    assert _cursor(p) == 2000


# ---- pg-assets state show / reset ---------------------------------------------------------------------


@pytest.fixture
def loaded(dataset) -> pg_assets.Pipeline:
    """A pipeline `feed` with cursors on two resources."""
    p = _pipeline(dataset, "feed")
    p.run([pg_assets.resource([{"id": 1, "ts": 5}], name="events", incremental={"cursor_path": "ts"}),
           pg_assets.resource([{"id": 1, "ts": 7}], name="clicks", incremental={"cursor_path": "ts"})])
    return p


def _spec(tmp_path: Path, dataset: str) -> Path:
    (tmp_path / "feed_module.py").write_text("def events():\n    return []\n")
    spec = tmp_path / "pipelines.yaml"
    spec.write_text(textwrap.dedent(f"""
        sources:
          feed:
            kind: python
            dataset: {dataset}
            resources:
              events: {{function: "feed_module:events"}}
    """))
    return spec


def test_show_prints_the_decoded_state(loaded, capsys):
    assert cli(["state", "show", "feed", "--dataset", loaded.dataset, "-f", "/nonexistent.yaml"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == loaded.state()
    assert shown["sources"]["feed"]["resources"]["clicks"]["incremental"]["ts"]["last_value"] == 7


def test_show_finds_the_dataset_in_the_spec(loaded, tmp_path, capsys):
    assert cli(["state", "show", "feed", "-f", str(_spec(tmp_path, loaded.dataset))]) == 0
    assert json.loads(capsys.readouterr().out)["dataset_name"] == loaded.dataset


def test_show_without_state_says_so(dataset, capsys):
    assert cli(["state", "show", "feed", "--dataset", dataset, "-f", "/nonexistent.yaml"]) == 1
    assert f"No committed state for pipeline `feed` in dataset `{dataset}`" in capsys.readouterr().err


def test_show_of_a_pipeline_the_spec_lacks(loaded, tmp_path, capsys):
    assert cli(["state", "show", "nope", "-f", str(_spec(tmp_path, loaded.dataset))]) == 2
    assert "has no source `nope` (sources: `feed`)" in capsys.readouterr().err


@pytest.mark.parametrize("resource, left", [(None, []), ("clicks", ["events"])], ids=["all", "one"])
def test_reset_with_yes(loaded, query, resource, left, capsys):
    args = ["state", "reset", "feed", "--dataset", loaded.dataset, "-f", "/nonexistent.yaml", "--yes"]
    before = loaded.state()["_state_version"]
    assert cli(args + (["--resource", resource] if resource else [])) == 0
    state = loaded.state()
    assert sorted(state["sources"]["feed"]["resources"]) == left
    assert state["_state_version"] == before + 1
    assert "Reset `clicks`" in capsys.readouterr().out
    # the reset is committed like a load: its state row has a completed `_dlt_loads` row
    assert query(f'SELECT count(*) FROM "{loaded.dataset}"._dlt_pipeline_state s JOIN "{loaded.dataset}".'
                 f"_dlt_loads l ON l.load_id = s._dlt_load_id AND l.status = 0") == [(2,)]
    # the next load starts over
    loaded.run([pg_assets.resource([{"id": 2, "ts": 1}], name="clicks", incremental={"cursor_path": "ts"})])
    assert loaded.state()["sources"]["feed"]["resources"]["clicks"]["incremental"]["ts"]["last_value"] == 1


def test_reset_of_an_unknown_resource_changes_nothing(loaded, capsys):
    before = loaded.state()
    args = ["state", "reset", "feed", "--dataset", loaded.dataset, "-f", "/nonexistent.yaml", "--yes",
            "--resource", "click"]
    assert cli(args) == 2
    assert "Did you mean `clicks`?" in capsys.readouterr().err
    assert loaded.state() == before


def test_reset_refuses_without_yes_when_stdin_is_no_terminal(loaded, capsys):
    before = loaded.state()
    proc = subprocess.run([sys.executable, "-m", "pg_assets.cli", "state", "reset", "feed", "--dataset",
                           loaded.dataset, "-f", "/nonexistent.yaml"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert proc.returncode == 2
    assert "stdin is not a terminal; add `--yes`" in proc.stderr
    assert loaded.state() == before


@pytest.mark.parametrize("answer, code, reset", [("y", 0, True), ("n", 1, False), ("", 1, False)],
                         ids=["yes", "no", "enter"])
def test_reset_asks_on_a_terminal(loaded, answer, code, reset):
    before = loaded.state()
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pg_assets.cli", "state", "reset", "feed", "--dataset",
                             loaded.dataset, "-f", "/nonexistent.yaml"], stdin=terminal, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    os.close(terminal)
    try:
        prompt = _read_until(proc, "[y/N] ")
        assert "Reset the cursors and saved state of `clicks`, `events` of pipeline `feed`" in prompt
        os.write(controller, f"{answer}\n".encode())
        assert proc.wait(60) == code
    finally:
        os.close(controller)
        proc.kill()
    assert (loaded.state() != before) is reset


def _read_until(proc: subprocess.Popen, end: str) -> str:
    text = ""
    deadline = time.monotonic() + 60
    while not text.endswith(end) and time.monotonic() < deadline:
        char = proc.stdout.read(1)
        if not char:
            break
        text += char
    return text
