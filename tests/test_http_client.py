"""The rest_api kind's HTTP client against a real HTTP/1.1 server: kept-alive connections, gzip, Link headers."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pg_assets.errors import TransientLoadError
from pg_assets.sources.http_client import Client, RetryPolicy
from pg_assets.sources.paginators import HeaderLink, pages


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections: set[tuple[str, int]]
    encodings: list[str]


class _Pages(BaseHTTPRequestHandler):
    """Three pages of one item each, linked by `Link` headers, gzipped when the client asks."""

    protocol_version = "HTTP/1.1"  # keep-alive unless the client closes

    def do_GET(self) -> None:  # noqa: N802
        server: Any = self.server
        server.connections.add(self.client_address)
        server.encodings.append(self.headers.get("Accept-Encoding", ""))
        page = int(self.path.rpartition("page=")[2] or 1) if "page=" in self.path else 1
        body = json.dumps([{"page": page}]).encode()
        headers = {"Content-Type": "application/json"}
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        if page < 3:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            headers["Link"] = f'<{base}/items?page={page + 1}>; rel="next", <{base}/items?page=3>; rel="last"'
        self.send_response(200)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Pages)
    httpd.connections, httpd.encodings = set(), []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_pages_share_one_kept_alive_connection_and_arrive_gzipped(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/items"
    with Client() as client:
        got = [item for batch in pages(HeaderLink(type="header_link"), url, {}, client.get, lambda r: r.json())
               for item in batch]
    assert got == [{"page": 1}, {"page": 2}, {"page": 3}]  # Link headers followed, gzip decoded
    assert len(server.connections) == 1
    assert all("gzip" in encoding for encoding in server.encodings)


def test_a_name_that_does_not_resolve_fails_at_once() -> None:
    with Client(policy=RetryPolicy(max_retries=5, backoff_seconds=5.0)) as client:
        with pytest.raises(TransientLoadError, match=r"cannot resolve `no-such-host\.invalid` \(offline\?\)"):
            client.get("http://no-such-host.invalid/things")
