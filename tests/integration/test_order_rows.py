"""Reading stored orders back (:class:`~rampwire.repository.order_rows.OrderBodies`): a body
this process wrote is the record it wrote, and a body written by any other hand afterwards
(here an operator's SQL) is read from the row, on each back-end; the API's changes and ingest
share one reader, so an order either wrote is read back by the other without validating it."""

from __future__ import annotations

import orjson
import pytest

from rampwire.crypto import SecretBox
from rampwire.dialects.base import DecodedEvent, DialectName
from rampwire.domain import serde
from rampwire.domain.events import Source
from rampwire.domain.lifecycle import Change, Stamps
from rampwire.domain.orders import Order, OrderData, OrderStatus, Provider, Side
from rampwire.errors import UnreadableOrder
from rampwire.ids import new_id
from rampwire.ingest.inbound import InboundRequest
from rampwire.ingest.sources import SOURCE_ID_PREFIX, IngestSource
from rampwire.repository import OrderRepository, order_rows
from rampwire.repository.inbound import InboundRepository
from rampwire.repository.sources import SourceRepository
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


async def test_on_postgresql_a_change_of_an_own_write_reads_no_body(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock read leaves out the body and stamps of a row still as this process wrote it
    (its ``xmin``); once another hand wrote the row (the same version: only the ``xmin``
    tells), they are read, and the body compared, again. SQLite's rows carry no ``xmin``: each
    is read."""
    orders = OrderRepository(db)
    compared: list[str] = []
    stamped: list[str] = []
    known, stamps_from = orders.bodies.known, order_rows.stamps_from

    def spy(order_id: str, body: str | bytes) -> Order | None:
        compared.append(order_id)
        return known(order_id, body)

    def stamps_spy(status_at: int, field_times: str) -> Stamps:
        stamped.append(field_times)
        return stamps_from(status_at, field_times)

    monkeypatch.setattr(orders.bodies, "known", spy)
    monkeypatch.setattr(order_rows, "stamps_from", stamps_spy)
    order = await _create(orders)
    await _change(orders, order.id, OrderStatus.PROCESSING)  # reads the create's row
    await _change(orders, order.id, OrderStatus.DELIVERY_SENT)  # reads the change's row
    read = 0 if db.dialect == "postgresql" else 2
    assert compared == [order.id] * read
    assert len(stamped) == read
    await _edit(db, order.id, metadata={"channel": "fixed by hand"})
    changed = await _change(orders, order.id, OrderStatus.COMPLETED)
    assert compared == [order.id] * (read + 1)
    assert len(stamped) == read + 1
    assert changed.metadata == {"channel": "fixed by hand"}
    assert await _stored(db, order.id) == changed


# -- ingest: the same reader as the API's changes (OrderRepository.bodies) --------------------


async def _source(db: Database) -> IngestSource:
    now = utcnow()
    source = IngestSource(
        id=new_id(SOURCE_ID_PREFIX),
        provider=Provider.TRANSAK,
        name="rows",
        credentials={"access_token": "rows-access-token-0123456789"},
        options={},
        created_at=now,
        updated_at=now,
    )
    return await SourceRepository(db, SecretBox(b"\x07" * 32)).create(source)


async def _ingest(
    inbound: InboundRepository, source: IngestSource, provider_order_id: str, status: OrderStatus
) -> str:
    """One provider request: ``provider_order_id`` at ``status`` (made on first sight); its
    order's id."""
    now = utcnow()
    event = DecodedEvent(
        dialect=DialectName.TRANSAK,
        provider=Provider.TRANSAK,
        provider_event=f"ORDER_{status.value.upper()}",
        provider_order_id=provider_order_id,
        dedupe_key=new_id("evt"),
        occurred_at=now,
        side=Side.SELL,
        status=status,
        patch={},
        raw={"id": new_id("evt")},
    )
    request = InboundRequest(headers={}, body=b"{}", received_at=now)
    record = (await inbound.receive(source, request, [event], now=now)).record
    assert record is not None and record.order_id is not None
    return record.order_id


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The order bodies validated from here on (a spy: each is still validated)."""
    seen: list[str] = []
    validate = serde.order_from_json

    def spy(raw: str | bytes) -> Order:
        order = validate(raw)
        seen.append(order.id)
        return order

    monkeypatch.setattr(serde, "order_from_json", spy)
    return seen


async def test_ingest_and_api_changes_read_back_what_either_wrote(
    db: Database, validated: list[str]
) -> None:
    orders = OrderRepository(db)
    inbound = InboundRepository(db, orders)
    source = await _source(db)
    order_id = await _ingest(inbound, source, "tx-1", OrderStatus.AWAITING_PAYMENT)
    await _ingest(inbound, source, "tx-1", OrderStatus.PROCESSING)  # ingest wrote it
    changed = await _change(orders, order_id, OrderStatus.COMPLETED)  # ingest wrote it
    assert changed.status is OrderStatus.COMPLETED and changed.version == 4
    await _ingest(inbound, source, "tx-1", OrderStatus.COMPLETED)  # the API wrote it
    read = await orders.get(order_id)  # ingest wrote it
    assert validated == []  # no body read back was validated
    assert read == await _stored(db, order_id)
    assert read.status is OrderStatus.COMPLETED and read.version == 4


async def test_a_body_edited_between_two_ingest_requests_is_read_from_the_row(
    db: Database, validated: list[str]
) -> None:
    inbound = InboundRepository(db, OrderRepository(db))
    source = await _source(db)
    order_id = await _ingest(inbound, source, "tx-2", OrderStatus.AWAITING_PAYMENT)
    await _edit(db, order_id, metadata={"channel": "fixed by hand"})
    await _ingest(inbound, source, "tx-2", OrderStatus.PROCESSING)
    assert validated == [order_id]  # ingest's read of the edited body
    stored = await _stored(db, order_id)
    assert stored.metadata == {"channel": "fixed by hand"}  # folded into the edited order
    assert stored.status is OrderStatus.PROCESSING


async def test_a_body_broken_after_ingest_wrote_it_fails_ingest_as_before(db: Database) -> None:
    """Ingest raises ``UnreadableOrder``, as the API's reads do; its route answers 503 (the
    provider sends it again) where the API answers 409 (test_ingest_batches)."""
    inbound = InboundRepository(db, OrderRepository(db))
    source = await _source(db)
    order_id = await _ingest(inbound, source, "tx-3", OrderStatus.AWAITING_PAYMENT)
    await _edit(db, order_id, fiat={"currency": "EUR", "amount": "1" + "0" * 1000})
    with pytest.raises(UnreadableOrder):
        await _ingest(inbound, source, "tx-3", OrderStatus.PROCESSING)
