"""A real HTTP receiver on 127.0.0.1 for delivery tests, scripted per request; and a raw TCP
server for receivers that misbehave in ways an HTTP framework would not let them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[Received], int] = lambda _: 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.requests


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(url="")

    async def handle(request: web.Request) -> web.Response:
        got = Received(headers=dict(request.headers), body=await request.read())
        state.requests.append(got)
        state.arrived.set()
        status = state.answer(got)
        return web.Response(status=status, text=f"answered {status}")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield state
    finally:
        await runner.cleanup()


@dataclass
class RawServer:
    """A bare TCP server: what it answers is up to its handler, HTTP or not."""

    url: str
    connections: int = 0


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handle: Handler) -> AsyncIterator[RawServer]:
    """Run ``handle`` for each connection to 127.0.0.1 (port 0); on exit, close the listener and
    every connection, cancelling handlers that are still running (one that hangs, say)."""
    state = RawServer(url="")
    running: set[asyncio.Task[Any]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        state.connections += 1
        try:
            await handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client went away: what misbehaving servers see
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            running.discard(task)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield state
    finally:
        server.close()
        for task in list(running):
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 request with a Content-Length body: (head, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)
