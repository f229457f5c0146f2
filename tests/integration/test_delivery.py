"""The delivery engine end to end: API → outbox → worker → a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook
from tests.support.receivers import Received, receiver

from rampwire.domain.deliveries import BODY_CAP_BYTES
from rampwire.storage import Database

FAST = {"retry_delays": [0.05, 0.05, 0.05], "jitter": 0.0}


async def make_endpoint(api: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    response = await api.post("/v1/endpoints", json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_order(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post("/v1/orders", json={"side": "buy"})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def settled(api: httpx.AsyncClient, endpoint_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``count`` deliveries of the endpoint are final."""
    async with asyncio.timeout(20):
        while True:
            data = (await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")).json()["data"]
            final = [d for d in data if d["status"] in ("succeeded", "dead", "cancelled")]
            if len(final) >= count:
                return data  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def test_a_change_is_delivered_signed_the_standard_webhooks_way(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, event_types=["order.*"])
        order = await make_order(api)
        await api.post(f"/v1/orders/{order['id']}/changes", json={"status": "completed"})
        got = await hooks.wait_for(2)
        verifier = Webhook(endpoint["secret"])
        types = []
        for request in got:
            payload = verifier.verify(request.body, request.headers)
            assert request.headers["webhook-id"] == payload["id"]
            types.append(payload["type"])
        assert sorted(types) == ["order.completed", "order.created"]
        deliveries = await settled(api, endpoint["id"], 2)
        assert {d["status"] for d in deliveries} == {"succeeded"}
        detail = (await api.get(f"/v1/deliveries/{deliveries[0]['id']}")).json()
        assert detail["attempt_log"][0]["response"]["status"] == 200
        assert detail["attempt_log"][0]["error_class"] is None


async def test_the_attempt_log_shows_the_body_sent_capped(api: httpx.AsyncClient) -> None:
    """The log shows the bytes sent, the first BODY_CAP_BYTES of them, not null."""
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, event_types=["order.created"])
        small = await make_order(api)
        big_metadata = {f"k{i}": "x" * 500 for i in range(50)}  # ~25 KiB of JSON
        big = await api.post("/v1/orders", json={"side": "buy", "metadata": big_metadata})
        assert big.status_code == 201, big.text
        await hooks.wait_for(2)
        deliveries = await settled(api, endpoint["id"], 2)
    sent = {json.loads(r.body)["data"]["order"]["id"]: r.body for r in hooks.requests}
    assert len(sent[big.json()["id"]]) > BODY_CAP_BYTES
    for delivery in deliveries:
        detail = (await api.get(f"/v1/deliveries/{delivery['id']}")).json()
        logged = detail["attempt_log"][0]["request"]["body"]
        body = sent[delivery["order_id"]]
        assert logged == body[:BODY_CAP_BYTES].decode()
    assert small["id"] in sent


async def test_retries_then_dead_then_replay(api: httpx.AsyncClient) -> None:
    async with receiver() as hooks:
        hooks.answer = lambda _: 503
        endpoint = await make_endpoint(api, hooks.url, retry_policy=FAST)
        await make_order(api)
        [dead] = await settled(api, endpoint["id"], 1)
        assert dead["status"] == "dead" and dead["attempts"] == 4
        assert len(hooks.requests) == 4
        ids = {r.headers["webhook-id"] for r in hooks.requests}
        assert len(ids) == 1  # the event id is stable across retries
        log = (await api.get(f"/v1/deliveries/{dead['id']}")).json()["attempt_log"]
        assert [a["error_class"] for a in log] == ["http_status"] * 4

        hooks.answer = lambda _: 204
        replay = await api.post(f"/v1/deliveries/{dead['id']}/replay")
        assert replay.status_code == 201
        await hooks.wait_for(5)
        data = await settled(api, endpoint["id"], 2)
        assert sorted(d["status"] for d in data) == ["dead", "succeeded"]


async def test_410_disables_the_endpoint_and_announces_it(api: httpx.AsyncClient) -> None:
    async with receiver() as gone, receiver() as watcher:
        endpoint = await make_endpoint(api, gone.url)
        await make_endpoint(api, watcher.url, event_types=["endpoint.*"])
        gone.answer = lambda _: 410
        await make_order(api)
        [announcement] = await watcher.wait_for(1)
        event = json.loads(announcement.body)
        assert event["type"] == "endpoint.disabled"
        assert event["data"]["endpoint_id"] == endpoint["id"]
        state = (await api.get(f"/v1/endpoints/{endpoint['id']}")).json()
        assert state["enabled"] is False and "410" in state["disabled_reason"]


async def test_per_order_fifo_holds_one_order_and_not_the_others(
    api: httpx.AsyncClient, db: Database
) -> None:
    async with receiver() as hooks:
        stuck_order: dict[str, str] = {}
        failures = {"left": 3}

        def answer(request: Received) -> int:
            data = json.loads(request.body)["data"]
            if data["order"]["id"] == stuck_order.get("id") and failures["left"] > 0:
                failures["left"] -= 1
                return 500
            return 200

        hooks.answer = answer
        endpoint = await make_endpoint(
            api,
            hooks.url,
            ordering="per_order_fifo",
            retry_policy={"retry_delays": [0.3, 0.3, 0.3, 0.3], "jitter": 0.0},
        )
        slow = await make_order(api)
        stuck_order["id"] = slow["id"]
        for status in ("payment_received", "processing", "completed"):
            await api.post(f"/v1/orders/{slow['id']}/changes", json={"status": status})
        other = await make_order(api)
        await api.post(f"/v1/orders/{other['id']}/changes", json={"status": "completed"})
        await settled(api, endpoint["id"], 6)

    def sequences(order_id: str) -> list[int]:
        out = []
        for request in hooks.requests:
            data = json.loads(request.body)["data"]
            if data["order"]["id"] == order_id:
                out.append(data["sequence"])
        return out

    assert sequences(slow["id"]) == [1, 1, 1, 1, 2, 3, 4]  # three failures, then in order
    assert sequences(other["id"]) == [1, 2]
    first_other = next(
        i
        for i, r in enumerate(hooks.requests)
        if json.loads(r.body)["data"]["order"]["id"] == other["id"]
    )
    first_slow_success = 3  # the fourth request is the slow order's first success
    assert first_other < first_slow_success + 1  # the other order did not wait for it
