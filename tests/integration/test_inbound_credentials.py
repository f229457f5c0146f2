"""The inbound log keeps no credential: a Saber token sent in ``X-Webhook-Token`` or in the URL,
and ``Authorization``, are neither stored nor shown by ``GET /v1/inbound/{id}``, and the logged
request still re-processes (the source's token stands in for it). Both back-ends."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.support.ingest_kit import webhook

from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.storage import Database
from rampwire.types import utcnow

SABER_TOKEN = "sbrtok-4c8e1a7f0b3d9265"
BEARER = "Bearer inb-auth-93d1c0a7e5f2"


async def token_source(api: httpx.AsyncClient) -> str:
    created = await api.post(
        "/v1/sources",
        json={
            "provider": "saber",
            "name": "saber by token",
            "credentials": {"mode": "token", "url_token": SABER_TOKEN},
            "options": {"default_side": "buy"},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.parametrize("where", ["header", "url"])
async def test_the_token_is_neither_stored_nor_shown(
    api: httpx.AsyncClient, db: Database, where: str
) -> None:
    source_id = await token_source(api)
    order = sample_order(DialectName.SABER, OrderStatus.CREATED, Side.BUY, now=utcnow())
    request = webhook(Provider.SABER, order, OrderStatus.CREATED, now=utcnow())
    headers = {**request.headers, "Authorization": BEARER}
    path = f"/ingest/{source_id}"
    if where == "header":
        headers["X-Webhook-Token"] = SABER_TOKEN
    else:
        path += f"/{SABER_TOKEN}"
    received = await api.post(path, content=request.body, headers=headers)
    assert received.status_code == 200, received.text
    assert SABER_TOKEN not in received.text

    record_id = received.json()["id"]
    shown = await api.get(f"/v1/inbound/{record_id}")
    assert shown.status_code == 200, shown.text
    assert SABER_TOKEN not in shown.text and BEARER not in shown.text
    assert "x-webhook-token" not in shown.json()["headers"]
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT * FROM inbound WHERE id = $1", record_id)
    assert row is not None
    assert not any(SABER_TOKEN in str(v) or BEARER in str(v) for v in dict(row).values())

    again = await api.post(f"/v1/inbound/{record_id}/reprocess")
    assert again.status_code == 200, again.text


async def test_a_token_logged_by_an_earlier_version_is_not_shown(
    api: httpx.AsyncClient, db: Database
) -> None:
    source_id = await token_source(api)
    order = sample_order(DialectName.SABER, OrderStatus.CREATED, Side.BUY, now=utcnow())
    request = webhook(Provider.SABER, order, OrderStatus.CREATED, now=utcnow())
    received = await api.post(
        f"/ingest/{source_id}",
        content=request.body,
        headers={**request.headers, "X-Webhook-Token": SABER_TOKEN},
    )
    record_id = received.json()["id"]
    async with db.transaction() as conn:  # what an earlier version kept
        await conn.execute(
            "UPDATE inbound SET headers = $2 WHERE id = $1",
            record_id,
            json.dumps({"content-type": "application/json", "x-webhook-token": SABER_TOKEN}),
        )
    shown = await api.get(f"/v1/inbound/{record_id}")
    assert SABER_TOKEN not in shown.text
    assert shown.json()["headers"] == {"content-type": "application/json"}
