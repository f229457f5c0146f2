"""Statistics for a new database: tables that grew before autovacuum's first ANALYZE get one,
so PostgreSQL drops the plans it cached while they were empty (storage.statistics)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from rampwire.domain.events import Source
from rampwire.domain.money import Money
from rampwire.domain.orders import OrderData, OrderStatus, Side
from rampwire.repository import OrderRepository
from rampwire.storage import Database, statistics
from rampwire.storage.postgres import UNANALYZED_PAGES
from rampwire.types import utcnow

ORDERS = 600


async def fill(db: Database) -> None:
    orders = OrderRepository(db)
    now = utcnow()
    await asyncio.gather(
        *(
            orders.create(
                OrderData(side=Side.BUY, fiat=Money(currency="EUR", amount=Decimal("10.00"))),
                status=OrderStatus.CREATED,
                occurred_at=now,
                source=Source(provider_event="api", received_at=now),
                now=now,
            )
            for _ in range(ORDERS)
        )
    )


async def reltuples(db: Database, table: str) -> float:
    async with db.connection() as conn:
        return float(
            await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = $1", table)
        )


async def pages(db: Database, table: str) -> int:
    async with db.connection() as conn:
        return int(
            await conn.fetchval(
                "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int",
                table,
            )
        )


async def test_tables_that_grew_without_statistics_are_analyzed_once(db: Database) -> None:
    if db.dialect == "sqlite":
        await fill(db)
        assert await db.analyze_new_tables() == []  # SQLite's planner needs none
        return
    assert await db.analyze_new_tables() == []  # empty tables: nothing to plan around yet
    await fill(db)
    assert await pages(db, "orders") >= UNANALYZED_PAGES  # else the test proves nothing
    assert await reltuples(db, "orders") < 0  # never analyzed

    analyzed = await db.analyze_new_tables()

    assert "orders" in analyzed
    assert "events" in analyzed
    assert await reltuples(db, "orders") == ORDERS
    assert "api_keys" not in analyzed  # empty: left to autovacuum
    assert await db.analyze_new_tables() == []  # once: autovacuum keeps them current


async def test_keep_analyzes_in_the_background_and_stops_when_told(db: Database) -> None:
    await fill(db)
    stop = asyncio.Event()
    keeping = asyncio.create_task(statistics.keep(db, stop, interval_s=0.05))
    try:
        if db.dialect == "postgresql":
            async with asyncio.timeout(10):
                while await reltuples(db, "orders") < 0:
                    await asyncio.sleep(0.05)
    finally:
        stop.set()
        async with asyncio.timeout(5):
            await keeping
    assert keeping.done() and keeping.exception() is None
