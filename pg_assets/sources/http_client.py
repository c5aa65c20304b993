"""HTTP GET with timeouts and bounded retries, on the standard library.

429 and 5xx answers and connection failures are retried with exponential backoff;
a `Retry-After` header (seconds or an HTTP date) is honoured. Other 4xx answers fail
at once. Messages name the URL with secret query parameters masked.
"""

from __future__ import annotations

import email.utils
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pg_assets.errors import TerminalLoadError, TransientLoadError
from pg_assets.sources.base import snippet

USER_AGENT = "pg-assets/0.1 (+https://pypi.org/project/pg-assets/)"
MAX_RETRY_AFTER_SECONDS = 600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for an answer and how often to try again."""

    timeout: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2**attempt, self.max_backoff_seconds)


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    display_url: str = ""

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


@dataclass(frozen=True)
class Client:
    """Sends GETs with fixed headers and query parameters (auth), retrying by `policy`."""

    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    secret_params: frozenset[str] = frozenset()
    policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], None] = time.sleep

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> Response:
        full = with_params(url, {**(params or {}), **self.params})
        shown = mask(full, self.secret_params)
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers}
        for attempt in range(self.policy.max_retries + 1):
            last = attempt == self.policy.max_retries
            try:
                return self._once(full, shown, headers)
            except urllib.error.HTTPError as exc:
                body = exc.read()
                retryable = exc.code == 429 or exc.code >= 500
                if not retryable or last:
                    kind = TransientLoadError if retryable else TerminalLoadError
                    tries = f" after {attempt + 1} attempts" if retryable else ""
                    raise kind(f"GET {shown} answered {exc.code} {exc.reason}{tries}: "
                               f"{snippet(body) or '(empty body)'}") from None
                self.sleep(_retry_after(exc.headers) or self.policy.backoff(attempt))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if isinstance(getattr(exc, "reason", None), socket.gaierror):  # offline or a typo: waiting won't help
                    host = urlsplit(full).hostname
                    raise TransientLoadError(f"GET {shown}: cannot resolve `{host}` (offline?): {exc.reason}") from None
                if last:
                    reason = getattr(exc, "reason", exc)
                    raise TransientLoadError(f"GET {shown} failed after {attempt + 1} attempts: {reason}") from None
                self.sleep(self.policy.backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, url: str, shown: str, headers: Mapping[str, str]) -> Response:
        request = urllib.request.Request(url, headers=dict(headers))
        with urllib.request.urlopen(request, timeout=self.policy.timeout) as answer:
            body = answer.read()
            return Response(answer.geturl(), answer.status, dict(answer.headers.items()), body, shown)


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from a `Retry-After` header, if the server sent one."""
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, min((when - datetime.now(timezone.utc)).total_seconds(), MAX_RETRY_AFTER_SECONDS))


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
