"""An authorization callback server for tests (a partner's, on 127.0.0.1), and setting it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web


@dataclass
class Partner:
    url: str = ""
    answer: Any = True
    seen: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)


@asynccontextmanager
async def partner() -> AsyncIterator[Partner]:
    state = Partner()

    async def handle(request: web.Request) -> web.Response:
        state.seen.append(await request.json())
        state.auth.append(request.headers.get("Authorization"))
        return web.json_response(state.answer)

    app = web.Application()
    app.router.add_post("/authorize", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/authorize"  # type: ignore[union-attr]
    try:
        yield state
    finally:
        await runner.cleanup()


async def configure(
    api: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    body = {
        "url": url,
        "auth": {"method": "bearer", "token": "partner-jwt"},
        "cache_ttl_seconds": 0,
    }
    return await api.put("/v1/authorization", json={**body, **extra}, headers=headers)
