"""The HTTP/1.1 client every outbound call under a target policy is sent with, on guarded
connections: deliveries, the simulator's ``http://`` requests and the authorization callback.

Every new connection goes to an address :func:`~.names.resolve_and_check` checked: a name
is resolved, refused if *any* of its addresses is not allowed, and the socket is opened to the
checked address itself (no second lookup, so no DNS rebinding window); ``https`` verifies the
certificate against the URL's host, which is also the SNI name. Each URL passes the static
:func:`~.policy.check_url` the first time it is sent to under a policy.

Per request: one ``transport.write`` (request line, headers and body as one bytes), the answer
parsed by httptools (llhttp, uvicorn's parser), at most ``body_cap`` bytes of its body kept.
A connection returns to its origin's keep-alive pool only when its answer was read completely
and the server did not ask to close it. Redirects are never followed. Failures raise
``TimeoutError`` (no complete answer within the total timeout, or no connection within the
connect timeout), :class:`~.addresses.ForbiddenTarget`, :class:`AnswerError` (not HTTP, or cut
short) or another ``OSError`` (refused, reset, a certificate that does not verify).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final

import httptools
from yarl import URL

from .addresses import IPAddress
from .names import resolve_and_check
from .policy import TargetPolicy, check_url

MAX_HEAD_BYTES: Final = 64 * 1024  # of an answer before its headers end (interim ones too)
MAX_IDLE: Final = 1024  # idle keep-alive connections kept, all origins together
KEEPALIVE_S: Final = 15.0  # an idle connection older than this is closed, not reused
DNS_TTL_S: Final = 60.0  # a name's checked addresses are reused this long
_ROUTES_MAX: Final = 4096  # URLs whose static check and request head are remembered
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class AnswerError(ConnectionError):
    """The receiver's answer was not HTTP/1.x, or the connection closed before it was complete."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-case, repeated headers joined with ", "
    body: bytes  # at most the client's body_cap bytes


@dataclass(frozen=True, slots=True)
class _Route:
    """A URL that passed the static check, and the start of every request to it."""

    origin: tuple[str, str, int]  # scheme, host, port: the keep-alive pool's key
    host: str
    port: int
    address: IPAddress | None  # the host, when it is an IP literal
    tls: bool
    head: bytes  # request line and Host header


class _Connection(asyncio.Protocol):
    """One connection; ``waiter`` is the pending request's answer."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.head_bytes = 0  # received while the answer's headers are not complete yet
        self.framed = False  # the answer says where its body ends (length or chunked)
        self.started = False  # the answer's headers are complete
        self.reusable = False
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start(self, waiter: asyncio.Future[Answer]) -> None:
        self.waiter = waiter
        self.status = 0
        self.headers = {}
        self.chunks = []
        self.size = 0
        self.head_bytes = 0
        self.started = self.reusable = False

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(AnswerError(f"the answer is not valid HTTP/1.1: {exc}"))
            self.close()
            return
        if not self.started:  # the body is capped; what comes before it must be too
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._fail(AnswerError(f"the answer's head is over {MAX_HEAD_BYTES} bytes"))
                self.close()
        elif self.size >= self.cap and not self.waiter.done():
            self._answer()  # the cap is reached: the rest is never read, the connection closed

    def on_message_begin(self) -> None:
        self.headers = {}
        self.chunks = []
        self.size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("utf-8", "replace")
        headers = self.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            return  # an interim answer: the real one follows
        self.status = status
        self.started = True
        self.framed = "content-length" in self.headers or (
            "chunked" in self.headers.get("transfer-encoding", "").lower()
        )

    def on_body(self, body: bytes) -> None:
        room = self.cap - self.size
        if room > 0:
            self.chunks.append(body if len(body) <= room else body[:room])
        self.size += len(body)

    def on_message_complete(self) -> None:
        if not self.started:
            return  # the end of an interim answer
        self.reusable = self.size <= self.cap and self.parser.should_keep_alive()
        self._answer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.started and not self.framed:
            self._answer()  # a close-delimited body ends with the connection
        else:
            cause = f" ({exc})" if exc else ""
            self._fail(AnswerError(f"the receiver closed the connection mid-answer{cause}"))

    def _answer(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
            self.waiter.set_result(Answer(status=self.status, headers=self.headers, body=body))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def expire(self) -> None:
        """The total timeout passed: no answer will do any more."""
        self._fail(TimeoutError("no complete answer within the total timeout"))
        self.close()

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class WireClient:
    """POSTs over guarded keep-alive connections, a pool per origin; use ``async with`` (or
    :meth:`close`). ``ssl_context``: the certificates trusted (the system's by default)."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        connect_timeout: float,
        total_timeout: float,
        body_cap: int,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = MAX_IDLE,
    ) -> None:
        self.policy = policy
        self._connect_timeout = connect_timeout
        self._total_timeout = total_timeout
        self._cap = body_cap
        self._ssl = ssl_context
        self._max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._idle_count = 0
        self._sweep_at = 0.0
        self._routes: dict[str, _Route] = {}
        self._routes_policy = policy
        self._names: dict[tuple[str, int], tuple[float, list[IPAddress]]] = {}
        self._lookups: dict[tuple[str, int], asyncio.Future[list[IPAddress]]] = {}
        self._closed = False

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None = None
    ) -> Answer:
        """POST ``body`` with ``headers`` (``host`` and ``content-length`` are added) to ``url``;
        ``timeout`` replaces the client's total timeout for this request."""
        route = self._route(url)
        text = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        if text.count("\n") != len(headers) or text.count("\r") != len(headers) or "\0" in text:
            raise ValueError("a request header contains a line break or NUL")
        request = b"%s%scontent-length: %d\r\n\r\n%s" % (
            route.head,
            text.encode("utf-8"),
            len(body),
            body,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._total_timeout if timeout is None else timeout)
        connection = self._reuse(route.origin)
        if connection is None:
            try:
                async with asyncio.timeout_at(min(deadline, loop.time() + self._connect_timeout)):
                    connection = await self._connect(route)
            except TimeoutError:  # said apart from an answer's, in the attempt log
                raise TimeoutError("no connection within the connect timeout") from None
        waiter: asyncio.Future[Answer] = loop.create_future()
        connection.start(waiter)
        timer = loop.call_at(deadline, connection.expire)
        try:
            connection.transport.write(request)  # type: ignore[union-attr]
            answer = await waiter
        except BaseException:
            connection.close()
            raise
        finally:
            timer.cancel()
            connection.waiter = None
        if connection.reusable and not connection.closed:
            self._keep(route.origin, connection)
        else:
            connection.close()
        return answer

    def _route(self, url: str) -> _Route:
        if self._routes_policy is not self.policy:  # replaced: forget what the old one allowed
            self._routes.clear()
            self._names.clear()
            self._drop_idle()
            self._routes_policy = self.policy
        route = self._routes.get(url)
        if route is None:
            checked = check_url(url, self.policy)
            parsed = URL(checked.url)
            authority = f"[{checked.host}]" if ":" in checked.host else checked.host
            if checked.port != _DEFAULT_PORTS[checked.scheme]:
                authority += f":{checked.port}"
            head = f"POST {parsed.raw_path_qs} HTTP/1.1\r\nhost: {authority}\r\n"
            route = _Route(
                origin=(checked.scheme, checked.host, checked.port),
                host=checked.host,
                port=checked.port,
                address=checked.address,
                tls=checked.scheme == "https",
                head=head.encode("ascii"),
            )
            if len(self._routes) >= _ROUTES_MAX:
                self._routes.clear()
            self._routes[url] = route
        return route

    def _reuse(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            fresh = now - connection.idle_since < KEEPALIVE_S
            if fresh and not connection.closed and not connection.transport.is_closing():  # type: ignore[union-attr]
                return connection
            connection.close()
        return None

    def _keep(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        now = time.monotonic()
        if now >= self._sweep_at:
            self._sweep(now)
        if self._closed or self._idle_count >= self._max_idle:
            connection.close()
            return
        connection.idle_since = now
        self._idle.setdefault(origin, []).append(connection)
        self._idle_count += 1

    def _sweep(self, now: float) -> None:
        """Close the connections idle for longer than :data:`KEEPALIVE_S`."""
        self._sweep_at = now + KEEPALIVE_S
        for origin, idle in list(self._idle.items()):
            fresh = [c for c in idle if not c.closed and now - c.idle_since < KEEPALIVE_S]
            for connection in idle:
                if connection not in fresh:
                    connection.close()
            self._idle_count -= len(idle) - len(fresh)
            if fresh:
                self._idle[origin] = fresh
            else:
                del self._idle[origin]

    async def _connect(self, route: _Route) -> _Connection:
        """A new connection to one of the route's checked addresses, tried in order."""
        addresses = await self._addresses(route)
        loop = asyncio.get_running_loop()
        context = None
        if route.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        failure: OSError | None = None
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._cap),
                    str(address),
                    route.port,
                    ssl=context,
                    server_hostname=route.host if context is not None else None,
                )
            except OSError as exc:
                failure = exc
                continue
            return connection
        raise failure or OSError(f"{route.host} has no address to connect to")

    async def _addresses(self, route: _Route) -> list[IPAddress]:
        if route.address is not None:
            return [route.address]  # checked with the URL
        key = (route.host, route.port)
        known = self._names.get(key)
        if known is not None and known[0] > time.monotonic():
            return known[1]  # checked under this policy (a new one forgets them)
        # One lookup of a name at a time, however many sends wait for it (a worker's first
        # sends to a new host, or every send when its answer expires): each would otherwise
        # take a thread of the loop's executor. A send that gives up does not cancel it.
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(key, self.policy))
            self._lookups[key] = lookup
            lookup.add_done_callback(lambda done: self._looked_up(key, done))
        return await asyncio.shield(lookup)

    async def _lookup(self, key: tuple[str, int], policy: TargetPolicy) -> list[IPAddress]:
        addresses = await resolve_and_check(key[0], key[1], policy)
        if policy is self.policy:  # not replaced meanwhile: its answer can be kept
            if len(self._names) >= _ROUTES_MAX:
                self._names.clear()
            self._names[key] = (time.monotonic() + DNS_TTL_S, addresses)
        return addresses

    def _looked_up(self, key: tuple[str, int], done: asyncio.Future[list[IPAddress]]) -> None:
        self._lookups.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have given up already

    def close(self) -> None:
        """Close the idle connections (those in use close when their request ends)."""
        self._closed = True
        self._drop_idle()

    def _drop_idle(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        self._idle_count = 0


__all__ = ["Answer", "AnswerError", "WireClient"]
