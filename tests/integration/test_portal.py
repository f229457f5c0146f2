"""The partner portal over HTTP, on both back-ends: portal links (one-time, expiring, refused
for a suspended partner and for keys that may not make them), what a portal session shows
(only its partner's objects), the portal's endpoint actions, and framing (frame-ancestors and
the cookie it needs)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from tests.support.partners import make_partner, partner_token
from tests.support.portal_kit import (
    csrf_of,
    open_portal,
    operator,
    portal_link,
    press_open,
    visitor,
)
from tests.support.receivers import Receiver, receiver

from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


async def _endpoint(api: httpx.AsyncClient, url: str, partner_id: str | None) -> str:
    body = {"url": url, "retry_policy": {"retry_delays": [], "jitter": 0}}
    if partner_id is not None:
        body["partner_id"] = partner_id
    answer = await api.post("/v1/endpoints", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_a_link_opens_one_session_that_shows_only_its_partner(
    settings: Settings, db: Database
) -> None:
    async with operator(settings, db) as api:
        a, b = await make_partner(api, "A"), await make_partner(api, "B")
        mine = await _endpoint(api, "http://127.0.0.1:9/a", a["id"])
        theirs = await _endpoint(api, "http://127.0.0.1:9/b", b["id"])
        operators = await _endpoint(api, "http://127.0.0.1:9/op", None)
        before = utcnow()
        link = await portal_link(api, a["id"])
        after = utcnow()
        assert link["url"].startswith("http://rampwire.test/ui/portal/open?token=rwp_")
        expires = datetime.fromisoformat(link["expires_at"])
        ttl = timedelta(seconds=settings.portal_link_ttl_s)
        assert before + ttl <= expires <= after + ttl and ttl == timedelta(hours=1)

        prefetcher = visitor(api)  # a link preview only GETs: the link is not spent
        for _ in range(2):
            seen = await prefetcher.get(link["url"])
            assert seen.status_code == 200 and "Open the portal" in seen.text
            assert seen.headers["referrer-policy"] == "origin"  # the token stays in its URL
            assert "rw_portal" not in seen.headers.get("set-cookie", "")

        browser = visitor(api)
        opened = await press_open(browser, link["url"])
        assert opened.status_code == 303 and opened.headers["location"] == "/ui/portal/endpoints"
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith("rw_portal=") and "Path=/ui/portal" in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        listing = await browser.get("/ui/portal/endpoints")
        assert listing.status_code == 200
        assert mine in listing.text and theirs not in listing.text and operators not in listing.text
        assert "frame-ancestors 'none'" in listing.headers["content-security-policy"]
        assert (await browser.get(f"/ui/portal/endpoints/{mine}")).status_code == 200
        for other in (theirs, operators):
            refused = await browser.get(f"/ui/portal/endpoints/{other}")
            assert refused.status_code == 404
            assert refused.headers["content-type"] == "application/problem+json"
        for page in ("/ui/overview", "/ui/orders", "/ui/endpoints", "/ui/inbound"):
            answer = await browser.get(page)  # the operator's pages: the login form
            assert answer.status_code == 303 and answer.headers["location"].startswith(
                "/ui/login"
            ), page

        again = await press_open(visitor(api), link["url"])
        assert again.status_code == 410 and "used already or has expired" in again.text
        assert "rw_portal" not in again.headers.get("set-cookie", "")
        forged = await visitor(api).post("/ui/portal/open", data={"token": "rwp_made_up"})
        assert forged.status_code == 410
        nobody = await visitor(api).get("/ui/portal/endpoints")
        assert nobody.status_code == 401 and "session has ended" in nobody.text


async def test_an_expired_link_opens_nothing(settings: Settings, db: Database) -> None:
    async with operator(settings.replace(portal_link_ttl_s=1), db) as api:
        partner = await make_partner(api)
        link = await portal_link(api, partner["id"])
        await asyncio.sleep(1.2)  # past the 1 s TTL
        answer = await press_open(visitor(api), link["url"])
        assert answer.status_code == 410 and "rw_portal" not in answer.headers.get("set-cookie", "")


async def test_who_may_make_links_and_a_suspended_partner_gets_none(
    settings: Settings, db: Database
) -> None:
    async with operator(settings, db) as api:
        partner = await make_partner(api)
        session = await open_portal(api, partner["id"])
        assert (await session.get("/ui/portal/endpoints")).status_code == 200
        _, read_token = await KeyRepository(db).create("reader", Scope.READ)
        as_reader = {"Authorization": f"Bearer {read_token}"}
        as_partner = {"Authorization": f"Bearer {await partner_token(api, partner['id'])}"}
        path = f"/v1/partners/{partner['id']}/portal-links"
        assert (await api.post(path, headers=as_reader)).status_code == 403
        assert (await api.post(path, headers=as_partner)).status_code == 403
        missing = await api.post("/v1/partners/ptn_01JB0000000000000000000000/portal-links")
        assert missing.status_code == 404
        assert (await api.post("/v1/partners/nope/portal-links")).status_code in (400, 422)

        unused = await portal_link(api, partner["id"])
        suspended = await api.patch(f"/v1/partners/{partner['id']}", json={"status": "suspended"})
        assert suspended.status_code == 200
        refused = await api.post(path)
        assert refused.status_code == 403 and refused.json()["reason"] == "partner_suspended"
        closed = await session.get("/ui/portal/endpoints")
        assert closed.status_code == 403 and "suspended" in closed.text
        assert (await press_open(visitor(api), unused["url"])).status_code == 403


async def test_the_portal_manages_its_partners_endpoints(
    settings: Settings, db: Database, hook: Receiver
) -> None:
    async with operator(settings, db) as api:
        partner = await make_partner(api)
        portal = await open_portal(api, partner["id"])
        csrf = await csrf_of(portal, "/ui/portal/endpoints/new")
        new = await portal.get("/ui/portal/endpoints/new")
        assert 'name="partner_id"' not in new.text and 'name="partners"' not in new.text
        bad = await portal.post(
            "/ui/portal/endpoints",
            data={"csrf": csrf, "url": hook.url, "event_types": "order.nothing", "sig_v1": "on"},
        )
        assert bad.status_code == 422
        assert re.search(r'id="err-event_types"[^>]*>[^<]*matches no event type', bad.text)
        made = await portal.post(
            "/ui/portal/endpoints",
            data={
                "csrf": csrf,
                "url": hook.url,
                "event_types": "order.*",
                "retry_policy": '{"retry_delays": [], "jitter": 0}',
                "sig_v1": "on",
                "enabled": "on",
            },
        )
        assert made.status_code == 303, made.text
        endpoint_id = made.headers["location"].split("/")[-1].split("?")[0]
        owned = await api.get(f"/v1/endpoints/{endpoint_id}")
        assert owned.json()["partner_id"] == partner["id"]

        sent = await portal.post(
            f"/ui/portal/endpoints/{endpoint_id}/test",
            data={"csrf": csrf, "event_type": "order.completed"},
        )
        assert sent.status_code == 303
        assert sent.headers["location"].startswith("/ui/portal/deliveries/dlv_")
        (request,) = await hook.wait_for(1)
        assert b'"type":"order.completed"' in request.body
        log = await portal.get(f"/ui/portal/deliveries?endpoint={endpoint_id}")
        assert log.status_code == 200 and "order.completed" in log.text
        assert "/ui/live/" not in log.text  # the operator's live stream is not the portal's

        page = await portal.get(f"/ui/portal/endpoints/{endpoint_id}")
        assert "whsec_" not in page.text  # not shown until asked for
        revealed = await portal.post(
            f"/ui/portal/endpoints/{endpoint_id}/secret", data={"csrf": csrf}
        )
        secret = (await api.get(f"/v1/endpoints/{endpoint_id}/secret")).json()["secrets"][0]
        assert revealed.status_code == 200 and secret["secret"] in revealed.text
        rotated = await portal.post(
            f"/ui/portal/endpoints/{endpoint_id}/rotate", data={"csrf": csrf}
        )
        assert rotated.status_code == 303
        assert len((await api.get(f"/v1/endpoints/{endpoint_id}/secret")).json()["secrets"]) == 2
        no_csrf = await portal.post(
            f"/ui/portal/endpoints/{endpoint_id}/rotate", data={"secret": ""}
        )
        assert no_csrf.status_code == 403
        types = await portal.get("/ui/portal/event-types")
        assert types.status_code == 200 and "order.completed" in types.text


async def test_portal_pages_may_be_framed_by_the_configured_origins_only(
    settings: Settings, db: Database
) -> None:
    framed = settings.replace(portal_frame_ancestors=("https://app.example.com",))
    async with operator(framed, db, base_url="https://rampwire.test") as api:
        partner = await make_partner(api)
        link = await portal_link(api, partner["id"])
        browser = visitor(api)
        landing = await browser.get(link["url"])
        csp = landing.headers["content-security-policy"]
        assert csp.endswith("frame-ancestors https://app.example.com")
        assert "x-frame-options" not in landing.headers
        opened = await press_open(browser, link["url"])
        cookie = opened.headers["set-cookie"]
        assert "SameSite=none" in cookie and "Secure" in cookie and "Partitioned" in cookie
        page = await browser.get("/ui/portal/endpoints")
        assert "frame-ancestors https://app.example.com" in page.headers["content-security-policy"]
        login = await browser.get("/ui/login")  # an operator page: never framed
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
        assert login.headers["x-frame-options"] == "DENY"
    async with operator(framed, db) as plain:  # over http: no SameSite=None cookie
        partner = await make_partner(plain, "plain")
        opened = await press_open(visitor(plain), (await portal_link(plain, partner["id"]))["url"])
        assert "SameSite=strict" in opened.headers["set-cookie"]


async def test_the_portal_delivery_log_merges_its_partners_endpoints_newest_first(
    settings: Settings, db: Database
) -> None:
    async with operator(settings.replace(run_worker=False), db) as api:
        partner = await make_partner(api)
        first = await _endpoint(api, "http://127.0.0.1:9/one", partner["id"])
        second = await _endpoint(api, "http://127.0.0.1:9/two", partner["id"])
        other = await _endpoint(api, "http://127.0.0.1:9/op", None)
        for _ in range(2):
            made = await api.post("/v1/orders", json={"side": "buy", "partner_id": partner["id"]})
            assert made.status_code == 201, made.text
        await api.post("/v1/orders", json={"side": "buy"})  # the operator's: not shown
        ids = []
        for endpoint_id in (first, second):
            listed = await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")
            ids += [d["id"] for d in listed.json()["data"]]
        assert len(ids) == 4
        portal = await open_portal(api, partner["id"])
        page = (await portal.get("/ui/portal/deliveries")).text
        shown = re.findall(r'href="/ui/portal/deliveries/(dlv_\w+)"', page)
        assert shown == sorted(ids, reverse=True)
        assert other not in page
        one = (await portal.get(f"/ui/portal/deliveries?endpoint={second}")).text
        listed = await api.get(f"/v1/endpoints/{second}/deliveries")
        assert re.findall(r'href="/ui/portal/deliveries/(dlv_\w+)"', one) == [
            d["id"] for d in listed.json()["data"]
        ]
