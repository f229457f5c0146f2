"""Group commit of API order creates and changes: those sent at once are written together, and
each still succeeds, fails or replays on its own, with the order's timeline and event sequences
whole."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.integration.test_api_orders import counts, create

from rampwire.domain.events import Source
from rampwire.domain.money import Money
from rampwire.domain.orders import OrderData, OrderStatus, Side
from rampwire.ids import new_id
from rampwire.repository import OrderRepository
from rampwire.repository.orders import IdempotencyClaim
from rampwire.storage import Database
from rampwire.types import utcnow

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


async def test_creates_sent_at_once_share_transactions_and_a_raced_key_replays_alone(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    write_creates = OrderRepository._write_creates

    async def counted(self: OrderRepository, jobs: list[Any]) -> list[None]:
        batches.append(len(jobs))
        return await write_creates(self, jobs)

    monkeypatch.setattr(OrderRepository, "_write_creates", counted)
    orders = OrderRepository(db)

    def claim(key: str) -> IdempotencyClaim:
        return IdempotencyClaim(api_key_id="key_1", key=key, request_hash="h-" + key)

    async def one(key: str | None) -> Any:
        now = utcnow()
        return await orders.create(
            OrderData(side=Side.BUY, fiat=Money(currency="EUR", amount=Decimal("10.00"))),
            status=OrderStatus.CREATED,
            occurred_at=now,
            source=Source(provider_event="api", received_at=now),
            now=now,
            idempotency=None if key is None else claim(key),
        )

    # Four calls with one key, none of which finds it taken before it joins a batch.
    keys = [f"k{i}" for i in range(12)] + [None] * 8 + ["same"] * 4
    results = await asyncio.gather(*(one(key) for key in keys))

    assert max(batches) > 1  # written together
    same = results[-4:]
    assert len({r.order.id for r in same}) == 1  # one order for the raced key...
    assert sorted(r.replayed for r in same) == [False, True, True, True]  # ...made once
    assert all(r.event is None for r in same if r.replayed)
    assert not any(r.replayed for r in results[:-4])
    assert len({r.order.id for r in results}) == 21
    assert await counts(db) == (21, 21, 21, 13)  # orders, timeline, events, idempotency keys
