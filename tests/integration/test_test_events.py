"""``POST /v1/endpoints/{id}/test-events`` on both back-ends: an example event of the chosen type
goes to that endpoint only, whatever its filter, in its own format, logged like any delivery;
bad types are 422s naming the field, a disabled endpoint a 409, and nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from tests.support.partners import make_partner, partner_token
from tests.support.receivers import Receiver, receiver


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


async def test_a_test_event_reaches_that_endpoint_only_in_its_format(
    admin_api: httpx.AsyncClient, hook: Receiver
) -> None:
    only_failed = await admin_api.post(
        "/v1/endpoints", json={"url": hook.url + "/std", "event_types": ["order.failed"]}
    )
    revolut = await admin_api.post(
        "/v1/endpoints", json={"url": hook.url + "/revolut", "dialect": "revolut"}
    )
    assert only_failed.status_code == revolut.status_code == 201
    sent = await admin_api.post(f"/v1/endpoints/{only_failed.json()['id']}/test-events")
    assert sent.status_code == 201, sent.text
    delivery = sent.json()
    assert delivery["event_type"] == "order.completed" and delivery["order_id"] is None
    (request,) = await hook.wait_for(1)
    event = orjson.loads(request.body)
    assert event["type"] == "order.completed" and event["data"]["order"]["status"] == "completed"
    assert request.headers["webhook-id"] == event["id"] == delivery["event_id"]
    listed = await admin_api.get(f"/v1/endpoints/{only_failed.json()['id']}/deliveries")
    assert [d["id"] for d in listed.json()["data"]] == [delivery["id"]]

    again = await admin_api.post(
        f"/v1/endpoints/{revolut.json()['id']}/test-events", json={"event_type": "order.failed"}
    )
    assert again.status_code == 201, again.text
    requests = await hook.wait_for(2)
    assert "revolut-signature" in {k.lower() for k in requests[1].headers}
    assert len(hook.requests) == 2  # no other endpoint got either


async def test_bad_test_events_are_refused_and_write_nothing(admin_api: httpx.AsyncClient) -> None:
    made = await admin_api.post(
        "/v1/endpoints", json={"url": "http://127.0.0.1:9/x", "dialect": "revolut"}
    )
    endpoint_id = made.json()["id"]
    path = f"/v1/endpoints/{endpoint_id}/test-events"
    for event_type, says in (("order.nope", "is not an event type"), ("order.anomaly", "cannot")):
        answer = await admin_api.post(path, json={"event_type": event_type})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "event_type" and says in answer.text
    assert (await admin_api.post(path, json={"event": "x"})).status_code == 422
    off = await admin_api.patch(f"/v1/endpoints/{endpoint_id}", json={"enabled": False})
    assert off.status_code == 200
    assert (await admin_api.post(path)).status_code == 409
    missing = await admin_api.post("/v1/endpoints/ep_01JB0000000000000000000000/test-events")
    assert missing.status_code == 404
    assert (await admin_api.get(f"/v1/endpoints/{endpoint_id}/deliveries")).json()["data"] == []


async def test_a_partner_key_tests_its_own_endpoints(admin_api: httpx.AsyncClient) -> None:
    partner = await make_partner(admin_api)
    as_partner = {"Authorization": f"Bearer {await partner_token(admin_api, partner['id'])}"}
    made = await admin_api.post(
        "/v1/endpoints", json={"url": "http://127.0.0.1:9/x"}, headers=as_partner
    )
    sent = await admin_api.post(
        f"/v1/endpoints/{made.json()['id']}/test-events", headers=as_partner
    )
    assert sent.status_code == 201, sent.text
