"""Reading stored orders back (:class:`~rampwire.repository.order_rows.OrderBodies`): a body
this process wrote is the record it wrote, and a body written by any other hand afterwards
(here an operator's SQL) is read from the row, on each back-end."""

from __future__ import annotations

import orjson
import pytest

from rampwire.domain import serde
from rampwire.domain.events import Source
from rampwire.domain.lifecycle import Change
from rampwire.domain.orders import Order, OrderData, OrderStatus, Side
from rampwire.errors import UnreadableOrder
from rampwire.repository import OrderRepository
from rampwire.storage import Database
from rampwire.types import utcnow

SOURCE = Source(provider=None, provider_event="api", received_at=utcnow())


async def _create(orders: OrderRepository) -> Order:
    now = utcnow()
    data = OrderData(side=Side.BUY, metadata={"channel": "web"})
    made = await orders.create(
        data, status=OrderStatus.AWAITING_PAYMENT, occurred_at=now, source=SOURCE, now=now
    )
    return made.order


async def _change(orders: OrderRepository, order_id: str, status: OrderStatus) -> Order:
    now = utcnow()
    change = Change(occurred_at=now, status=status)
    return (await orders.change(order_id, change, source=SOURCE, strict=True, now=now)).order


async def _stored(db: Database, order_id: str) -> Order:
    async with db.connection() as conn:
        return serde.order_from_json(
            await conn.fetchval("SELECT body FROM orders WHERE id = $1", order_id)
        )


async def _edit(db: Database, order_id: str, **fields: object) -> None:
    """An operator's SQL: the stored body with ``fields`` replaced, its version unchanged."""
    async with db.connection() as conn:
        body = orjson.loads(await conn.fetchval("SELECT body FROM orders WHERE id = $1", order_id))
        await conn.execute(
            "UPDATE orders SET body = $1 WHERE id = $2",
            orjson.dumps(body | fields).decode(),
            order_id,
        )


async def test_an_order_read_back_equals_its_stored_body(db: Database) -> None:
    orders = OrderRepository(db)
    order = await _create(orders)
    assert await orders.get(order.id) == await _stored(db, order.id) == order
    changed = await _change(orders, order.id, OrderStatus.PROCESSING)
    assert await orders.get(order.id) == await _stored(db, order.id) == changed
    assert changed.version == 2


async def test_a_body_edited_after_this_process_wrote_it_is_read_from_the_row(
    db: Database,
) -> None:
    orders = OrderRepository(db)
    order = await _create(orders)
    await _edit(db, order.id, metadata={"channel": "fixed by hand"})
    assert (await orders.get(order.id)).metadata == {"channel": "fixed by hand"}
    changed = await _change(orders, order.id, OrderStatus.PROCESSING)
    assert changed.metadata == {"channel": "fixed by hand"}  # folded into the edited order
    assert (await _stored(db, order.id)).metadata == {"channel": "fixed by hand"}


async def test_a_body_broken_after_this_process_wrote_it_is_unreadable(db: Database) -> None:
    orders = OrderRepository(db)
    order = await _create(orders)
    await _change(orders, order.id, OrderStatus.PROCESSING)
    await _edit(db, order.id, fiat={"currency": "EUR", "amount": "1" + "0" * 1000})
    with pytest.raises(UnreadableOrder):
        await orders.get(order.id)
    with pytest.raises(UnreadableOrder):
        await _change(orders, order.id, OrderStatus.COMPLETED)
