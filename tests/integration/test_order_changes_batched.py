"""Group commit of API order changes: changes sent at once are written together, and each still
succeeds or fails on its own, with the order's timeline and event sequences whole."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from tests.integration.test_api_orders import create

from rampwire.ids import new_id
from rampwire.storage import Database

NOTES = 6


async def order_events(db: Database, order_id: str) -> list[int]:
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT sequence FROM events WHERE order_id = $1 ORDER BY created_at, id", order_id
        )
    return [row["sequence"] for row in rows]


async def test_changes_sent_at_once_each_get_their_own_answer(
    api: httpx.AsyncClient, db: Database
) -> None:
    busy, moving, done = await create(api), await create(api), await create(api)
    finished = await api.post(f"/v1/orders/{done['id']}/changes", json={"status": "completed"})
    assert finished.status_code == 200

    def change(order_id: str, body: dict[str, Any]) -> Any:
        return api.post(f"/v1/orders/{order_id}/changes", json=body)

    unknown = new_id("ord")
    answers = await asyncio.gather(
        *(change(busy["id"], {"set": {"note": f"note {i}"}}) for i in range(NOTES)),
        change(moving["id"], {"status": "processing"}),
        change(done["id"], {"status": "processing"}),  # backwards: refused alone
        change(unknown, {"status": "processing"}),  # no such order: refused alone
    )
    assert [a.status_code for a in answers] == [200] * (NOTES + 1) + [409, 404]
    assert answers[-2].json()["type"].endswith("illegal_transition")

    # every change to the busy order has a timeline entry, with seq 1.. without a gap
    timeline = (await api.get(f"/v1/orders/{busy['id']}/timeline")).json()["data"]
    assert [entry["seq"] for entry in timeline] == list(range(1, NOTES + 2))
    final = (await api.get(f"/v1/orders/{busy['id']}")).json()
    sequences = await order_events(db, busy["id"])
    assert sequences == list(range(1, final["version"] + 1))  # one event per version, in order
    assert final["version"] > 1

    assert (await api.get(f"/v1/orders/{moving['id']}")).json()["status"] == "processing"
    assert (await api.get(f"/v1/orders/{done['id']}")).json()["status"] == "completed"
    assert await order_events(db, done["id"]) == [1, 2]  # the refused change wrote nothing
