"""The orders, endpoints and deliveries a benchmark makes, through the code paths production
uses (``OrderRepository.create`` / ``.change`` publish as the API does; ``DeliveryRepository``
claims and records as a worker does), and a database's delivered history."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime, timedelta
from decimal import Decimal

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import Endpoint, SigningSecret
from rampwire.delivery.sender import USER_AGENT
from rampwire.dialects import standard
from rampwire.domain.deliveries import (
    ATTEMPT_ID_PREFIX,
    Attempt,
    Claimed,
    DeliveryStatus,
    Result,
)
from rampwire.domain.events import Source
from rampwire.domain.lifecycle import Change
from rampwire.domain.money import Crypto, Fee, FeeType, Money
from rampwire.domain.orders import OrderData, OrderStatus, References, Side
from rampwire.ids import new_id
from rampwire.repository import OrderRepository
from rampwire.repository.deliveries import DeliveryRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.settings import Secret
from rampwire.storage import Database
from rampwire.types import utcnow

CREATE_TASKS = 8  # concurrent publish calls while queueing events (no worker running)
QUEUE_DEADLINE_S = 120.0  # for queue_orders
DRAIN_DEADLINE_S = 120.0  # for Deliverer.drain


async def make_endpoint(endpoints: EndpointRepository, url: str, max_in_flight: int) -> Endpoint:
    """Stored directly: the API caps max_in_flight at 1,000, the slow phase needs more."""
    now = utcnow()
    return await endpoints.create(
        Endpoint(
            id=EndpointRepository.new_id(),
            url=url,
            event_types=("order.*",),
            dialect="standard",
            secrets=(SigningSecret(value=Secret(standard.generate_secret()), created_at=now),),
            created_at=now,
            updated_at=now,
            max_in_flight=max_in_flight,
        )
    )


def order_data() -> OrderData:
    """A realistic buy order; its order.created payload is about 1 KB."""
    return OrderData(
        side=Side.BUY,
        fiat=Money(currency="EUR", amount=Decimal("250.00")),
        crypto=Crypto(asset="USDT", network="POLYGON", amount=Decimal("268.412907")),
        wallet_address="0x" + secrets.token_hex(20),
        exchange_rate=Decimal("1.0736516"),
        fees=(
            Fee(type=FeeType.ORDER, amount=Decimal("2.49"), asset="EUR"),
            Fee(type=FeeType.NETWORK, amount=Decimal("0.07"), asset="EUR"),
        ),
        references=References(
            partner_order_id="po_" + secrets.token_hex(8),
            partner_customer_id="cus_" + secrets.token_hex(6),
            user_email="someone@example.com",
        ),
        metadata={"campaign": "bench", "channel": "web"},
    )


async def create_order(
    orders: OrderRepository, partner_id: str | None = None
) -> tuple[str, str, float, float]:
    """One order through the API's path, the operator's or ``partner_id``'s: (order id, event
    id, the event's created_at and time.time() when the call returned, both as UNIX times)."""
    now = utcnow()
    result = await orders.create(
        order_data(),
        status=OrderStatus.AWAITING_PAYMENT,
        occurred_at=now,
        source=Source(provider=None, provider_event="api", received_at=now),
        now=now,
        actor="bench",
        partner_id=partner_id,
    )
    committed = time.time()
    assert result.event is not None
    return result.order.id, result.event.id, now.timestamp(), committed


async def change_order(orders: OrderRepository, order_id: str, status: OrderStatus) -> int:
    now = utcnow()
    result = await orders.change(
        order_id,
        Change(occurred_at=now, status=status),
        source=Source(provider=None, provider_event="api", received_at=now),
        strict=True,
        now=now,
        actor="bench",
    )
    return len(result.events)


async def queue_orders(orders: OrderRepository, count: int, tasks: int = CREATE_TASKS) -> float:
    """``count`` orders (one delivery each), ``tasks`` at a time; returns events/s."""
    left = count
    deadline = time.monotonic() + QUEUE_DEADLINE_S

    async def loop() -> None:
        nonlocal left
        while left > 0 and time.monotonic() < deadline:
            left -= 1
            await create_order(orders)

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(tasks)))
    if left > 0:
        raise RuntimeError(f"queueing {count} orders did not finish in time")
    return count / (time.perf_counter() - start)


class Deliverer:
    """A worker's storage work without HTTP: claim due deliveries, record each as answered
    200, as :class:`~rampwire.delivery.sender.Sender` would log it."""

    def __init__(self, db: Database, batch: int) -> None:
        self._deliveries = DeliveryRepository(db)
        self._batch = batch
        self.transactions = 0

    async def drain(self) -> int:
        """Until nothing is due; returns the deliveries recorded."""
        done = 0
        deadline = time.monotonic() + DRAIN_DEADLINE_S
        while time.monotonic() < deadline:
            now = utcnow()
            claimed = await self._deliveries.claim(
                limit=self._batch, lease=timedelta(seconds=30), token=new_id("lease"), now=now
            )
            if not claimed:
                return done
            results = [answered(c, now) for c in claimed]
            await self._deliveries.record(results, now=utcnow(), disable_after=timedelta(days=5))
            self.transactions += 2
            done += len(claimed)
        raise RuntimeError("deliveries still due after the deadline")


def answered(claimed: Claimed, now: datetime) -> Result:
    headers = {
        "webhook-id": claimed.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": "v1," + "A" * 44,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    attempt = Attempt(
        id=new_id(ATTEMPT_ID_PREFIX),
        delivery_id=claimed.id,
        attempt=claimed.attempts + 1,
        started_at=now,
        duration_us=900,
        request_url="http://127.0.0.1:9/hook",
        request_headers=headers,
        request_body=None,
        response_status=200,
        response_headers={"content-type": "text/plain", "content-length": "2"},
        response_body="ok",
        error_class=None,
        error=None,
    )
    return Result(
        claimed=claimed,
        attempt=attempt,
        status=DeliveryStatus.SUCCEEDED,
        next_attempt_at=None,
        succeeded=True,
    )


async def make_history(db: Database, box: SecretBox, orders: int) -> None:
    """A database that has been running: ``orders`` orders made through the API's path, their
    deliveries claimed and recorded as delivered (no HTTP), then, on PostgreSQL, ``ANALYZE``
    as autovacuum would have run by then. Without it every phase measures a database in its
    first minute, with no statistics yet (see ``rampwire.storage.statistics``)."""
    if orders <= 0:
        return
    started = time.perf_counter()
    endpoints = EndpointRepository(db, box)
    endpoint = await make_endpoint(endpoints, "http://127.0.0.1:9/history", 256)
    await queue_orders(OrderRepository(db), orders, tasks=64)
    await Deliverer(db, 256).drain()
    await endpoints.delete(endpoint.id, now=utcnow())
    if db.dialect == "postgresql":
        async with db.connection() as conn:
            await conn.execute("ANALYZE")
    print(f"  history: {orders:,} delivered orders ({time.perf_counter() - started:.0f} s)")


async def count_succeeded(db: Database, endpoint_id: str) -> int:
    async with db.connection() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE endpoint_id = $1 AND status = 'succeeded'",
                endpoint_id,
            )
        )


async def count_waiting(db: Database) -> int:
    """Deliveries due or under a lease: the backlog."""
    async with db.connection() as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM deliveries WHERE next_attempt_at IS NOT NULL")
        )
