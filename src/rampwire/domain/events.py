"""Events: what the outbox holds and what subscribers receive.

Every change to an order writes one event in the same transaction (transactional outbox):
``order.<status>`` for a status change, ``order.updated`` for other changes, and
``order.anomaly`` beside it when the change raised an anomaly. The envelope is written once, at
commit, and sent byte for byte afterwards::

    {"id": "evt_...", "type": "order.completed", "created_at": "...",
     "data": {"order": {...}, "previous_status": "processing", "sequence": 4,
              "source": {"provider": null, "provider_event": null, "received_at": "..."}}}

``sequence`` is the order's version after the change; the event id is stable across retries and
is sent as the ``webhook-id`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from pydantic import ConfigDict

from ..ids import new_id
from ..types import JSONObject, Timestamp, record_maker
from . import serde
from .lifecycle import Outcome
from .orders import Order, OrderStatus

EVENT_ID_PREFIX = "evt"

ORDER_EVENT_TYPES: tuple[str, ...] = (
    *(f"order.{status.value}" for status in OrderStatus),
    "order.updated",
    "order.anomaly",
    "order.stuck",
)
EVENT_TYPES: tuple[str, ...] = (*ORDER_EVENT_TYPES, "endpoint.disabled")


@dataclass(frozen=True, kw_only=True, slots=True)
class Source:
    """Where a change came from: a provider's webhook, or the API (provider None)."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")
    provider: str | None = None
    provider_event: str | None = None
    received_at: Timestamp


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """One outbox row: an event and its envelope, serialised once."""

    id: str
    type: str
    created_at: datetime
    order_id: str | None
    sequence: int | None
    payload: bytes  # the JSON envelope, exactly as delivered


_event = record_maker(Event)  # through its slots: one per change, two with an anomaly


def order_events(outcome: Outcome, source: Source, *, now: datetime) -> list[Event]:
    """The events a merge outcome produces: none, one, or one plus ``order.anomaly``."""
    events: list[Event] = []
    event_type = outcome.event_type
    found = outcome.anomaly
    if event_type is not None:
        order = outcome.order
        if found is not None:  # the anomaly takes the last version, each its own
            order = order.evolve(version=order.version - 1)
        events.append(order_event(event_type, order, outcome.previous_status, source, now))
    if found is not None:
        anomaly = {
            "code": found.code,
            "detail": found.detail,
            "statuses": list(found.statuses),
        }
        events.append(
            order_event(
                "order.anomaly", outcome.order, outcome.previous_status, source, now, anomaly
            )
        )
    return events


def endpoint_disabled_event(endpoint_id: str, url: str, reason: str, *, now: datetime) -> Event:
    """``endpoint.disabled``: an endpoint stopped receiving (410 Gone, or failing for days)."""
    event_id = new_id(EVENT_ID_PREFIX)
    envelope = {
        "id": event_id,
        "type": "endpoint.disabled",
        "created_at": now,
        "data": {"endpoint_id": endpoint_id, "url": url, "reason": reason, "disabled_at": now},
    }
    return Event(
        id=event_id,
        type="endpoint.disabled",
        created_at=now,
        order_id=None,
        sequence=None,
        payload=serde.to_json(envelope),
    )


def created_event(order: Order, source: Source, *, now: datetime) -> Event:
    """The event for a new order: ``order.<status>`` with no previous status."""
    return order_event(f"order.{order.status}", order, None, source, now)


def stuck_event(order: Order, stuck: JSONObject, source: Source, *, now: datetime) -> Event:
    """``order.stuck``: the order stayed in its status past that status's SLA."""
    return order_event("order.stuck", order, order.status, source, now, stuck=stuck)


def source_values(source: Source) -> JSONObject:
    """``serde.dump(source)``, byte for byte once serialised (the time is written by
    :func:`~rampwire.domain.serde.to_json`, as ``created_at`` is), without pydantic: in each
    event and each timeline entry."""
    return {
        "provider": source.provider,
        "provider_event": source.provider_event,
        "received_at": source.received_at,
    }


def order_event(
    event_type: str,
    order: Order,
    previous: OrderStatus | None,
    source: Source,
    now: datetime,
    anomaly: JSONObject | None = None,
    stuck: JSONObject | None = None,
) -> Event:
    """An event of ``event_type`` about ``order`` (after the change; ``previous``: its status
    before), with the members its type carries."""
    event_id = new_id(EVENT_ID_PREFIX)
    data: JSONObject = {
        "order": serde.order_fragment(order),  # the bytes of the order's row, made once
        "previous_status": None if previous is None else str(previous),
        "sequence": order.version,
        "source": source_values(source),
    }
    if anomaly is not None:
        data["anomaly"] = anomaly
    if stuck is not None:
        data["stuck"] = stuck
    envelope = {"id": event_id, "type": event_type, "created_at": now, "data": data}
    payload = serde.to_json(envelope)
    # id, type, created_at, order_id, sequence, payload
    return _event((event_id, event_type, now, order.id, order.version, payload))


def example_event(event_type: str, order: Order, *, now: datetime) -> Event:
    """An example of an order event type about ``order`` (made up: a test send), with the
    members its type carries; the source names no provider."""
    source = Source(received_at=now)
    if event_type == "order.anomaly":
        anomaly: JSONObject = {
            "code": "terminal_conflict",
            "detail": "an example: completed, then failed",
            "statuses": ["completed", "failed"],
        }
        return order_event(event_type, order, order.status, source, now, anomaly=anomaly)
    if event_type == "order.stuck":
        stuck: JSONObject = {
            "status": order.status.value,
            "since": order.updated_at,
            "sla_seconds": 3600,
            "for_seconds": 3600,
        }
        return order_event(event_type, order, order.status, source, now, stuck=stuck)
    return order_event(event_type, order, None, source, now)
