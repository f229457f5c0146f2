"""The one place a request is sent: base URL, API key, retries, problems raised.

Retries, bounded by ``Retries.attempts``, with exponential backoff and full jitter:

* a connection that could not be opened (refused, connect timeout): always safe, nothing
  reached the server;
* a connection lost after the request went out (read timeout, reset): only for requests that
  may be repeated (GET, PUT, DELETE, or a POST carrying an ``Idempotency-Key``);
* 429 (a quota) and 503 (the database is away: nothing was written), honouring ``Retry-After``
  (seconds or an HTTP date); a ``Retry-After`` longer than ``Retries.max_wait`` is not waited
  for: the problem is raised at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .errors import ConnectionFailed, ProblemError, UnexpectedAnswer

DEFAULT_TIMEOUT_S = 30.0  # a whole request, connect to last byte
USER_AGENT = "rampwire-client"

_RETRIED_STATUSES = frozenset({429, 503})
_REPEATABLE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Query = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Retries:
    """How hard to try: ``attempts`` in all (1: no retry), the backoff between them
    (``base`` * 2**n seconds, capped at ``cap``, fully jittered), and the longest
    ``Retry-After`` worth waiting for (``max_wait`` seconds)."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0
    max_wait: float = 60.0
    jitter: Callable[[float], float] = field(default=lambda high: random.uniform(0, high))

    def backoff(self, retry: int) -> float:
        """The pause before retry number ``retry`` (0 for the first) when the server named none."""
        return self.jitter(min(self.cap, self.base * 2**retry))


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Transport:
    """Sends requests to one rampwire server with one API key; ``send`` answers the decoded
    JSON (None for 204) or raises an :class:`~rampwire.client.errors.APIError`."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        retries: Retries | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.url = url.rstrip("/")
        self.retries = retries or Retries()
        self._sleep = sleep
        self._owned = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._http.headers.update(headers)

    async def close(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        response = await self.respond(
            method, path, query=query, json=json, content=content, headers=headers
        )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise UnexpectedAnswer(
                f"{method} {path} answered {response.status_code} with a body that is not JSON"
            ) from None

    async def respond(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The successful answer, after the retries; a problem raised as ProblemError."""
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        repeatable = method in _REPEATABLE_METHODS or "Idempotency-Key" in (headers or {})
        retry = 0
        while True:
            last = retry + 1 >= self.retries.attempts
            try:
                response = await self._http.request(
                    method,
                    self.url + path,
                    params=params,
                    json=jsonable(json),
                    content=content,
                    headers=dict(headers or {}),
                )
            except httpx.TransportError as exc:
                if last or not (repeatable or isinstance(exc, _NEVER_SENT)):
                    raise ConnectionFailed(
                        f"{method} {self.url}{path}: {_describe(exc)}"
                        + (f" (after {retry + 1} attempts)" if retry else "")
                    ) from exc
                await self._sleep(self.retries.backoff(retry))
                retry += 1
                continue
            if response.is_success:
                return response
            problem = _problem(response)
            if response.status_code not in _RETRIED_STATUSES or last:
                raise problem
            wait = retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > self.retries.max_wait:
                raise problem
            await self._sleep(self.retries.backoff(retry) if wait is None else wait)
            retry += 1

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, *, headers: Mapping[str, str] | None = None, read_timeout: float = 60.0
    ) -> AsyncIterator[httpx.Response]:
        """A GET whose body is read as it comes (server-sent events): the open answer, or its
        problem raised. Not retried: a stream's reader decides where to resume from."""
        url = path if path.startswith(("http://", "https://")) else self.url + path
        timeout = httpx.Timeout(10.0, read=read_timeout)
        try:
            async with self._http.stream(
                "GET", url, headers=dict(headers or {}), timeout=timeout
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise _problem(response)
                yield response
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"GET {url}: {_describe(exc)}") from exc


def jsonable(value: Any) -> Any:
    """``value`` with ``Decimal`` as a string and ``datetime`` as ISO 8601, as the API reads
    them (money never passes through a float)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _query_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _problem(response: httpx.Response) -> ProblemError:
    try:
        document: Any = response.json()
    except ValueError:
        document = {
            "title": response.reason_phrase or "Error",
            "detail": response.text[:200] or f"HTTP {response.status_code}",
        }
    return ProblemError.from_document(response.status_code, document)


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


__all__ = ["DEFAULT_TIMEOUT_S", "Retries", "Transport", "jsonable", "retry_after"]
