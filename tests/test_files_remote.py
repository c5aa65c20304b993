"""`kind: files` from object storage: a real S3 protocol server (moto's) on 127.0.0.1, read through s3fs.

The fixture starts moto's standalone server on a free port for the module and stops it
after; files are written to it with s3fs, and pg_assets reads them back the same way
a user's bucket is read. Nothing is mocked in the client.
"""

from __future__ import annotations

import io
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
from moto.server import ThreadedMotoServer

from pg_assets import runner
from pg_assets.errors import ConfigError
from pg_assets.spec import load_spec

KEY, SECRET = "testing-key-id", "s3cr3t-value-never-shown"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port), stopped after the module."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, s3fs.S3FileSystem]]:
    fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, endpoint_url=s3_endpoint,
                           client_kwargs={"region_name": "eu-west-1"})
    name = "b-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    fs.mkdir(name)
    yield name, fs
    fs.rm(name, recursive=True)


def _spec(tmp_path: Path, dataset: str, resource_yaml: str) -> Any:
    (tmp_path / "pipelines.yaml").write_text(
        f"sources:\n  s:\n    kind: files\n    dataset: {dataset}\n    defaults:\n"
        "      storage_options: {endpoint_url: '${TEST_S3_ENDPOINT}', key: '${TEST_S3_KEY}',"
        " secret: '${TEST_S3_SECRET}', client_kwargs: {region_name: eu-west-1}}\n"
        "    resources:\n" + textwrap.indent(textwrap.dedent(resource_yaml), "      "))
    return load_spec(tmp_path / "pipelines.yaml")


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> str:
    monkeypatch.setenv("TEST_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("TEST_S3_KEY", KEY)
    monkeypatch.setenv("TEST_S3_SECRET", SECRET)
    return s3_endpoint


def _put_parquet(fs: s3fs.S3FileSystem, path: str, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    fs.pipe(path, sink.getvalue())


def test_csv_and_parquet_from_s3_with_a_glob(tmp_path: Path, dataset: str, query, bucket, s3_env) -> None:
    name, fs = bucket
    fs.pipe(f"{name}/in/a.csv", b"id,zip\n1,007\n2,123\n")
    _put_parquet(fs, f"{name}/pq/p1.parquet", pa.table({"id": [1, 2], "v": ["x", "y"]}))
    _put_parquet(fs, f"{name}/pq/p2.parquet", pa.table({"id": [3], "v": ["z"]}))
    spec = _spec(tmp_path, dataset, f'csv: {{path: "s3://{name}/in/*.csv"}}\n'
                                    f'pq: {{path: "s3://{name}/pq/*.parquet"}}\n')
    runner.run_source(spec, "s")
    assert query(f'SELECT id, zip FROM "{dataset}".csv ORDER BY id') == [(1, "007"), (2, "123")]
    assert query(f'SELECT id, v FROM "{dataset}".pq ORDER BY id') == [(1, "x"), (2, "y"), (3, "z")]


def test_incremental_skips_unchanged_objects_by_etag(tmp_path: Path, dataset: str, query, bucket, s3_env) -> None:
    name, fs = bucket
    fs.pipe(f"{name}/in/1.csv", b"id\n1\n")
    spec = _spec(tmp_path, dataset, f'r: {{path: "s3://{name}/in/*.csv", incremental: {{cursor_path: id}}}}\n')
    assert runner.run_source(spec, "s").tables["r"].rows == 1
    fs.pipe(f"{name}/in/2.csv", b"id\n2\n")
    assert runner.run_source(spec, "s").tables["r"].rows == 1  # 1.csv unchanged: skipped
    fs.pipe(f"{name}/in/1.csv", b"id\n1\n5\n")  # changed: read again, the cursor drops id 1
    assert runner.run_source(spec, "s").tables["r"].rows == 1
    assert query(f'SELECT id FROM "{dataset}".r ORDER BY id') == [(1,), (2,), (5,)]


def test_plain_http_url(tmp_path: Path, dataset: str, query, bucket, s3_endpoint: str) -> None:
    name, fs = bucket
    fs.pipe(f"{name}/d.csv", b"id,name\n1,a\n")
    fs.chmod(f"{name}/d.csv", acl="public-read")
    (tmp_path / "pipelines.yaml").write_text(
        f"sources:\n  s:\n    kind: files\n    dataset: {dataset}\n    resources:\n"
        f"      r: {{path: '{s3_endpoint}/{name}/d.csv'}}\n")
    runner.run_source(load_spec(tmp_path / "pipelines.yaml"), "s")
    assert query(f'SELECT id, name FROM "{dataset}".r') == [(1, "a")]


def test_unreachable_store_names_the_url_and_no_secret(tmp_path: Path, dataset: str, query,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_S3_ENDPOINT", "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("TEST_S3_KEY", KEY)
    monkeypatch.setenv("TEST_S3_SECRET", SECRET)
    (tmp_path / "pipelines.yaml").write_text(
        f"sources:\n  s:\n    kind: files\n    dataset: {dataset}\n    resources:\n"
        "      r: {path: 's3://nowhere/*.csv', storage_options: {endpoint_url: '${TEST_S3_ENDPOINT}', "
        "key: '${TEST_S3_KEY}', secret: '${TEST_S3_SECRET}', "
        "config_kwargs: {connect_timeout: 1, retries: {max_attempts: 1}}}}\n")
    with pytest.raises(ConfigError, match=r"cannot reach `s3://nowhere/\*.csv`") as caught:
        runner.run_source(load_spec(tmp_path / "pipelines.yaml"), "s")
    assert SECRET not in str(caught.value) and KEY not in str(caught.value)
    assert query("SELECT to_regclass(%s)", (f'"{dataset}".r',)) == [(None,)]


def test_messages_of_storage_clients_are_scrubbed_of_secret_options() -> None:
    from pg_assets.sources.file_store import _scrub

    options = {"endpoint_url": "http://127.0.0.1:9", "key": KEY, "client_kwargs": {"aws_session_token": "tok-123"}}
    message = _scrub(f"denied for {KEY} with tok-123 at http://127.0.0.1:9", options)
    assert message == "denied for *** with *** at http://127.0.0.1:9"
