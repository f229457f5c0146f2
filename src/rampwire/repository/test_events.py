"""Test events in storage: an example event (:mod:`rampwire.delivery.examples`) and one
delivery of it to one endpoint, whatever its event-type filter, in one transaction; the
worker sends it like any other, so it shows in the endpoint's delivery log with its attempts."""

from __future__ import annotations

from datetime import datetime

from ..delivery.endpoints import Endpoint
from ..dialects import get_dialect
from ..domain.events import Event
from ..storage import Database
from ..storage.database import Writes
from .outbox import Subscriber, outbox


async def send_test_event(db: Database, endpoint: Endpoint, event: Event, *, now: datetime) -> str:
    """Write ``event`` and its delivery to ``endpoint``; returns the delivery's id."""
    # The event names no order, so it is the operator's: the endpoint stands in as a
    # subscriber of the operator's events, with every type (a test ignores the filter).
    only = Subscriber(
        id=endpoint.id, event_types=("*",), dialect=get_dialect(endpoint.dialect), fifo=False
    )
    async with db.transaction() as conn:
        writes = Writes(conn.dialect)
        made = outbox(writes, [event], [only], now=now)
        await writes.run(conn)
        # -- test_event_delivery --
        delivery_id = await conn.fetchval(
            "SELECT id FROM deliveries WHERE event_id = $1 AND endpoint_id = $2",
            event.id,
            endpoint.id,
        )
    assert made == 1 and delivery_id is not None
    return str(delivery_id)
