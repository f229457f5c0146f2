"""Test events: an example of any event type, made up for one endpoint (the dashboard's and
the portal's **Send a test event**, ``POST /v1/endpoints/{id}/test-events``).

An order event carries a sample order in the endpoint's own format (a provider dialect gets that
provider's fields); the order is not stored, so the event names none (``order_id`` null).
"""

from __future__ import annotations

from datetime import datetime

from ..dialects.base import DialectName
from ..dialects.samples import sample_order
from ..domain.events import EVENT_TYPES, Event, endpoint_disabled_event, example_event
from ..domain.orders import OrderStatus, Side
from .endpoints import Endpoint

DEFAULT_TEST_EVENT = "order.completed"


def make_test_event(endpoint: Endpoint, event_type: str, *, now: datetime) -> Event:
    """An example ``event_type`` event for ``endpoint``; ``event_type`` is one of
    :data:`~rampwire.domain.events.EVENT_TYPES` (the caller checked)."""
    assert event_type in EVENT_TYPES
    if event_type == "endpoint.disabled":
        return endpoint_disabled_event(
            endpoint.id, endpoint.url, "a test event: nothing was disabled", now=now
        )
    status = event_type.removeprefix("order.")
    known = {s.value for s in OrderStatus}
    order = sample_order(
        DialectName(endpoint.dialect),
        OrderStatus(status) if status in known else OrderStatus.COMPLETED,
        Side.BUY,
        now=now,
    )
    made = example_event(event_type, order, now=now)
    return Event(
        id=made.id,
        type=made.type,
        created_at=made.created_at,
        order_id=None,  # the sample order is not stored
        sequence=made.sequence,
        payload=made.payload,
    )
