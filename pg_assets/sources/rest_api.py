"""`kind: rest_api`: JSON over HTTP, declared in YAML, no code.

```yaml
chess:
  kind: rest_api
  dataset: chess_data
  base_url: https://api.chess.com/pub/
  resources:
    players_profiles: {endpoint: "player/{username}", params: {username: [magnuscarlsen, rpragchess]}}
    players_archives: {endpoint: "player/{username}/games/archives", params: {username: [magnuscarlsen]},
                       data_selector: archives}
    players_games:
      endpoint: "{archive}"
      params: {archive: {type: resolve, resource: players_archives, field: value}}
      data_selector: games
      incremental: {cursor_path: end_time}
```

`params` named in the endpoint (`{username}`) fill the path; a list there means one
request per value. `{type: resolve, resource: r, field: f}` takes the values from
another resource's items (a scalar item `x` is `{value: x}`); `{type: incremental}`
sends the stored cursor so the API returns only newer items. Auth secrets come from
the environment: `auth: {type: bearer, token: ${API_TOKEN}}`.
"""

from __future__ import annotations

import base64
import itertools
import string
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, SecretStr

from pg_assets.errors import TerminalLoadError, did_you_mean
from pg_assets.sources.base import MISSING, CheckContext, Problem, SourceContext, SourceKind, as_items, select
from pg_assets.sources.http_client import Client, Response, RetryPolicy
from pg_assets.sources.paginators import NEEDS_EMPTY_PAGE, Paginator, SinglePage, pages
from pg_assets.spec.models import Name, ResourceSpec, SourceSpec, Strict

Scalar = str | int | float | bool


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"`{value}` is not an http(s) URL")
    return value


class BearerAuth(Strict):
    type: Literal["bearer"]
    """`Authorization: Bearer <token>`."""
    token: SecretStr
    """Write `${VAR}`: never the token itself."""


class BasicAuth(Strict):
    type: Literal["basic"]
    """HTTP basic authentication."""
    username: str
    """The user name."""
    password: SecretStr
    """Write `${VAR}`: never the password itself."""


class ApiKeyAuth(Strict):
    type: Literal["api_key"]
    """A key sent in a header or a query parameter."""
    api_key: SecretStr
    """Write `${VAR}`: never the key itself."""
    name: str = "Authorization"
    """The header's or query parameter's name."""
    location: Literal["header", "query"] = "header"
    """`header` or `query`."""


Auth = Annotated[BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]


class IncrementalParam(Strict):
    """The stored cursor (`start_value`) of the resource's `incremental`."""

    type: Literal["incremental"]
    """The resource's stored cursor, or its `initial_value` on the first load."""


class ResolveParam(Strict):
    """One request per item of another resource, with that item's `field`."""

    type: Literal["resolve"]
    """One request per item of `resource`."""
    resource: str
    """The resource whose items give the values."""
    field: str
    """The field of each item that fills the parameter."""


Param = Annotated[IncrementalParam | ResolveParam, Field(discriminator="type")] | Scalar | list[Scalar]


class RestApiResource(ResourceSpec):
    endpoint: str | None = None
    """Path under `base_url` (or a full URL); `{name}` placeholders come from `params`."""
    params: dict[str, Param] | None = None
    """Query and path parameters; `{type: incremental}` or `{type: resolve, ...}`."""
    data_selector: str | None = None
    """The path to the list of items in each response (`data.items`)."""
    paginator: Paginator | None = None
    """How to reach the next page; the source's, else `single_page`."""
    headers: dict[str, str] | None = None
    """HTTP headers sent with every request."""


class RestApiSource(SourceSpec):
    resource_model = RestApiResource

    kind: Literal["rest_api"]
    """`rest_api`."""
    base_url: Annotated[str, AfterValidator(_http_url)]
    """The API root every endpoint is relative to."""
    headers: dict[str, str] | None = None
    """HTTP headers sent with every request."""
    auth: Auth | None = None
    """bearer, basic or api_key; write secrets as `${VAR}`."""
    paginator: Paginator | None = None
    """How to reach the next page; the source's, else `single_page`."""
    timeout: PositiveFloat = 30.0
    """Seconds to wait for an answer."""
    max_retries: NonNegativeInt = 5
    """Retries on 429, 5xx and connection errors."""
    backoff_seconds: NonNegativeFloat = 1.0
    """First wait between retries (doubling); `Retry-After` wins."""
    defaults: RestApiResource = Field(default_factory=RestApiResource)
    """Options every resource of the source starts from."""
    resources: dict[Name, RestApiResource] = Field(min_length=1)
    """The tables: one resource each, by name."""


def endpoint_of(name: str, resource: RestApiResource) -> str:
    return resource.endpoint or name


def placeholders(endpoint: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(endpoint) if field]


# ---------------------------------------------------------------- checks


def check(source: RestApiSource | None, name: str, resource: RestApiResource,
          context: CheckContext) -> Iterator[Problem]:
    params = resource.params or {}
    for field in placeholders(endpoint_of(name, resource)):
        if field not in params:
            yield ("endpoint",), f"`{{{field}}}` in the endpoint has no value: add `params: {{{field}: ...}}`"
    for key, value in params.items():
        if isinstance(value, IncrementalParam) and resource.incremental is None:
            yield ("params", key), "`{type: incremental}` needs the resource's `incremental: {cursor_path: ...}`"
        if isinstance(value, ResolveParam):
            yield from _check_resolve(name, key, value, context)
    if source is not None and _parents(source, name, set()) is None:
        yield ("params",), "`resolve` parameters form a cycle: a resource cannot depend on itself"


def _check_resolve(name: str, key: str, value: ResolveParam, context: CheckContext) -> Iterator[Problem]:
    others = [n for n in context.resource_names if n != name]
    if value.resource not in others:
        hint = did_you_mean(value.resource, others)
        yield ("params", key, "resource"), f"no other resource `{value.resource}` in source " \
                                           f"`{context.source_name}`.{hint}"


def _parents(source: RestApiSource, name: str, visiting: set[str]) -> set[str] | None:
    """The resources `name` resolves from, transitively; None on a cycle."""
    if name in visiting:
        return None
    found: set[str] = set()
    for value in (source.resources[name].params or {}).values():
        if isinstance(value, ResolveParam) and value.resource in source.resources:
            above = _parents(source, value.resource, visiting | {name})
            if above is None:
                return None
            found |= {value.resource, *above}
    return found


# ---------------------------------------------------------------- reading


def client_for(source: RestApiSource, resource: RestApiResource) -> Client:
    headers = {**(source.headers or {}), **(resource.headers or {})}
    params: dict[str, str] = {}
    auth = source.auth
    if isinstance(auth, BearerAuth):
        headers["Authorization"] = f"Bearer {auth.token.get_secret_value()}"
    elif isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    elif isinstance(auth, ApiKeyAuth):
        (headers if auth.location == "header" else params)[auth.name] = auth.api_key.get_secret_value()
    secret = frozenset([auth.name]) if isinstance(auth, ApiKeyAuth) and auth.location == "query" else frozenset()
    policy = RetryPolicy(timeout=source.timeout, max_retries=source.max_retries, backoff_seconds=source.backoff_seconds)
    return Client(headers=headers, params=params, secret_params=secret, policy=policy)


def read(source: RestApiSource, resource: RestApiResource, context: SourceContext) -> Iterator[list[Any]]:
    client = client_for(source, resource)
    endpoint = endpoint_of(context.resource_name, resource)
    paginator = resource.paginator or source.paginator or SinglePage(type="single_page")
    in_path = set(placeholders(endpoint))

    def items_of(response: Response) -> list[Any]:
        return _items(response, resource.data_selector, paginator)

    with client:  # one kept-alive session for every page of every parameter combination
        for values in _combinations(resource.params or {}, in_path, context):
            path_values = {k: quote(_text(v), safe="/:@?&=%+") for k, v in values.items() if k in in_path}
            query = {k: v for k, v in values.items() if k not in in_path}
            url = join_url(source.base_url, endpoint.format(**path_values))
            yield from pages(paginator, url, query, lambda u, p: client.get(u, p), items_of)


def join_url(base_url: str, endpoint: str) -> str:
    """The endpoint's URL: a full URL as it is, else a path under `base_url`."""
    if endpoint.startswith(("http://", "https://")):
        return endpoint
    return base_url.rstrip("/") + "/" + endpoint.lstrip("/")


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _items(response: Response, data_selector: str | None, paginator: Any) -> list[Any]:
    document = response.json()
    selected = select(document, data_selector)
    if selected is MISSING:
        raise TerminalLoadError(f"GET {response.display_url}: nothing at `data_selector: {data_selector}` "
                                f"in {_describe(document)}")
    if not data_selector and isinstance(document, dict) and isinstance(paginator, NEEDS_EMPTY_PAGE):
        raise TerminalLoadError(f"GET {response.display_url}: the page is an object; set `data_selector` "
                                f"to the list of items in {_describe(document)}")
    return list(as_items(selected)) if selected is not None else []


def _describe(document: Any) -> str:
    if isinstance(document, dict):
        return "an object with keys " + ", ".join(f"`{k}`" for k in list(document)[:10])
    return f"a {type(document).__name__}"


def _combinations(params: Mapping[str, Any], in_path: set[str], context: SourceContext) -> Iterator[dict[str, Any]]:
    """One mapping of concrete values per request chain (the product of multi-valued params)."""
    choices: list[tuple[str, list[Any]]] = []
    for key, value in params.items():
        values = _values(key, value, key in in_path, context)
        if values is not None:
            choices.append((key, values))
    keys = [k for k, _ in choices]
    for combination in itertools.product(*(v for _, v in choices)):
        yield dict(zip(keys, combination))


def _values(key: str, value: Any, in_path: bool, context: SourceContext) -> list[Any] | None:
    if isinstance(value, IncrementalParam):
        start = context.incremental.start_value if context.incremental else None
        return None if start is None else [start]
    if isinstance(value, ResolveParam):
        return list(_resolved(value, context))
    if isinstance(value, list) and in_path:
        return value
    return [value]


def _resolved(param: ResolveParam, context: SourceContext) -> Iterable[Any]:
    if context.read_other is None:
        raise TerminalLoadError(f"resource `{context.resource_name}` resolves `{param.resource}`, "
                                "but no reader of other resources was given")
    for page in context.read_other(param.resource):
        for item in page if isinstance(page, list) else [page]:
            value = select(item, param.field)
            if value is MISSING or value is None:
                raise TerminalLoadError(f"an item of `{param.resource}` has no `{param.field}` "
                                        f"(keys: {', '.join(sorted(item)[:10])})")
            yield value


KIND = SourceKind(name="rest_api", source_model=RestApiSource, read=read, check=check)
