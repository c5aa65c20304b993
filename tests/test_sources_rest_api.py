"""`kind: rest_api` against a local HTTP server (loopback only) serving chess.com-shaped JSON.

Every paginator, retries on 429 (honouring `Retry-After`) and 5xx, timeouts, malformed
bodies, auth headers, path and resolved parameters, the incremental parameter.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pg_assets import runner
from pg_assets.errors import TerminalLoadError, TransientLoadError
from pg_assets.spec import load_spec

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Api:
    """Routes path -> list of answers (the last one repeats) or a function of the query."""

    base: str = ""
    routes: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)

    def json(self, path: str, *bodies: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.routes[path] = [(status, headers or {}, json.dumps(b).encode()) for b in bodies]

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        route = self.routes.get(path)
        if route is None:
            return 404, {}, b'{"message": "not found"}'
        if callable(route):
            return route(query)
        return route.pop(0) if len(route) > 1 else route[0]

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.requests]


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            headers = {name.lower(): value for name, value in self.headers.items()}  # case-insensitive
            state.requests.append((parts.path, query, headers))
            status, headers, body = state.answer(parts.path, query)
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that timed out closed the socket the slow answer goes to

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def build(tmp_path: Path, api: Api, body: str, names: list[str] | None = None) -> dict[str, Any]:
    text = ("sources:\n  api:\n    kind: rest_api\n    dataset: d\n"
            f"    base_url: {api.base}/pub/\n    backoff_seconds: 0.01\n"
            + textwrap.indent(textwrap.dedent(body), "    "))
    (tmp_path / "pipelines.yaml").write_text(text)
    spec = load_spec(tmp_path / "pipelines.yaml")
    return {r.name: r for r in runner.build_resources(spec, "api", names)}


def items(resource: Any) -> list[dict[str, Any]]:
    found = []
    for page in resource.iter_data():
        found.extend(page if isinstance(page, list) else [page])
    return found


# ---------------------------------------------------------------- chess.com shapes


def serve_chess(api: Api) -> None:
    for n, player in enumerate(["magnuscarlsen", "rpragchess"], start=1):
        profile = {"player_id": n, "username": player, "@id": f"{api.base}/pub/player/{player}"}
        api.json(f"/pub/player/{player}", profile)
        months = ["2024/01", "2024/02"]
        api.json(f"/pub/player/{player}/games/archives",
                 {"archives": [f"{api.base}/pub/player/{player}/games/{m}" for m in months]})
        for m in months:
            games = [{"uuid": f"{m}-shared", "end_time": 1704067200 + n, "white": {"username": "magnuscarlsen"},
                      "black": {"username": "rpragchess"}},
                     {"uuid": f"{m}-{player}", "end_time": 1704067300 + n, "white": {"username": player}}]
            api.json(f"/pub/player/{player}/games/{m}", {"games": games})


CHESS = """\
resources:
  players_profiles:
    endpoint: "player/{username}"
    params: {username: &players [magnuscarlsen, rpragchess]}
  players_archives:
    endpoint: "player/{username}/games/archives"
    params: {username: *players}
    data_selector: archives
  players_games:
    endpoint: "{archive_url}"
    params: {archive_url: {type: resolve, resource: players_archives, field: value}}
    data_selector: games
    write_disposition: merge
    primary_key: uuid
    incremental: {cursor_path: end_time}
"""


def test_chess_profiles_archives_and_games(tmp_path: Path, api: Api) -> None:
    serve_chess(api)
    resources = build(tmp_path, api, CHESS)
    assert [p["username"] for p in items(resources["players_profiles"])] == ["magnuscarlsen", "rpragchess"]
    archives = items(resources["players_archives"])
    assert archives[0] == {"value": f"{api.base}/pub/player/magnuscarlsen/games/2024/01"} and len(archives) == 4
    games = items(resources["players_games"])
    assert len(games) == 8 and games[0]["white"] == {"username": "magnuscarlsen"}
    assert api.paths()[-4:] == [f"/pub/player/{p}/games/{m}" for p in ("magnuscarlsen", "rpragchess")
                                for m in ("2024/01", "2024/02")]


def test_requests_carry_a_user_agent_and_accept_json(tmp_path: Path, api: Api) -> None:
    serve_chess(api)
    items(build(tmp_path, api, CHESS, ["players_profiles"])["players_profiles"])
    headers = api.requests[0][2]
    assert headers["user-agent"].startswith("pg-assets/") and headers["accept"] == "application/json"


# ---------------------------------------------------------------- paginators

ITEMS = [{"id": i} for i in range(5)]


def json_link(query: dict[str, list[str]], base: str) -> Answer:
    page = int(query.get("p", ["0"])[0])
    nxt = f"{base}/pub/things?p={page + 1}" if page < 2 else None
    return 200, {}, json.dumps({"results": ITEMS[page * 2: page * 2 + 2], "links": {"next": nxt}}).encode()


def header_link(query: dict[str, list[str]], base: str) -> Answer:
    page = int(query.get("page", ["0"])[0])
    link = f'<{base}/pub/things?page={page + 1}>; rel="next", <{base}/pub/things?page=2>; rel="last"'
    return 200, {"Link": link} if page < 2 else {}, json.dumps(ITEMS[page * 2: page * 2 + 2]).encode()


def offset(query: dict[str, list[str]], base: str) -> Answer:
    start, limit = int(query["offset"][0]), int(query["limit"][0])
    return 200, {}, json.dumps({"data": ITEMS[start: start + limit], "total": len(ITEMS)}).encode()


def page_number(query: dict[str, list[str]], base: str) -> Answer:
    page = int(query["page"][0])
    return 200, {}, json.dumps({"data": ITEMS[(page - 1) * 2: (page - 1) * 2 + 2], "pages": 3}).encode()


def cursor(query: dict[str, list[str]], base: str) -> Answer:
    position = int(query.get("after", ["0"])[0])
    nxt = position + 2 if position + 2 < len(ITEMS) else None
    return 200, {}, json.dumps({"data": ITEMS[position: position + 2], "meta": {"next": nxt}}).encode()


def single(query: dict[str, list[str]], base: str) -> Answer:
    return 200, {}, json.dumps({"data": ITEMS}).encode()


PAGINATORS = {
    "json_link": ("{type: json_link, next_url_path: links.next}", "results", json_link, 3),
    "header_link": ("{type: header_link}", "", header_link, 3),
    "offset-with-total": ("{type: offset, limit: 2, total_path: total}", "data", offset, 3),
    "offset-until-empty-page": ("{type: offset, limit: 2}", "data", offset, 4),
    "page_number-with-total": ("{type: page_number, base_page: 1, total_path: pages}", "data", page_number, 3),
    "page_number-until-empty-page": ("{type: page_number, base_page: 1}", "data", page_number, 4),
    "cursor": ("{type: cursor, cursor_path: meta.next, cursor_param: after}", "data", cursor, 3),
    "single_page": ("{type: single_page}", "data", single, 1),
}


@pytest.mark.parametrize("case", PAGINATORS.values(), ids=PAGINATORS.keys())
def test_paginator_reads_every_page(tmp_path: Path, api: Api,
                                    case: tuple[str, str, Callable[..., Answer], int]) -> None:
    paginator, selector, route, requests = case
    api.routes["/pub/things"] = lambda query: route(query, api.base)
    selector_yaml = f", data_selector: {selector}" if selector else ""
    resources = build(tmp_path, api, f"resources:\n  things: {{paginator: {paginator}{selector_yaml}}}\n")
    assert items(resources["things"]) == ITEMS
    assert len(api.requests) == requests


def test_paginator_declared_on_the_source_applies_to_its_resources(tmp_path: Path, api: Api) -> None:
    api.routes["/pub/things"] = lambda query: offset(query, api.base)
    resources = build(tmp_path, api, "paginator: {type: offset, limit: 2, total_path: total}\n"
                                     "resources:\n  things: {data_selector: data}\n")
    assert items(resources["things"]) == ITEMS


def test_offset_paginator_needs_a_selector_for_object_pages(tmp_path: Path, api: Api) -> None:
    api.routes["/pub/things"] = lambda query: offset(query, api.base)
    resources = build(tmp_path, api, "resources:\n  things: {paginator: {type: offset, limit: 2}}\n")
    with pytest.raises(TerminalLoadError, match=r"the page is an object; set `data_selector`.*`data`, `total`"):
        items(resources["things"])


# ---------------------------------------------------------------- retries, timeouts, bad answers


def test_429_waits_as_long_as_retry_after_says(tmp_path: Path, api: Api) -> None:
    api.routes["/pub/things"] = [(429, {"Retry-After": "1"}, b"slow down"), (200, {}, b"[{\"id\": 1}]")]
    resources = build(tmp_path, api, "resources:\n  things: {}\n")
    started = time.monotonic()
    assert items(resources["things"]) == [{"id": 1}]
    assert time.monotonic() - started >= 0.95 and len(api.requests) == 2


def test_500_then_success_is_retried(tmp_path: Path, api: Api) -> None:
    api.routes["/pub/things"] = [(500, {}, b"oops"), (503, {}, b"busy"), (200, {}, b"[{\"id\": 1}]")]
    assert items(build(tmp_path, api, "resources:\n  things: {}\n")["things"]) == [{"id": 1}]
    assert len(api.requests) == 3


def test_persistent_5xx_fails_after_the_retries(tmp_path: Path, api: Api) -> None:
    api.routes["/pub/things"] = [(502, {}, b"<html>bad gateway</html>")]
    resources = build(tmp_path, api, "max_retries: 2\nresources:\n  things: {}\n")
    with pytest.raises(TransientLoadError, match=r"/pub/things answered 502 Bad Gateway after 3 attempts: <html>"):
        items(resources["things"])
    assert len(api.requests) == 3


def test_404_fails_at_once_with_the_body(tmp_path: Path, api: Api) -> None:
    resources = build(tmp_path, api, "resources:\n  things: {}\n")
    with pytest.raises(TerminalLoadError, match=r"/pub/things answered 404 Not Found: \{\"message\": \"not found\"\}"):
        items(resources["things"])
    assert len(api.requests) == 1


def test_timeout_is_transient(tmp_path: Path, api: Api) -> None:
    def slow(query: dict[str, list[str]]) -> Answer:
        time.sleep(0.5)
        return 200, {}, b"[]"

    api.routes["/pub/things"] = slow
    resources = build(tmp_path, api, "timeout: 0.1\nmax_retries: 1\nresources:\n  things: {}\n")
    with pytest.raises(TransientLoadError, match="failed after 2 attempts"):
        items(resources["things"])


def test_malformed_body_names_the_url_and_shows_what_came_back(tmp_path: Path, api: Api) -> None:
    api.routes["/pub/things"] = [(200, {"Content-Type": "text/html"}, b"<html><body>Maintenance</body></html>")]
    with pytest.raises(TerminalLoadError, match=rf"GET {api.base}/pub/things returned a body that is not JSON "
                                                r"\(Expecting value\): <html><body>Maintenance"):
        items(build(tmp_path, api, "resources:\n  things: {}\n")["things"])


def test_missing_data_selector_names_the_keys_found(tmp_path: Path, api: Api) -> None:
    api.json("/pub/things", {"items": [], "count": 0})
    with pytest.raises(TerminalLoadError, match=r"nothing at `data_selector: results` in an object with keys "
                                                r"`items`, `count`"):
        items(build(tmp_path, api, "resources:\n  things: {data_selector: results}\n")["things"])


# ---------------------------------------------------------------- auth, parameters


@pytest.mark.parametrize(("auth", "header", "expected"), [
    ("{type: bearer, token: '${PG_ASSETS_TEST_TOKEN}'}", "Authorization", "Bearer s3cret"),
    ("{type: basic, username: loader, password: '${PG_ASSETS_TEST_TOKEN}'}", "Authorization",
     "Basic bG9hZGVyOnMzY3JldA=="),
    ("{type: api_key, name: X-API-Key, api_key: '${PG_ASSETS_TEST_TOKEN}'}", "X-API-Key", "s3cret"),
], ids=["bearer", "basic", "api-key-header"])
def test_auth_headers_are_sent(tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch,
                               auth: str, header: str, expected: str) -> None:
    monkeypatch.setenv("PG_ASSETS_TEST_TOKEN", "s3cret")
    api.json("/pub/things", [])
    items(build(tmp_path, api, f"auth: {auth}\nresources:\n  things: {{}}\n")["things"])
    assert api.requests[0][2][header.lower()] == expected


def test_api_key_in_the_query_is_masked_in_errors(tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_ASSETS_TEST_TOKEN", "s3cret")
    api.routes["/pub/things"] = [(403, {}, b"forbidden")]
    resources = build(tmp_path, api, "auth: {type: api_key, name: key, api_key: '${PG_ASSETS_TEST_TOKEN}', "
                                     "location: query}\nresources:\n  things: {}\n")
    with pytest.raises(TerminalLoadError) as raised:
        items(resources["things"])
    assert api.requests[0][1] == {"key": ["s3cret"]}
    assert "key=***" in str(raised.value) and "s3cret" not in str(raised.value)


def test_query_params_lists_and_headers(tmp_path: Path, api: Api) -> None:
    api.json("/pub/things", [])
    body = ("headers: {X-Source: a}\nresources:\n  things: {params: {status: [open, closed], limit: 10, "
            "draft: false}, headers: {X-Resource: b}}\n")
    items(build(tmp_path, api, body)["things"])
    path, query, headers = api.requests[0]
    assert query == {"status": ["open", "closed"], "limit": ["10"], "draft": ["false"]}
    assert (headers["x-source"], headers["x-resource"]) == ("a", "b")


@pytest.mark.parametrize(("stored", "expected"), [
    ({}, {"since": ["2024-01-01"]}),
    ({"last_value": "2024-03-05T10:00:00Z"}, {"since": ["2024-03-05T10:00:00Z"]}),
], ids=["initial-value", "stored-cursor"])
def test_incremental_parameter_sends_the_cursor(tmp_path: Path, api: Api, stored: dict[str, Any],
                                                expected: dict[str, list[str]]) -> None:
    api.json("/pub/things", [])
    resource = build(tmp_path, api, "resources:\n  things: {params: {since: {type: incremental}}, "
                                    "incremental: {cursor_path: updated_at, initial_value: '2024-01-01'}}\n")["things"]
    resource.incremental.stored = stored
    items(resource)
    assert api.requests[0][1] == expected


def test_incremental_parameter_is_left_out_before_any_cursor(tmp_path: Path, api: Api) -> None:
    api.json("/pub/things", [])
    items(build(tmp_path, api, "resources:\n  things: {params: {since: {type: incremental}}, "
                               "incremental: {cursor_path: updated_at}}\n")["things"])
    assert api.requests[0][1] == {}
