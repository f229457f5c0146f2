"""Sending a simulated provider's requests to an ASGI app in-process, no socket in between.

:func:`asgi_sender` makes a :data:`~rampwire.simulate.runner.Send` that calls the app with an
HTTP scope for each request; :func:`lifespan` runs the app's startup and shutdown around a run,
for apps (such as rampwire's) that build their state there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, Final

from ..dialects.base import WireRequest
from ..simulate.runner import Send

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Emit = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Emit], Awaitable[None]]

CLIENT: Final = ("127.0.0.1", 50000)  # the peer address the app sees
SERVER: Final = ("rampwire.test", 80)


def asgi_sender(app: ASGIApp, path: str) -> Send:
    """POST each request to ``path`` of ``app``; the answer's status, or None if it raised."""

    async def send(request: WireRequest) -> int | None:
        target, _, query = path.partition("?")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": target,
            "raw_path": target.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [
                (b"host", SERVER[0].encode()),
                (b"content-length", str(len(request.body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in request.headers.items()),
            ],
            "client": CLIENT,
            "server": SERVER,
        }
        sent = False
        status: list[int] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # the body is over: wait as a server would
            sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}

        async def emit(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))

        try:
            await app(scope, receive, emit)
        except Exception:  # an app that raises answers nothing, as a server would show a 500
            return None
        return status[0] if status else None

    return send


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run ``app``'s lifespan startup before and shutdown after the block."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        return await inbox.get()

    async def emit(message: Message) -> None:
        await outbox.put(message)

    async def run() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, emit)

    task = asyncio.create_task(run())
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        task.cancel()
        raise RuntimeError(f"the app did not start: {started.get('message', started['type'])}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task
