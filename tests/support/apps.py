"""rampwire's app in this process: its lifespan run, and an HTTP client that sends requests to
it through httpx's ASGI transport (no socket), authenticated with a key of its database.

    async with api_client(settings, db, Scope.ADMIN) as api: ...          # the usual case
    app = create_app(settings, db=db)                                      # when the test
    async with in_process(app, await api_key(db, Scope.WRITE)) as api: ... # needs the app too
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from rampwire.api import create_app
from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.settings import Settings
from rampwire.storage import Database

BASE_URL = "http://rampwire.test"


async def api_key(db: Database, scope: Scope, name: str = "tests") -> str:
    """A new API key of ``db`` with ``scope``: its token."""
    _, token = await KeyRepository(db).create(name, scope)
    return token


@asynccontextmanager
async def in_process(
    app: FastAPI,
    token: str | None = None,
    *,
    base_url: str = BASE_URL,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` started (its lifespan) and a client of it, sending ``token`` as its bearer key
    when one is given; the app is stopped when the block ends. With ``raise_app_exceptions``
    off, the client gets the 500 a server would send for an unexpected error, not the error."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as client,
    ):
        yield client


@asynccontextmanager
async def api_client(
    settings: Settings,
    db: Database,
    scope: Scope = Scope.WRITE,
    *,
    name: str = "tests",
    base_url: str = BASE_URL,
    **app_options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app made with ``settings`` on ``db`` (``app_options`` go to
    ``create_app``), holding a new key of ``scope``."""
    app = create_app(settings, db=db, **app_options)
    async with in_process(app, await api_key(db, scope, name), base_url=base_url) as client:
        yield client
