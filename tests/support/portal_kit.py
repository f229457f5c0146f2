"""The partner portal for tests: an app with portal settings, a link made through the API,
and a browser-like client that opened it (landing page, then the button's POST)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from tests.support.apps import api_client
from tests.support.dashboard_kit import CSRF

from rampwire.domain.apikeys import Scope
from rampwire.settings import Settings
from rampwire.storage import Database

BASE_URL = "http://rampwire.test"


@asynccontextmanager
async def operator(
    settings: Settings, db: Database, *, base_url: str = BASE_URL
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin operator client of an app made with ``settings`` (with a worker)."""
    async with api_client(settings, db, Scope.ADMIN, name="operator", base_url=base_url) as client:
        yield client


async def portal_link(api: httpx.AsyncClient, partner_id: str) -> dict[str, Any]:
    answer = await api.post(f"/v1/partners/{partner_id}/portal-links")
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def visitor(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client of the same app with no key and no cookie: a browser."""
    return httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url))


async def press_open(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """Open a portal link as a person does: its page, then the button (a POST of the token)."""
    landing = await client.get(url)
    assert landing.status_code == 200, landing.text
    token = url.split("token=", 1)[1]
    assert f'value="{token}"' in landing.text
    return await client.post("/ui/portal/open", data={"token": token})


async def open_portal(api: httpx.AsyncClient, partner_id: str) -> httpx.AsyncClient:
    """A browser in the partner's portal."""
    client = visitor(api)
    opened = await press_open(client, (await portal_link(api, partner_id))["url"])
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == "/ui/portal/endpoints"
    return client


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = CSRF.search(page.text)
    assert found is not None, (path, page.status_code, page.text[:300])
    return found.group(1)
