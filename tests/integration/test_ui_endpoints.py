"""The operator's endpoint pages over HTTP, on both back-ends: create with every field (and the
API's field errors shown beside the fields), edit, disable and enable, reveal and rotate the
secret, send a test event, recover failed deliveries, pending events; a read key sees no
button and may not post."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.support.dashboard_kit import CSRF, browser
from tests.support.partners import make_partner
from tests.support.receivers import Receiver, receiver

from rampwire.domain.apikeys import Scope
from rampwire.storage import Database


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:300]
    return found.group(1)


def _error(page: httpx.Response, field: str) -> str:
    found = re.search(
        rf'<p class="field-error" id="err-{field}" role="alert">([^<]*)</p>', page.text
    )
    assert found is not None, (field, page.text)
    return found.group(1)


async def test_create_shows_the_apis_field_errors_beside_the_fields_and_writes_nothing(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    client = await browser(admin_api, db, Scope.WRITE)
    csrf = _csrf(await client.get("/ui/endpoints/new"))
    bad = await client.post(
        "/ui/endpoints",
        data={
            "csrf": csrf,
            "url": "http://169.254.169.254/latest",
            "event_types": "order.*, nope.*",
            "dialect": "standard",
            "secret_standard": "not-a-whsec",
            "rate_limit": "lots",
            "headers": "no colon here",
            "sig_v1": "on",
        },
    )
    assert bad.status_code == 422
    assert "line 1 is not `Name: value`" in _error(bad, "headers")  # the form's own reading
    fixed_headers = await client.post(
        "/ui/endpoints",
        data={
            "csrf": csrf,
            "url": "http://127.0.0.1:9/x",
            "event_types": "order.*",
            "rate_limit": "lots",
            "sig_v1": "on",
        },
    )
    assert fixed_headers.status_code == 422
    assert "whole number" in _error(fixed_headers, "rate_limit")  # the API's model
    for field, data, says in (
        ("event_types", {"event_types": "nope.*"}, "matches no event type"),
        ("secret", {"secret_standard": "not-a-whsec"}, "must start with whsec_"),
        ("secret", {"dialect": "revolut", "secret_revolut": "short"}, "characters"),
        ("partners", {"partner_id": "", "partners": "ptn_01JB0000000000000000000000"}, "no such"),
        ("retry_policy", {"retry_policy": "{not json"}, "not valid JSON"),
    ):
        answer = await client.post(
            "/ui/endpoints",
            data={"csrf": csrf, "url": "http://127.0.0.1:9/x", "event_types": "*", **data},
        )
        assert answer.status_code == 422, (field, answer.status_code)
        assert says in _error(answer, field), field
        assert 'value="http://127.0.0.1:9/x"' in answer.text  # what was typed is kept
    missing = await client.post(
        "/ui/endpoints",
        data={"csrf": csrf, "url": "http://127.0.0.1:9/x", "partner_id": "ptn_nope"},
    )
    assert missing.status_code == 404 and "no partner" in missing.text
    assert (await admin_api.get("/v1/endpoints")).json()["data"] == []


async def test_an_endpoint_made_edited_switched_rotated_and_tested_from_its_pages(
    admin_api: httpx.AsyncClient, db: Database, hook: Receiver
) -> None:
    partner = await make_partner(admin_api)
    client = await browser(admin_api, db, Scope.WRITE)
    csrf = _csrf(await client.get("/ui/endpoints/new"))
    made = await client.post(
        "/ui/endpoints",
        data={
            "csrf": csrf,
            "url": hook.url,
            "description": "Acme's hooks",
            "event_types": "order.completed, order.failed",
            "dialect": "standard",
            "secret_standard": "",
            "sig_v1": "on",
            "ordering": "per_order_fifo",
            "rate_limit": "20",
            "max_in_flight": "5",
            "headers": "X-Api-Key: k123\nX-Team: ramp",
            "retry_policy": '{"retry_delays": [], "jitter": 0}',
            "partner_id": partner["id"],
            "traceparent": "on",
            "enabled": "on",
        },
    )
    assert made.status_code == 303, made.text
    endpoint_id = re.search(r"/ui/endpoints/(ep_\w+)", made.headers["location"]).group(1)  # type: ignore[union-attr]
    stored = (await admin_api.get(f"/v1/endpoints/{endpoint_id}")).json()
    assert stored["partner_id"] == partner["id"] and stored["ordering"] == "per_order_fifo"
    assert stored["rate_limit"] == 20 and stored["max_in_flight"] == 5
    assert stored["event_types"] == ["order.completed", "order.failed"]
    assert stored["traceparent"] is True
    shown = await client.get(f"/ui/endpoints/{endpoint_id}")
    assert "sends traceparent" in shown.text
    headers = (await admin_api.get(f"/v1/endpoints/{endpoint_id}/headers")).json()["headers"]
    assert headers == {"X-Api-Key": "k123", "X-Team": "ramp"}
    listing = await client.get("/ui/endpoints")
    assert endpoint_id in listing.text and "Acme&#39;s hooks" in listing.text

    edit = await client.get(f"/ui/endpoints/{endpoint_id}/edit")
    assert "k123" not in edit.text and "X-Api-Key: ********" in edit.text
    saved = await client.post(
        f"/ui/endpoints/{endpoint_id}/edit",
        data={
            "csrf": csrf,
            "url": hook.url,
            "description": "",
            "event_types": "order.*",
            "headers": "X-Api-Key: ********",
            "max_in_flight": "5",
            "ordering": "none",
            "sig_v1": "on",
            "sig_v1a": "on",
        },
    )
    assert saved.status_code == 303, saved.text
    stored = (await admin_api.get(f"/v1/endpoints/{endpoint_id}")).json()
    assert stored["description"] is None and stored["rate_limit"] is None
    assert stored["signatures"] == ["v1", "v1a"] and stored["event_types"] == ["order.*"]
    headers = (await admin_api.get(f"/v1/endpoints/{endpoint_id}/headers")).json()["headers"]
    assert headers == {"X-Api-Key": "k123"}  # the masked value kept, the removed one gone

    page = await client.get(f"/ui/endpoints/{endpoint_id}")
    assert "whsec_" not in page.text
    revealed = await client.post(f"/ui/endpoints/{endpoint_id}/secret", data={"csrf": csrf})
    first = (await admin_api.get(f"/v1/endpoints/{endpoint_id}/secret")).json()["secrets"]
    assert revealed.status_code == 200 and first[0]["secret"] in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    rotated = await client.post(f"/ui/endpoints/{endpoint_id}/rotate", data={"csrf": csrf})
    assert rotated.status_code == 303 and "secret%20rotated" in rotated.headers["location"]

    tested = await client.post(
        f"/ui/endpoints/{endpoint_id}/test", data={"csrf": csrf, "event_type": "order.failed"}
    )
    assert tested.status_code == 303
    delivery_page = await client.get(tested.headers["location"])
    assert "test event order.failed sent" in delivery_page.text
    (request,) = await hook.wait_for(1)
    signatures = request.headers["webhook-signature"].split()
    assert len([s for s in signatures if s.startswith("v1,")]) == 2  # old and new secret
    assert len([s for s in signatures if s.startswith("v1a,")]) == 1

    off = await client.post(
        f"/ui/endpoints/{endpoint_id}/disable", data={"csrf": csrf, "reason": "maintenance"}
    )
    assert off.status_code == 303
    stored = (await admin_api.get(f"/v1/endpoints/{endpoint_id}")).json()
    assert stored["enabled"] is False and stored["disabled_reason"] == "maintenance"
    refused = await client.post(f"/ui/endpoints/{endpoint_id}/test", data={"csrf": csrf})
    assert refused.status_code == 409
    on = await client.post(f"/ui/endpoints/{endpoint_id}/enable", data={"csrf": csrf})
    assert on.status_code == 303
    assert (await admin_api.get(f"/v1/endpoints/{endpoint_id}")).json()["enabled"] is True

    recovered = await client.post(
        f"/ui/endpoints/{endpoint_id}/recover", data={"csrf": csrf, "since": "2026-01-01T00:00"}
    )
    assert recovered.status_code == 303 and "sent%20again" in recovered.headers["location"]
    no_time = await client.post(f"/ui/endpoints/{endpoint_id}/recover", data={"csrf": csrf})
    assert no_time.status_code == 400
    pending = await client.get(f"/ui/endpoints/{endpoint_id}/pending")
    assert pending.status_code == 200 and "Pending events" in pending.text


async def test_a_read_key_sees_the_endpoint_pages_without_buttons(
    admin_api: httpx.AsyncClient, db: Database
) -> None:
    made = await admin_api.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/x"})
    endpoint_id = made.json()["id"]
    reader = await browser(admin_api, db, Scope.READ)
    page = await reader.get(f"/ui/endpoints/{endpoint_id}")
    assert page.status_code == 200 and "/rotate" not in page.text and "/test" not in page.text
    assert "New endpoint" not in (await reader.get("/ui/endpoints")).text
    csrf = _csrf(page)
    for action in ("rotate", "secret", "test", "disable"):
        answer = await reader.post(f"/ui/endpoints/{endpoint_id}/{action}", data={"csrf": csrf})
        assert answer.status_code == 403, action
    assert (await reader.get("/ui/endpoints/ep_nothing")).status_code == 400
