"""HTTP GET with timeouts and bounded retries, on `requests` and urllib3's `Retry`.

One `requests.Session` per client keeps connections alive between pages and asks
for gzip. 429 and 5xx answers, timeouts and connection failures are retried by
urllib3 with exponential backoff; a `Retry-After` header (seconds or an HTTP date)
is honoured, up to `MAX_RETRY_AFTER_SECONDS`. A name that does not resolve fails at
once (offline, or a typo), as do other 4xx answers. Messages name the URL with
secret query parameters masked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NameResolutionError
from urllib3.util.retry import Retry

from pg_assets.errors import TerminalLoadError, TransientLoadError
from pg_assets.sources.base import snippet

USER_AGENT = "pg-assets/0.1 (+https://pypi.org/project/pg-assets/)"
MAX_RETRY_AFTER_SECONDS = 600.0
_RETRIED_STATUSES = frozenset({429, *range(500, 600)})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for an answer and how often to try again."""

    timeout: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0

    def retry(self) -> Retry:
        """urllib3's `Retry` for this policy: GETs only, the last answer returned rather than raised."""
        return _Retry(total=self.max_retries, status_forcelist=_RETRIED_STATUSES, allowed_methods={"GET"},
                      backoff_factor=self.backoff_seconds, backoff_max=self.max_backoff_seconds,
                      respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False)


class _Retry(Retry):
    """urllib3's `Retry`, with `Retry-After` capped and no retry when a host name does not resolve."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER_SECONDS)

    def increment(self, method: Any = None, url: Any = None, response: Any = None, error: Any = None,
                  _pool: Any = None, _stacktrace: Any = None) -> Retry:
        if _unresolved(error):  # waiting will not make the name resolve
            raise MaxRetryError(_pool, url, error)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _unresolved(error: BaseException | None) -> bool:
    """Whether `error` (or what it wraps) says a host name did not resolve."""
    while error is not None:
        if isinstance(error, NameResolutionError):
            return True
        error = error.__cause__ or error.__context__ or getattr(error, "reason", None)
        error = error if isinstance(error, BaseException) else None
    return False


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    display_url: str = ""
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """The `Link` header parsed by `requests`: rel -> {"url": ..., "rel": ...}."""

    def json(self) -> Any:
        """The parsed body; a body that is not JSON fails with the URL and what came back."""
        try:
            return json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            reason = getattr(exc, "msg", None) or getattr(exc, "reason", "undecodable")
            raise TerminalLoadError(
                f"GET {self.display_url or self.url} returned a body that is not JSON ({reason}): "
                f"{snippet(self.body) or '(empty)'}"
            ) from None


class Client:
    """Sends GETs with fixed headers and query parameters (auth) over one kept-alive session.

    Use it as a context manager, or `close()` it, to release the session's connections.
    """

    def __init__(self, headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                 secret_params: frozenset[str] = frozenset(), policy: RetryPolicy = RetryPolicy()) -> None:
        self.params = dict(params or {})
        self.secret_params = secret_params
        self.policy = policy
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})})
        adapter = HTTPAdapter(max_retries=policy.retry())
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> Response:
        full = with_params(url, {**(params or {}), **self.params})
        shown = mask(full, self.secret_params)
        try:
            answer = self.session.get(full, timeout=self.policy.timeout)
        except requests.RequestException as exc:
            raise _failure(exc, full, shown, self.policy, self.secret_params) from None
        if answer.status_code >= 400:
            raise _refusal(answer, shown)
        return Response(answer.url, answer.status_code, dict(answer.headers), answer.content, shown, answer.links)


def _attempts(answer: requests.Response) -> int:
    retries = getattr(answer.raw, "retries", None)
    return len(retries.history) + 1 if retries is not None else 1


def _refusal(answer: requests.Response, shown: str) -> TerminalLoadError | TransientLoadError:
    retryable = answer.status_code in _RETRIED_STATUSES
    kind = TransientLoadError if retryable else TerminalLoadError
    tries = f" after {_attempts(answer)} attempts" if retryable else ""
    return kind(f"GET {shown} answered {answer.status_code} {answer.reason}{tries}: "
                f"{snippet(answer.content) or '(empty body)'}")


def _failure(exc: requests.RequestException, full: str, shown: str, policy: RetryPolicy,
             secret_params: frozenset[str]) -> TransientLoadError:
    """A connection failure or timeout, after the retries; the message never holds a secret parameter."""
    if _unresolved(exc):
        return TransientLoadError(f"GET {shown}: cannot resolve `{urlsplit(full).hostname}` (offline?)")
    text = str(_innermost(exc))
    for name, value in parse_qsl(urlsplit(full).query, keep_blank_values=True):
        if name in secret_params and value:
            text = text.replace(value, "***")
    return TransientLoadError(f"GET {shown} failed after {policy.max_retries + 1} attempts: {text}")


def _innermost(exc: BaseException) -> BaseException:
    """The reason a `MaxRetryError` wraps, else `exc` itself."""
    found: Any = exc
    for _ in range(4):
        inner = found.args[0] if found.args and isinstance(found.args[0], BaseException) else None
        inner = getattr(inner, "reason", None) or inner
        if inner is None:
            break
        found = inner
    return found


def with_params(url: str, params: Mapping[str, Any]) -> str:
    """`url` with `params` added to its query string (lists repeat the key; None is left out)."""
    if not params:
        return url
    parts = urlsplit(url)
    query: list[tuple[str, Any]] = parse_qsl(parts.query, keep_blank_values=True)
    taken = set(params)
    query = [(k, v) for k, v in query if k not in taken]
    for key, value in params.items():
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        query += [(key, _text(v)) for v in values if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def mask(url: str, secret_params: frozenset[str]) -> str:
    """`url` with the values of secret query parameters replaced by `***`."""
    if not secret_params:
        return url
    parts = urlsplit(url)
    query = [(k, "***" if k in secret_params else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))
