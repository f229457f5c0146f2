"""Orders stuck past their status's SLA: each gets ``order.stuck`` once per stay, with a
version and a timeline entry of its own (the sweeper's one statement per status and batch)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..domain.events import Event, Source, stuck_event
from ..domain.fold import HeldOrder
from ..domain.orders import OrderStatus
from ..domain.timeline import TimelineEntry, stuck_entry
from ..errors import UnreadableOrder
from ..storage import Database
from ..storage.database import Columns, Row, Writes, to_us
from ..tracing import trace_context
from .order_rows import HELD, OrderBodies, held_from_row, write_held
from .outbox import live_endpoints, outbox, traces

_STUCK = Columns.of(
    "order_id text, status text, status_at bigint, flagged_at bigint, event_id text"
)


class StuckOrderRepository:
    def __init__(self, db: Database, *, on_publish: Callable[[], None] | None = None) -> None:
        """``on_publish`` runs after a commit that created deliveries (a worker's wake-up)."""
        self._db = db
        self._on_publish = on_publish
        self._bodies = OrderBodies(logging.getLogger("rampwire.sweeper"))

    async def flag(
        self, status: OrderStatus, sla: timedelta, *, now: datetime, limit: int = 200
    ) -> list[Event]:
        """``order.stuck`` for up to ``limit`` orders in ``status`` since before ``now - sla``
        that were not flagged for this stay yet; each takes a version of its own. An order
        stored in a form that cannot be read is left as it is (logged once per process), so
        that it does not hold back the others."""
        lock = " FOR UPDATE SKIP LOCKED" if self._db.dialect == "postgresql" else ""
        source = Source(received_at=now)
        events: list[Event] = []
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                f"SELECT o.id, {HELD} FROM orders o WHERE o.status = $1"
                " AND o.status_at < $2 AND NOT EXISTS (SELECT 1 FROM order_stuck s"
                "  WHERE s.order_id = o.id AND s.status = o.status AND s.status_at = o.status_at)"
                f" ORDER BY o.status_at LIMIT $3{lock}",
                status.value,
                to_us(now - sla),
                limit,
            )
            if not rows:  # the sweeper's usual answer: nothing more to read or write
                return events
            held = [h for h in map(self._held, rows) if h is not None]
            if not held:
                return events
            entries: list[TimelineEntry] = []
            stuck_rows: list[tuple[Any, ...]] = []
            for order_held in held:
                order = order_held.order
                since = order_held.stamps.status_at
                order = order.evolve(
                    version=order.version + 1, updated_at=max(now, order.updated_at)
                )
                stuck = {
                    "status": status.value,
                    "since": since,
                    "sla_seconds": int(sla.total_seconds()),
                    "for_seconds": int((now - since).total_seconds()),
                }
                event = stuck_event(order, stuck, source, now=now)
                stuck_rows.append((order.id, status.value, to_us(since), to_us(now), event.id))
                order_held.order = order
                order_held.changed = True
                order_held.seq += 1
                entries.append(
                    stuck_entry(order, order_held.seq, status, since, sla, event, source, now=now)
                )
                events.append(event)
            writes = Writes(conn.dialect)
            writes.insert("order_stuck", _STUCK, stuck_rows)
            write_held(writes, held, entries)
            owners = {h.order.id: h.partner_id for h in held}
            endpoints = await live_endpoints(conn, owners.values())
            produced = traces(events, trace_context())
            made = outbox(writes, events, endpoints, now=now, owners=owners, traces=produced)
            await writes.run(conn)
        if made and self._on_publish is not None:
            self._on_publish()
        return events

    def _held(self, row: Row) -> HeldOrder | None:
        try:
            return held_from_row(row, self._bodies.load(row["id"], row))
        except UnreadableOrder:
            return None
