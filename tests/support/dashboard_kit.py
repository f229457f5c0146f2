"""Sample data for the dashboard's tests and screenshots, made through the API as a user
would: an endpoint to a local receiver, orders moved through their lifecycle, a provider's
lifecycle ingested out of order, and an order whose provider strings are hostile markup."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from tests.support.ingest_kit import make_source, send, webhook

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.apikeys import Scope
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.repository import KeyRepository
from rampwire.storage import Database
from rampwire.types import utcnow

S = OrderStatus
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def login(api: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await api.get("/ui/login")
    csrf = CSRF.search(form.text)
    assert csrf is not None
    return await api.post(
        "/ui/login", data={"csrf": csrf.group(1), "key": token, "next": "/ui/orders"}
    )


async def browser(api: httpx.AsyncClient, db: Database, scope: Scope) -> httpx.AsyncClient:
    """A client of the same app with no Authorization header, logged in with a new key."""
    _, token = await KeyRepository(db).create("operator", scope)
    client = httpx.AsyncClient(transport=api._transport, base_url="http://rampwire.test")
    answer = await login(client, token)
    assert answer.status_code == 303, answer.text
    return client


async def fill(api: httpx.AsyncClient, receiver_url: str) -> dict[str, Any]:
    """What the pages should show; returns the ids a test looks for."""
    response = await api.post(
        "/v1/endpoints",
        json={"url": receiver_url, "retry_policy": {"retry_delays": [], "jitter": 0}},
    )
    assert response.status_code == 201, response.text
    endpoint = response.json()
    response = await api.post("/v1/orders", json={"side": "buy"})
    assert response.status_code == 201, response.text
    order = response.json()["order"] if "order" in response.json() else response.json()
    for status in ("processing", "completed"):
        changed = await api.post(f"/v1/orders/{order['id']}/changes", json={"status": status})
        assert changed.status_code == 200, changed.text
    source = await make_source(api, Provider.REVOLUT)
    now = utcnow()
    provider_order = sample_order(DialectName("revolut"), S.CREATED, Side.BUY, now=now)
    steps = [S.CREATED, S.PROCESSING, S.COMPLETED]
    requests = [
        webhook(Provider.REVOLUT, provider_order, status, now=now + timedelta(seconds=i))
        for i, status in enumerate(steps)
    ]
    for request in (requests[0], requests[2], requests[1]):  # the middle one arrives last
        answer = await send(api, source["id"], request)
        assert answer.status_code == 200, answer.text
    hostile = sample_order(DialectName("revolut"), S.CREATED, Side.BUY, now=now).evolve(
        provider_order_id=HOSTILE
    )
    answer = await send(api, source["id"], webhook(Provider.REVOLUT, hostile, S.CREATED, now=now))
    assert answer.status_code == 200, answer.text
    found = await api.get("/v1/orders", params={"provider": "revolut"})
    by_ref = {o["provider_order_id"]: o["id"] for o in found.json()["data"]}
    return {
        "endpoint_id": endpoint["id"],
        "order_id": order["id"],
        "source_id": source["id"],
        "shuffled_order_id": by_ref[provider_order.provider_order_id],
        "hostile_order_id": by_ref.get(HOSTILE),
    }
