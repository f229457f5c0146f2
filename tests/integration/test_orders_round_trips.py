"""The round trips of an API create and change on PostgreSQL (asyncpg's query logger on the
pool's one connection): a create without a provider order (with or without an
Idempotency-Key) is one read and one atomic write; a change locks and reads its orders (by key),
reads their live endpoints, writes its rows in one statement and updates its orders by key, in a
transaction; and what each wrote is whole, its deliveries included."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import Endpoint, SigningSecret
from rampwire.dialects import standard
from rampwire.domain.events import Source
from rampwire.domain.lifecycle import Change
from rampwire.domain.money import Money
from rampwire.domain.orders import OrderData, OrderStatus, Side
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.repository.orders import IdempotencyClaim
from rampwire.settings import Secret
from rampwire.storage import migrate
from rampwire.storage.postgres import PostgresDatabase
from rampwire.types import utcnow

pytestmark = pytest.mark.postgres


class Statements:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, record: Any) -> None:
        self.sent.append(" ".join(record.query.split()).split(" ", 1)[0].upper())


async def test_round_trips_of_a_create_and_a_change(postgres_url: str) -> None:
    db = PostgresDatabase(postgres_url, max_size=1)  # one connection: every statement seen
    await db.open()
    try:
        await migrate(db)
        now = utcnow()
        endpoint = await EndpointRepository(db, SecretBox(b"\x07" * 32)).create(
            Endpoint(
                id=EndpointRepository.new_id(),
                url="http://127.0.0.1:9/hook",
                event_types=("order.*",),
                dialect="standard",
                secrets=(SigningSecret(value=Secret(standard.generate_secret()), created_at=now),),
                created_at=now,
                updated_at=now,
            )
        )
        orders = OrderRepository(db, writers=1)
        source = Source(provider=None, provider_event="api", received_at=now)
        data = OrderData(side=Side.BUY, fiat=Money(currency="EUR", amount=Decimal("100.00")))
        for n in range(2):  # asyncpg's first use of a statement reads types: not counted
            warm = await orders.create(
                data, status=OrderStatus.AWAITING_PAYMENT, occurred_at=now, source=source, now=now
            )
            await orders.create(
                data,
                status=OrderStatus.AWAITING_PAYMENT,
                occurred_at=now,
                source=source,
                now=now,
                idempotency=IdempotencyClaim(api_key_id="key_0", key=f"warm-{n}", request_hash="h"),
            )
            await orders.change(
                warm.order.id,
                Change(occurred_at=utcnow(), status=OrderStatus.PROCESSING),
                source=source,
                strict=True,
                now=utcnow(),
            )
        statements = Statements()
        async with db.connection() as conn:
            conn._conn.add_query_logger(statements)  # type: ignore[attr-defined]

        created = await orders.create(
            data, status=OrderStatus.AWAITING_PAYMENT, occurred_at=now, source=source, now=now
        )
        assert statements.sent == ["SELECT", "WITH"]  # live endpoints; the one write

        statements.sent.clear()
        changed = await orders.change(
            created.order.id,
            Change(occurred_at=utcnow(), status=OrderStatus.PROCESSING),
            source=source,
            strict=True,
            now=utcnow(),
        )
        # the orders locked and read; their live endpoints; the rows written; the orders updated
        assert statements.sent == ["BEGIN;", "SELECT", "SELECT", "WITH", "UPDATE", "COMMIT;"]
        assert [e.type for e in changed.events] == ["order.processing"]

        statements.sent.clear()
        claim = IdempotencyClaim(api_key_id="key_1", key="k-1", request_hash="h")
        await orders.create(
            data,
            status=OrderStatus.AWAITING_PAYMENT,
            occurred_at=now,
            source=source,
            now=now,
            idempotency=claim,
        )
        # the replay check, before the batch; then the same two: a claim taken meanwhile
        # fails the one write statement, which writes nothing
        assert statements.sent == ["SELECT", "SELECT", "WITH"]

        async with db.connection() as conn:
            deliveries = await conn.fetch(
                "SELECT d.event_type FROM deliveries d WHERE d.endpoint_id = $1"
                " AND d.order_id = $2 ORDER BY d.id",
                endpoint.id,
                created.order.id,
            )
            timeline = await conn.fetchval(
                "SELECT count(*) FROM timeline WHERE order_id = $1", created.order.id
            )
        assert [row["event_type"] for row in deliveries] == [
            "order.awaiting_payment",
            "order.processing",
        ]
        assert timeline == 2
    finally:
        await db.close()
