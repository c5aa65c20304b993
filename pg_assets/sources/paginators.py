"""Paginators of the `rest_api` kind, in the vocabulary dlt users know.

```yaml
paginator: {type: json_link, next_url_path: next}          # the body links the next page
paginator: {type: header_link}                             # a `Link: <...>; rel="next"` header
paginator: {type: offset, limit: 100, total_path: total}   # ?offset=0&limit=100, then 100, ...
paginator: {type: page_number, base_page: 1, total_path: pages}
paginator: {type: cursor, cursor_path: cursors.next, cursor_param: cursor}
paginator: {type: single_page}                             # the default
```

Each paginator is a frozen model plus one generator `pages(...)` that yields the
items of each page; counting and offsets never live in the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal
from urllib.parse import urljoin

from pydantic import Field, NonNegativeInt, PositiveInt

from pg_assets.errors import TerminalLoadError
from pg_assets.sources.base import MISSING, select
from pg_assets.sources.http_client import Response
from pg_assets.spec.models import Strict

Fetch = Callable[[str, dict[str, Any]], Response]
ItemsOf = Callable[[Response], list[Any]]


class SinglePage(Strict):
    type: Literal["single_page"]
    """One request, no paging (the default)."""


class JsonLink(Strict):
    type: Literal["json_link"]
    """The next page's URL is in the JSON body."""
    next_url_path: str = "next"
    """Where the URL is in the body (dotted path); paging stops when it is empty."""


class HeaderLink(Strict):
    type: Literal["header_link"]
    """The next page's URL is in the `Link` header."""
    links_next_key: str = "next"
    """The `rel` of the link to follow."""


class Offset(Strict):
    type: Literal["offset"]
    """`?offset=0&limit=N`, then `N`, `2N`..., until an empty page or the total."""
    limit: PositiveInt
    """Items per page, sent as `limit_param`."""
    offset: NonNegativeInt = 0
    """The first offset."""
    offset_param: str = "offset"
    """The query parameter that carries the offset."""
    limit_param: str = "limit"
    """The query parameter that carries the limit."""
    total_path: str | None = None
    """Where the body gives the total number of items; paging stops there."""
    maximum_offset: PositiveInt | None = None
    """Stop before this offset."""


class PageNumber(Strict):
    type: Literal["page_number"]
    """`?page=1`, `2`..., until an empty page or the number of pages."""
    base_page: NonNegativeInt = 0
    """The first page's number."""
    page_param: str = "page"
    """The query parameter that carries the page number."""
    total_path: str | None = None
    """Where the body gives the number of pages; paging stops there."""
    maximum_page: PositiveInt | None = None
    """The last page to request."""


class Cursor(Strict):
    type: Literal["cursor"]
    """The body names the next page's cursor, sent back as `cursor_param`."""
    cursor_path: str = "cursors.next"
    """Where the cursor is in the body (dotted path); paging stops when it is empty or repeats."""
    cursor_param: str = "cursor"
    """The query parameter that carries the cursor."""


Paginator = Annotated[SinglePage | JsonLink | HeaderLink | Offset | PageNumber | Cursor, Field(discriminator="type")]
NEEDS_EMPTY_PAGE = (Offset, PageNumber)  # without a total, an empty page is the only end


def pages(paginator: Any, url: str, params: dict[str, Any], fetch: Fetch, items_of: ItemsOf) -> Iterator[list[Any]]:
    """The items of every page, requesting the next page only when asked for."""
    walk = {SinglePage: _single, JsonLink: _json_link, HeaderLink: _header_link,
            Offset: _offset, PageNumber: _page_number, Cursor: _cursor}[type(paginator)]
    yield from walk(paginator, url, params, fetch, items_of)


def _single(p: SinglePage, url: str, params: dict[str, Any], fetch: Fetch, items_of: ItemsOf) -> Iterator[list[Any]]:
    yield items_of(fetch(url, params))


def _follow(url: str, params: dict[str, Any], fetch: Fetch, items_of: ItemsOf,
            next_of: Callable[[Response], str | None]) -> Iterator[list[Any]]:
    seen = set()
    while url and url not in seen:
        seen.add(url)
        response = fetch(url, params)
        yield items_of(response)
        link = next_of(response)
        url, params = (urljoin(response.url, link), {}) if link else ("", params)


def _json_link(p: JsonLink, url: str, params: dict[str, Any], fetch: Fetch, items_of: ItemsOf) -> Iterator[list[Any]]:
    def next_of(response: Response) -> str | None:
        link = select(response.json(), p.next_url_path)
        return link if isinstance(link, str) and link else None

    yield from _follow(url, params, fetch, items_of, next_of)


def _header_link(p: HeaderLink, url: str, params: dict[str, Any], fetch: Fetch,
                 items_of: ItemsOf) -> Iterator[list[Any]]:
    def next_of(response: Response) -> str | None:
        return response.links.get(p.links_next_key, {}).get("url") or None  # parsed by `requests`

    yield from _follow(url, params, fetch, items_of, next_of)


def _total(response: Response, path: str | None) -> int | None:
    if not path:
        return None
    value = select(response.json(), path)
    if value is MISSING or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TerminalLoadError(f"GET {response.display_url or response.url}: `{path}` is `{value}`, "
                                "not a number of items or pages") from None


def _offset(p: Offset, url: str, params: dict[str, Any], fetch: Fetch, items_of: ItemsOf) -> Iterator[list[Any]]:
    offset = p.offset
    while p.maximum_offset is None or offset < p.maximum_offset:
        response = fetch(url, {**params, p.offset_param: offset, p.limit_param: p.limit})
        items = items_of(response)
        if not items:
            return
        yield items
        offset += p.limit
        total = _total(response, p.total_path)
        if total is not None and offset >= total:
            return


def _page_number(p: PageNumber, url: str, params: dict[str, Any], fetch: Fetch,
                 items_of: ItemsOf) -> Iterator[list[Any]]:
    page = p.base_page
    while p.maximum_page is None or page <= p.maximum_page:
        response = fetch(url, {**params, p.page_param: page})
        items = items_of(response)
        if not items:
            return
        yield items
        total_pages = _total(response, p.total_path)
        page += 1
        if total_pages is not None and page - p.base_page >= total_pages:
            return


def _cursor(p: Cursor, url: str, params: dict[str, Any], fetch: Fetch, items_of: ItemsOf) -> Iterator[list[Any]]:
    cursor, seen = None, set()
    while True:
        response = fetch(url, params if cursor is None else {**params, p.cursor_param: cursor})
        yield items_of(response)
        cursor = select(response.json(), p.cursor_path)
        if cursor in (None, "", MISSING) or not isinstance(cursor, (str, int)) or cursor in seen:
            return
        seen.add(cursor)
