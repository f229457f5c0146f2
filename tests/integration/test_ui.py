"""The dashboard over HTTP, on both back-ends: log in and out, every page with sample data,
CSRF on every form, replay, escaping of provider strings, and no asset from elsewhere."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.support.dashboard_kit import CSRF, HOSTILE, browser, fill, login
from tests.support.receivers import Receiver, receiver

from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.storage import Database


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


async def test_login_sets_a_strict_httponly_cookie_and_logout_ends_it(
    api: httpx.AsyncClient, db: Database
) -> None:
    assert (await api.get("/ui/overview")).headers["location"].startswith("/ui/login")
    _, token = await KeyRepository(db).create("operator", Scope.ADMIN)
    client = httpx.AsyncClient(transport=api._transport, base_url="http://rampwire.test")
    answer = await login(client, token)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/orders"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("rw_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert "Secure" not in cookie  # plain http here; https gets Secure
    page = await client.get("/ui/overview")
    assert page.status_code == 200 and "Delivery attempts" in page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    out = await client.post("/ui/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303
    assert (await client.get("/ui/overview")).status_code == 303


async def test_a_bad_key_is_refused_and_a_revoked_key_ends_its_sessions(
    api: httpx.AsyncClient, db: Database
) -> None:
    client = httpx.AsyncClient(transport=api._transport, base_url="http://rampwire.test")
    refused = await login(client, "rw_not_a_key")
    assert refused.status_code == 401 and "unknown or revoked" in refused.text
    assert "rw_session" not in refused.headers.get("set-cookie", "")
    no_token = await client.post("/ui/login", data={"key": "rw_x"})
    assert no_token.status_code == 403  # no CSRF token: nothing checked
    keys = KeyRepository(db)
    key, token = await keys.create("operator", Scope.READ)
    assert (await login(client, token)).status_code == 303
    assert (await client.get("/ui/overview")).status_code == 200
    await keys.revoke(key.id)
    assert (await client.get("/ui/overview")).status_code == 303


async def test_a_forged_or_tampered_cookie_is_not_a_session(api: httpx.AsyncClient) -> None:
    client = httpx.AsyncClient(
        transport=api._transport,
        base_url="http://rampwire.test",
        cookies={"rw_session": "eyJrIjoia2V5XzAwIn0.forged.sig"},
    )
    assert (await client.get("/ui/orders")).status_code == 303


async def test_every_page_renders_the_sample_data_escaped_and_self_contained(
    api: httpx.AsyncClient, admin_api: httpx.AsyncClient, db: Database, hook: Receiver
) -> None:
    ids = await fill(admin_api, hook.url)
    await hook.wait_for(3)
    client = await browser(api, db, Scope.ADMIN)
    deliveries = await client.get("/ui/deliveries")
    delivery_id = re.search(r'href="/ui/deliveries/(dlv_\w+)"', deliveries.text)
    assert delivery_id is not None
    pages = [
        "/ui/overview",
        "/ui/orders",
        f"/ui/orders/{ids['order_id']}",
        f"/ui/orders/{ids['shuffled_order_id']}",
        f"/ui/orders/{ids['hostile_order_id']}",
        "/ui/deliveries",
        f"/ui/deliveries/{delivery_id.group(1)}",
        "/ui/inbound",
        "/ui/orders?provider=revolut&status=completed",
    ]
    for path in pages:
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert HOSTILE not in page.text and "<img src=x" not in page.text, path
        assert "<script>" not in page.text, path
        assert re.findall(r'(?:src|href|action)="(?:https?:)?//', page.text) == [], path
    inbound = (await client.get("/ui/inbound")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in inbound
    lanes = (await client.get(f"/ui/orders/{ids['shuffled_order_id']}")).text
    assert 'class="lanes"' in lanes and "late" in lanes
    search = await client.get("/ui/orders", params={"q": HOSTILE})
    assert search.status_code == 303
    assert search.headers["location"] == f"/ui/orders/{ids['hostile_order_id']}"
    for asset in ("ui.css", "ui.js"):
        found = await client.get(f"/ui/static/{asset}")
        assert found.status_code == 200 and "http" not in found.text


async def test_the_order_page_names_the_orders_partner(
    api: httpx.AsyncClient, admin_api: httpx.AsyncClient, db: Database
) -> None:
    partner = (await admin_api.post("/v1/partners", json={"name": "Acme"})).json()
    theirs = await admin_api.post("/v1/orders", json={"side": "buy", "partner_id": partner["id"]})
    ours = (await admin_api.post("/v1/orders", json={"side": "buy"})).json()
    client = await browser(api, db, Scope.ADMIN)
    page = (await client.get(f"/ui/orders/{theirs.json()['id']}")).text
    assert f'<dt>partner</dt><dd><a href="/ui/partners/{partner["id"]}">' in page
    page = (await client.get(f"/ui/orders/{ours['id']}")).text
    assert '<dt>partner</dt><dd><span class="muted">none (the operator\'s)</span>' in page


async def test_replay_needs_the_csrf_token_and_a_write_key(
    api: httpx.AsyncClient, admin_api: httpx.AsyncClient, db: Database, hook: Receiver
) -> None:
    await fill(admin_api, hook.url)
    await hook.wait_for(3)
    client = await browser(api, db, Scope.WRITE)
    listing = await client.get("/ui/deliveries")
    delivery_id = re.search(r'href="/ui/deliveries/(dlv_\w+)"', listing.text)
    assert delivery_id is not None
    path = f"/ui/deliveries/{delivery_id.group(1)}"
    page = await client.get(path)
    csrf = CSRF.search(page.text)
    assert csrf is not None
    refused = await client.post(f"{path}/replay", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    foreign = await client.post(
        f"{path}/replay", data={"csrf": csrf.group(1)}, headers={"origin": "https://evil.test"}
    )
    assert foreign.status_code == 403
    before = len(hook.requests)
    done = await client.post(f"{path}/replay", data={"csrf": csrf.group(1)})
    assert done.status_code == 303 and "/ui/deliveries/dlv_" in done.headers["location"]
    await hook.wait_for(before + 1)
    replay = await client.get(done.headers["location"])
    assert "Done: replay of" in replay.text
    reader = await browser(api, db, Scope.READ)
    read_page = await reader.get(path)
    assert "/replay" not in read_page.text  # no button for a read key
    read_csrf = CSRF.search(read_page.text)
    assert read_csrf is not None
    assert (
        await reader.post(f"{path}/replay", data={"csrf": read_csrf.group(1)})
    ).status_code == 403


async def test_bad_filters_are_problems_not_errors(api: httpx.AsyncClient, db: Database) -> None:
    client = await browser(api, db, Scope.READ)
    for path in (
        "/ui/orders?status=nope",
        "/ui/orders?from=yesterday",
        "/ui/deliveries?status=<b>",
        "/ui/inbound?outcome=x",
    ):
        answer = await client.get(path)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert (await client.get("/ui/orders/ord_nothing")).status_code == 404
    assert (await client.get("/ui/static/../../settings.py")).status_code == 404
