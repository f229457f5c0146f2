"""The authorization callback through the API: configuration, and the check before a buy, a
sell or a read, against a real partner server on 127.0.0.1."""

from __future__ import annotations

import httpx
from tests.support.apps import api_client
from tests.support.callbacks import configure, partner

from rampwire.domain.apikeys import Scope
from rampwire.settings import Settings
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database

ORDER = {"side": "buy", "references": {"user_email": "ana@example.com"}}


async def counts(db: Database) -> tuple[int, int]:
    async with db.connection() as conn:
        orders = await conn.fetchval("SELECT COUNT(*) FROM orders")
        decisions = await conn.fetchval("SELECT COUNT(*) FROM authorization_decisions")
    return int(orders), int(decisions)


async def test_allowed_and_refused_buys(admin_api: httpx.AsyncClient, db: Database) -> None:
    async with partner() as remote:
        configured = await configure(admin_api, remote.url)
        assert configured.status_code == 200, configured.text
        shown = (await admin_api.get("/v1/authorization")).json()
        assert "partner-jwt" not in str(shown) and shown["auth"]["token_set"] is True

        created = await admin_api.post("/v1/orders", json=ORDER)
        assert created.status_code == 201
        assert remote.seen[-1]["email"] == "ana@example.com"
        assert remote.seen[-1]["operation"] == "buy"
        assert remote.auth[-1] == "Bearer partner-jwt"

        remote.answer = {"allowed": False}
        before = await counts(db)
        refused = await admin_api.post("/v1/orders", json=ORDER)
        assert refused.status_code == 403
        problem = refused.json()
        assert problem["type"].endswith("user_not_allowed") and problem["reason"]
        orders, decisions = await counts(db)
        assert orders == before[0] and decisions == before[1] + 1

        log = (await admin_api.get("/v1/authorization/decisions")).json()["data"]
        assert [d["allowed"] for d in log[:2]] == [False, True]
        assert all("latency_ms" in d and d["outcome"] for d in log)
        # the allowed decision names the order it let through; the refusal made none
        assert [d["order_id"] for d in log[:2]] == [None, created.json()["id"]]
        mine = await admin_api.get(
            "/v1/authorization/decisions", params={"order_id": created.json()["id"]}
        )
        assert [d["id"] for d in mine.json()["data"]] == [log[1]["id"]]


async def test_reads_are_checked_and_disabled_operations_are_not(
    admin_api: httpx.AsyncClient,
) -> None:
    async with partner() as remote:
        await configure(admin_api, remote.url, operations=["buy", "read"])
        order = (await admin_api.post("/v1/orders", json=ORDER)).json()
        remote.answer = "false"
        read = await admin_api.get(f"/v1/orders/{order['id']}")
        assert read.status_code == 403
        assert remote.seen[-1]["operation"] == "read"
        timeline = await admin_api.get(f"/v1/orders/{order['id']}/timeline")
        assert timeline.status_code == 403
        calls = len(remote.seen)
        sell = await admin_api.post("/v1/orders", json={**ORDER, "side": "sell"})
        assert sell.status_code == 201 and len(remote.seen) == calls  # sell is not checked


async def test_a_dead_partner_fails_closed(admin_api: httpx.AsyncClient, db: Database) -> None:
    async with partner() as remote:
        dead_url = remote.url
    await configure(admin_api, dead_url, timeout_seconds=1)
    before = await counts(db)
    refused = await admin_api.post("/v1/orders", json=ORDER)
    assert refused.status_code == 403
    assert (await counts(db))[0] == before[0]


async def test_bad_configuration_and_missing_subject(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    for body, field_name in [
        ({"url": "ftp://x", "auth": {"method": "bearer", "token": "t"}}, "url"),
        ({"url": "http://127.0.0.1:9/a", "auth": {"method": "bearer"}}, "token"),
        ({"url": "http://127.0.0.1:9/a", "auth": {"method": "basic", "token": "t"}}, "auth"),
        ({"url": "http://127.0.0.1:9/a", "auth": {"method": "magic"}}, "auth"),
        ({"url": "http://127.0.0.1:9/a", "auth": {"method": "bearer", "token": "t"},
          "timeout_seconds": -1}, "timeout"),
    ]:  # fmt: skip
        response = await admin_api.put("/v1/authorization", json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert field_name in response.text
    assert (await admin_api.get("/v1/authorization")).status_code == 404
    async with partner() as remote:
        await configure(admin_api, remote.url)
        before = await counts(db)
        anonymous = await admin_api.post("/v1/orders", json={"side": "buy"})
        assert anonymous.status_code == 422 and "user_email" in anonymous.text
        assert await counts(db) == before and remote.seen == []
    assert (await admin_api.delete("/v1/authorization")).status_code == 204
    assert (await admin_api.post("/v1/orders", json={"side": "buy"})).status_code == 201


async def test_the_callback_url_follows_the_target_policy_when_it_is_set(
    settings: Settings, db: Database
) -> None:
    """Loopback, private and metadata URLs are refused at PUT time (422 naming ``url``, nothing
    stored), as an endpoint's URL is, not only when the callback is called."""
    strict = settings.replace(target_policy=TargetPolicy(), run_worker=False)
    async with api_client(strict, db, Scope.ADMIN, name="admin") as admin:
        for url in (
            "http://127.0.0.1:9/authorize",
            "http://localhost/authorize",
            "http://10.1.2.3/authorize",
            "http://[::1]/authorize",
            "http://169.254.169.254/latest/meta-data",
        ):
            refused = await configure(admin, url)
            assert refused.status_code == 422, (url, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in refused.json()["errors"]] == ["url"], url
        assert (await admin.get("/v1/authorization")).status_code == 404
