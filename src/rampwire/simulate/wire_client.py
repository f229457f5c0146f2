"""A lean HTTP/1.1 client for plain ``http://`` receivers: keep-alive connections, one request
in flight on each, responses parsed by httptools (uvicorn's parser).

Why not aiohttp for this: the simulator signs every request as it sends it, and as a load
generator it must still send as many per second as ``bench/ingest.py``'s generator, which signs
before the clock starts; aiohttp's client costs several times more CPU per request than writing
the bytes and parsing the status line. ``https://`` URLs go through aiohttp
(:func:`~rampwire.simulate.runner.http_sender`). Only the status is kept; redirects are not
followed (a provider does not follow them).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final
from urllib.parse import urlsplit

import httptools

from ..dialects.base import WireRequest

MAX_IDLE: Final = 1024  # idle connections kept


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``answer`` is the pending request's future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[int | None] | None = None
        self.status = 0
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._finish(None)
            self.close()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.reusable = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            return  # an interim answer: the real one follows
        self._finish(self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._finish(None)

    def _finish(self, status: int | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(status)

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class WireClient:
    """POSTs to one ``http://`` URL over at most ``connections`` keep-alive connections."""

    def __init__(self, url: str, *, connections: int, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the lean client takes http:// URLs, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = parts.netloc.rpartition("@")[2]
        self.head = f"POST {target} HTTP/1.1\r\nhost: {authority}\r\n".encode("latin-1")
        self.timeout = timeout
        self.slots = asyncio.Semaphore(max(1, connections))
        self.idle: list[_Connection] = []

    async def send(self, request: WireRequest) -> int | None:
        """The answer's status, or None: no answer in time, or the connection failed."""
        async with self.slots:
            connection = self.idle.pop() if self.idle else None
            try:
                async with asyncio.timeout(self.timeout):
                    if connection is None:
                        connection = await self._connect()
                    status = await self._exchange(connection, request)
            except (OSError, TimeoutError):
                status = None
            if connection is not None:
                if status is not None and connection.reusable and len(self.idle) < MAX_IDLE:
                    connection.parser = httptools.HttpResponseParser(connection)
                    self.idle.append(connection)
                else:
                    connection.close()
            return status

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, self.host, self.port)
        return protocol

    async def _exchange(self, connection: _Connection, request: WireRequest) -> int | None:
        if connection.transport is None or connection.transport.is_closing():
            return None
        answer: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        connection.answer = answer
        lines = [self.head]
        for name, value in request.headers.items():
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(b"content-length: %d\r\n\r\n" % len(request.body))
        lines.append(request.body)
        connection.transport.write(b"".join(lines))
        return await answer

    def close(self) -> None:
        while self.idle:
            with contextlib.suppress(Exception):
                self.idle.pop().close()
