"""Provider endpoints: each provider's retry policy by default, and the events a provider's
format cannot carry.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
from tests.support.provider_endpoints import (
    PROVIDERS,
    SLACK_S,
    after_attempts,
    change,
    deliveries_of,
    delivery,
    eventually,
    final,
    hurry,
    lowered,
    make_endpoint,
    make_order,
    scheduled_wait,
)
from tests.support.receivers import receiver

from rampwire.dialects import get_dialect
from rampwire.domain.events import Source
from rampwire.domain.lifecycle import Change
from rampwire.domain.orders import OrderStatus
from rampwire.repository import OrderRepository
from rampwire.storage import Database
from rampwire.types import utcnow

# --- 4: each provider's retry policy, by default ------------------------------------------


async def test_revolut_retries_three_times_on_its_own_ladder_then_the_delivery_is_dead(
    api: httpx.AsyncClient,
) -> None:
    since = utcnow() - timedelta(minutes=1)
    async with receiver() as hooks:
        hooks.answer = lambda _: 500
        endpoint = await make_endpoint(
            api, hooks.url, dialect="revolut", event_types=["order.created"]
        )
        await make_order(api)
        # 30 s, 5 min, 30 min, each ±20 %; the replay API makes each retry due at once
        for made, delay in enumerate((30, 300, 1800), start=1):
            found = await after_attempts(api, endpoint["id"], made)
            assert found["status"] == "retrying" and found["last_status_code"] == 500
            wait = await scheduled_wait(api, found)
            assert delay * 0.8 <= wait <= delay * 1.2 + SLACK_S, (made, wait)
            await hurry(api, endpoint["id"], since)
        dead = await after_attempts(api, endpoint["id"], 4)
        assert dead["status"] == "dead" and dead["next_attempt_at"] is None
        log = (await delivery(api, dead["id"]))["attempt_log"]
    assert [a["error_class"] for a in log] == ["http_status"] * 4
    assert [a["response"]["status"] for a in log] == [500] * 4
    assert len(hooks.requests) == 4
    assert all("revolut-signature" in lowered(r.headers) for r in hooks.requests)


async def test_fireblocks_gives_up_on_a_4xx_but_408_and_429_and_its_exact_ladder(
    api: httpx.AsyncClient,
) -> None:
    since = utcnow() - timedelta(minutes=1)
    async with AsyncExitStack() as stack:
        hooks = {}
        endpoints = {}
        for code in (400, 408, 429, 503):
            hook = hooks[code] = await stack.enter_async_context(receiver())
            hook.answer = lambda _, code=code: code  # type: ignore[misc]
            endpoints[code] = await make_endpoint(
                api, hook.url, dialect="fireblocks", event_types=["order.created"]
            )
        revolut_hook = await stack.enter_async_context(receiver())
        revolut_hook.answer = lambda _: 400
        revolut = await make_endpoint(
            api, revolut_hook.url, dialect="revolut", event_types=["order.created"]
        )
        await make_order(api)

        rejected = await after_attempts(api, endpoints[400]["id"], 1)
        assert rejected["status"] == "dead" and rejected["next_attempt_at"] is None
        assert rejected["last_status_code"] == 400
        # no jitter: Fireblocks' first delay is 10 s; a 429 waits at least the 60 s floor
        for code, delay in ((408, 10), (429, 60), (503, 10)):
            found = await after_attempts(api, endpoints[code]["id"], 1)
            assert found["status"] == "retrying" and found["last_status_code"] == code
            wait = await scheduled_wait(api, found)
            assert delay <= wait <= delay + SLACK_S, (code, wait)
        # Revolut retries a 400 like any error
        found = await after_attempts(api, revolut["id"], 1)
        assert found["status"] == "retrying"
        assert 30 * 0.8 <= await scheduled_wait(api, found) <= 30 * 1.2 + SLACK_S
        # the second rung of Fireblocks' ladder, exactly 30 s
        await hurry(api, endpoints[503]["id"], since)
        again = await after_attempts(api, endpoints[503]["id"], 2)
        assert again["status"] == "retrying"
        assert 30 <= await scheduled_wait(api, again) <= 30 + SLACK_S
        assert len(hooks[400].requests) == 1 and len(hooks[503].requests) == 2


# --- 5: what a provider format cannot carry ------------------------------------------------


async def test_an_event_the_dialect_cannot_express_is_dead_at_once_and_never_sent(
    api: httpx.AsyncClient,
) -> None:
    revolut = get_dialect("revolut")
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, dialect="revolut", event_types=["order.*"])
        sell = await make_order(api, "sell")  # Revolut is on-ramp only
        [dead] = await final(api, endpoint["id"], 1)
        assert (dead["status"], dead["attempts"], dead["order_id"]) == ("dead", 1, sell["id"])
        assert dead["next_attempt_at"] is None and dead["last_status_code"] is None
        [attempt] = (await delivery(api, dead["id"]))["attempt_log"]
        assert attempt["error_class"] == "unencodable" and attempt["response"] is None
        assert "revolut" in attempt["error"] and "sell" in attempt["error"]
        assert attempt["request"]["headers"] == {}  # nothing was signed, nothing was sent
        assert hooks.requests == []

        buy = await make_order(api, "buy")  # the endpoint itself works
        [got] = await hooks.wait_for(1)
        data = await final(api, endpoint["id"], 2)
        assert sorted(d["status"] for d in data) == ["dead", "succeeded"]
    credentials = revolut.credentials_from_secrets([endpoint["secret"]])
    [event] = revolut.decode(got.headers, got.body, credentials, now=utcnow())
    assert event.provider_order_id == buy["id"]
    assert len(hooks.requests) == 1  # the sell order never arrived


async def test_an_event_never_sent_does_not_mark_the_receiver_as_failing(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, dialect="revolut", event_types=["order.*"])
        await make_order(api, "sell")
        [dead] = await final(api, endpoint["id"], 1)
        assert dead["status"] == "dead" and hooks.requests == []
        state = (await api.get(f"/v1/endpoints/{endpoint['id']}")).json()
    assert state["enabled"] is True
    assert state["failing_since"] is None


async def test_anomalies_and_endpoint_events_are_never_fanned_out_to_provider_endpoints(
    api: httpx.AsyncClient, db: Database
) -> None:
    async with receiver() as hooks, receiver() as gone:
        gone.answer = lambda _: 410
        # every provider dialect but Fireblocks, whose first send costs an RSA key: the rule
        # (Dialect.can_encode) is the same for all five
        providers = {
            name: await make_endpoint(api, hooks.url, dialect=name, event_types=["*"])
            for name in PROVIDERS
            if name != "fireblocks"
        }
        control = await make_endpoint(api, hooks.url, event_types=["*"])  # standard
        await make_endpoint(api, gone.url, event_types=["order.created"])  # will be disabled
        order = await make_order(api)
        await change(api, order["id"], {"status": "failed"})
        # a provider then says completed: a terminal conflict, recorded with order.anomaly
        now = utcnow()
        result = await OrderRepository(db).change(
            order["id"],
            Change(occurred_at=now, status=OrderStatus.COMPLETED),
            source=Source(provider="koywe", provider_event="crypto_delivered", received_at=now),
            strict=False,
            now=now,
        )
        completed, anomaly = result.events
        assert (completed.type, anomaly.type) == ("order.completed", "order.anomaly")

        async def to(event_id: str) -> set[str]:
            response = await api.get(f"/v1/events/{event_id}/deliveries")
            assert response.status_code == 200, response.text
            return {d["endpoint_id"] for d in response.json()["data"]}

        every = {control["id"], *(e["id"] for e in providers.values())}
        assert await to(completed.id) == every
        assert await to(anomaly.id) == {control["id"]}

        async def disabled_event() -> str | None:
            for item in await deliveries_of(api, control["id"]):
                if item["event_type"] == "endpoint.disabled":
                    return str(item["event_id"])
            return None

        assert await to(await eventually(disabled_event)) == {control["id"]}
        async with db.connection() as conn:
            stray = await conn.fetchval(
                "SELECT COUNT(*) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id"
                " WHERE e.dialect <> 'standard'"
                " AND d.event_type IN ('order.anomaly', 'order.stuck', 'endpoint.disabled')"
            )
        assert stray == 0
        await final(api, control["id"], 5)
