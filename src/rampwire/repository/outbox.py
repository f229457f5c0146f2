"""The transactional outbox: in the caller's transaction, the events of an order change (or of
an endpoint being disabled) and one delivery per matching live endpoint, woken by NOTIFY on
PostgreSQL. Claiming, recording and replaying those deliveries is :mod:`.deliveries`'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..delivery.endpoints import Ordering, matches
from ..dialects import Dialect, get_dialect
from ..domain import serde
from ..domain.deliveries import DELIVERY_ID_PREFIX
from ..domain.events import Event
from ..ids import new_id
from ..storage import Connection
from ..storage.database import Columns, Writes, to_us

NOTIFY_CHANNEL = "rampwire_deliveries"  # PostgreSQL: workers LISTEN; new deliveries NOTIFY


async def publish(conn: Connection, events: Sequence[Event], *, now: datetime) -> int:
    """The outbox, in the caller's transaction: ``events``, and one delivery per event and
    matching enabled endpoint (:func:`outbox`). Returns the deliveries made; on PostgreSQL
    they NOTIFY :data:`NOTIFY_CHANNEL`, heard by every worker once the transaction commits."""
    if not events:
        return 0
    writes = Writes(conn.dialect)
    made = outbox(writes, events, await live_endpoints(conn), now=now)
    await writes.run(conn)
    return made


@dataclass(frozen=True, kw_only=True, slots=True)
class Subscriber:
    """An endpoint that gets deliveries (enabled, not deleted), as the fan-out sees it."""

    id: str
    event_types: Sequence[str]  # patterns (:func:`~rampwire.endpoints.matches`)
    dialect: Dialect[Any]
    fifo: bool  # per-order FIFO

    @classmethod
    def of(cls, id: str, event_types: Sequence[str], ordering: str, dialect: str) -> Subscriber:
        return cls(
            id=id,
            event_types=event_types,
            dialect=get_dialect(dialect),
            fifo=ordering == Ordering.PER_ORDER_FIFO,
        )


async def live_endpoints(conn: Connection) -> list[Subscriber]:
    """The endpoints that get deliveries, as :func:`outbox` takes them."""
    rows = await conn.fetch(
        f"SELECT id, event_types, ordering, dialect FROM endpoints WHERE {_LIVE}"
    )
    return [
        Subscriber.of(r["id"], serde.from_json(r["event_types"]), r["ordering"], r["dialect"])
        for r in rows
    ]


_LIVE = "disabled_at IS NULL AND deleted_at IS NULL"
# PostgreSQL: the same, as one JSON value, for a statement that reads other things too.
LIVE_ENDPOINTS_JSON = (
    "SELECT json_agg(json_build_array(id, event_types, ordering, dialect)) FROM endpoints"
    f" WHERE {_LIVE}"
)


def subscribers(live_endpoints_json: str | None) -> list[Subscriber]:
    """The endpoints read with :data:`LIVE_ENDPOINTS_JSON`."""
    return [Subscriber.of(*e) for e in serde.from_json(live_endpoints_json or "[]")]


def outbox(
    writes: Writes, events: Sequence[Event], endpoints: Sequence[Subscriber], *, now: datetime
) -> int:
    """Add ``events`` and their deliveries, one per event and matching endpoint of
    ``endpoints`` (:func:`live_endpoints`, read in the same transaction), to ``writes``;
    returns the deliveries made. On PostgreSQL the statement that writes them NOTIFYs
    :data:`NOTIFY_CHANNEL` (PostgreSQL folds identical notifications)."""
    writes.insert("events", _EVENT, [_event_row(e) for e in events])
    return fan_out(writes, events, endpoints, now=now)


def fan_out(
    writes: Writes, events: Sequence[Event], endpoints: Sequence[Subscriber], *, now: datetime
) -> int:
    """The deliveries of :func:`outbox`, for events written already."""
    rows = []
    now_us = to_us(now)
    for index, event in enumerate(events):
        for endpoint in endpoints:
            if not matches(endpoint.event_types, event.type):
                continue
            if not endpoint.dialect.can_encode(event.type):
                continue  # e.g. order.anomaly to an endpoint speaking a provider's format
            endpoint_id = endpoint.id
            in_order = endpoint.fifo and event.order_id is not None
            rows.append(
                (
                    new_id(DELIVERY_ID_PREFIX),
                    endpoint_id,
                    event.id,
                    event.type,
                    event.order_id,
                    f"{endpoint_id}:{event.order_id}" if in_order else None,
                    (event.sequence or 0) * 4 + index if in_order else None,
                    "pending",
                    0,
                    now_us,
                    now_us,
                    now_us,
                )
            )
    notify = writes.dialect == "postgresql"
    tail = f" RETURNING pg_notify('{NOTIFY_CHANNEL}', '')" if notify else ""
    writes.insert("deliveries", _NEW_DELIVERY, rows, tail)
    return len(rows)


_EVENT = Columns.of(
    "id text, type text, order_id text, sequence bigint, created_at bigint, payload text"
)


def _event_row(event: Event) -> tuple[Any, ...]:
    """The columns of :data:`_EVENT`."""
    return (
        event.id,
        event.type,
        event.order_id,
        event.sequence,
        to_us(event.created_at),
        event.payload.decode(),
    )


_NEW_DELIVERY = Columns.of(
    "id text, endpoint_id text, event_id text, event_type text, order_id text, fifo_key text,"
    " fifo_seq bigint, status text, attempts integer, next_attempt_at bigint,"
    " created_at bigint, updated_at bigint"
)
