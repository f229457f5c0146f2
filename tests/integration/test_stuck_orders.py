"""The stuck-order sweeper: one order.stuck per stay past the status's SLA, on both back-ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from rampwire.domain.orders import OrderStatus
from rampwire.domain.stuck import DEFAULT_SLAS, SlaError, parse_slas
from rampwire.errors import ConfigError
from rampwire.repository.stuck_orders import StuckOrderRepository
from rampwire.services.sweeper import Sweeper
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow

S = OrderStatus
HOUR = timedelta(hours=1)


async def stuck_events(db: Database) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT payload FROM events WHERE type = 'order.stuck' ORDER BY id")
    return [orjson.loads(row["payload"]) for row in rows]


async def order_at(api: httpx.AsyncClient, status: str, ago: timedelta) -> dict[str, Any]:
    body = {"side": "buy", "status": status, "occurred_at": (utcnow() - ago).isoformat()}
    response = await api.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_an_order_past_its_sla_is_flagged_once_per_stay(
    api: httpx.AsyncClient, db: Database
) -> None:
    late = await order_at(api, "processing", 3 * HOUR)
    fresh = await order_at(api, "processing", timedelta(minutes=5))
    done = await order_at(api, "completed", 30 * HOUR)
    sweeper = Sweeper(StuckOrderRepository(db), {S.PROCESSING: 2 * HOUR, S.ON_HOLD: HOUR})
    assert await sweeper.sweep() == 1
    assert await sweeper.sweep() == 0  # the same stay is flagged once
    (event,) = await stuck_events(db)
    assert event["data"]["order"]["id"] == late["id"]
    assert event["data"]["stuck"]["status"] == "processing"
    assert event["data"]["stuck"]["sla_seconds"] == 7200
    assert event["data"]["stuck"]["for_seconds"] >= 3 * 3600
    assert event["data"]["sequence"] == late["version"] + 1
    flagged = (await api.get(f"/v1/orders/{late['id']}")).json()
    assert flagged["version"] == late["version"] + 1 and flagged["status"] == "processing"
    timeline = (await api.get(f"/v1/orders/{late['id']}/timeline")).json()["data"]
    assert timeline[-1]["kind"] == "stuck"
    for other in (fresh, done):
        assert (await api.get(f"/v1/orders/{other['id']}")).json()["version"] == 1

    # it moves on and gets stuck again in the next status: a new stay, a new event
    moved = await api.post(
        f"/v1/orders/{late['id']}/changes",
        json={"status": "on_hold", "occurred_at": (utcnow() - 2 * HOUR).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    assert await sweeper.sweep() == 1
    events = await stuck_events(db)
    assert [e["data"]["stuck"]["status"] for e in events] == ["processing", "on_hold"]
    sequences = [e["data"]["sequence"] for e in events]
    assert sequences == sorted(set(sequences))


async def test_an_order_stored_unreadable_does_not_hold_back_the_others(
    api: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    broken = await order_at(api, "processing", 4 * HOUR)  # the oldest: read first
    late = await order_at(api, "processing", 3 * HOUR)
    async with db.transaction() as conn:
        await conn.execute(  # a body written by hand that no longer validates
            "UPDATE orders SET body = $1 WHERE id = $2", '{"id": "not an order"}', broken["id"]
        )
    sweeper = Sweeper(StuckOrderRepository(db), {S.PROCESSING: 2 * HOUR})
    assert await sweeper.sweep() == 1
    assert await sweeper.sweep() == 0
    (event,) = await stuck_events(db)
    assert event["data"]["order"]["id"] == late["id"]
    assert [r for r in caplog.records if broken["id"] in r.getMessage()]
    async with db.connection() as conn:
        version = await conn.fetchval("SELECT version FROM orders WHERE id = $1", broken["id"])
    assert version == broken["version"]


async def test_a_full_batch_of_unreadable_orders_does_not_hold_back_the_ones_after_it(
    api: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [await order_at(api, "processing", (5 - i) * HOUR) for i in range(3)]  # the oldest
    late = await order_at(api, "processing", 90 * timedelta(minutes=1))
    async with db.transaction() as conn:
        for order in broken:
            await conn.execute(
                "UPDATE orders SET body = $1 WHERE id = $2", '{"id": "not an order"}', order["id"]
            )
    # batches of two: the first two batches read only broken orders, the third the late one
    monkeypatch.setattr("rampwire.services.sweeper.BATCH", 2)
    sweeper = Sweeper(StuckOrderRepository(db), {S.PROCESSING: HOUR})
    assert await sweeper.sweep() == 1
    assert await sweeper.sweep() == 0
    (event,) = await stuck_events(db)
    assert event["data"]["order"]["id"] == late["id"]


async def test_orders_with_the_same_status_time_are_each_read_once(
    api: httpx.AsyncClient, db: Database
) -> None:
    since = (utcnow() - 3 * HOUR).isoformat()
    made = []
    for _ in range(5):  # one status time for all: the batches' order falls back on the id
        response = await api.post(
            "/v1/orders", json={"side": "buy", "status": "processing", "occurred_at": since}
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    repo = StuckOrderRepository(db)
    batch = await repo.flag(S.PROCESSING, HOUR, now=utcnow(), limit=2)
    flagged = [e.order_id for e in batch.events]
    while batch.resume is not None:
        batch = await repo.flag(S.PROCESSING, HOUR, now=utcnow(), limit=2, after=batch.resume)
        flagged += [e.order_id for e in batch.events]
    assert sorted(flagged) == sorted(made)


async def test_order_stuck_is_delivered_to_subscribers(
    api: httpx.AsyncClient, db: Database
) -> None:
    endpoint = await api.post(
        "/v1/endpoints", json={"url": "http://127.0.0.1:9/hooks", "event_types": ["order.stuck"]}
    )
    assert endpoint.status_code == 201, endpoint.text
    await order_at(api, "awaiting_payment", 5 * HOUR)
    assert await Sweeper(StuckOrderRepository(db), DEFAULT_SLAS).sweep() == 1
    async with db.connection() as conn:
        types = [r["event_type"] for r in await conn.fetch("SELECT event_type FROM deliveries")]
    assert types == ["order.stuck"]


def test_slas_are_read_from_the_environment(tmp_path: Any) -> None:
    env = {
        "RAMPWIRE_DATA_DIR": str(tmp_path),
        "RAMPWIRE_STUCK_AFTER": "processing=90s, on_hold=off",
    }
    settings = Settings.from_env(env)
    assert settings.stuck_slas[S.PROCESSING] == timedelta(seconds=90)
    assert S.ON_HOLD not in settings.stuck_slas
    assert settings.stuck_slas[S.AWAITING_PAYMENT] == DEFAULT_SLAS[S.AWAITING_PAYMENT]
    with pytest.raises(ConfigError, match="RAMPWIRE_STUCK_AFTER"):
        Settings.from_env({**env, "RAMPWIRE_STUCK_AFTER": "processing=soon"})


async def test_the_sweeper_task_sweeps_every_interval_and_stops(db: Database) -> None:
    sweeper = Sweeper(StuckOrderRepository(db), {S.PROCESSING: HOUR}, interval_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(sweeper.run(stop))
    for _ in range(500):  # bounded: at most ~5 s
        if sweeper.sweeps >= 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert sweeper.sweeps >= 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus=1h", "not a status"),
        ("completed=1h", "final"),
        ("processing", "<status>=<duration>"),
        ("processing=0s", "not a duration"),
        ("processing=1w", "not a duration"),
        ("processing=-5m", "not a duration"),
    ],
)
def test_bad_sla_settings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SlaError, match=message):
        parse_slas(text)
