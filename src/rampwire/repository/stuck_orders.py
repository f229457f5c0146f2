"""Orders stuck past their status's SLA: each gets ``order.stuck`` once per stay, with a
version and a timeline entry of its own (the sweeper's one statement per status and batch)."""

from __future__ import annotations

import dataclasses
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

# Where a status's next batch starts: the last order read, by (status_at, id).
Resume = tuple[int, str]


@dataclasses.dataclass(frozen=True, slots=True)
class Flagged:
    """A batch's answer: the events emitted, and where the next batch of the same status
    starts (None when the batch read every order left)."""

    events: list[Event]
    resume: Resume | None


class StuckOrderRepository:
    def __init__(self, db: Database, *, on_publish: Callable[[], None] | None = None) -> None:
        """``on_publish`` runs after a commit that created deliveries (a worker's wake-up)."""
        self._db = db
        self._on_publish = on_publish
        self._bodies = OrderBodies(logging.getLogger("rampwire.sweeper"))

    async def flag(
        self,
        status: OrderStatus,
        sla: timedelta,
        *,
        now: datetime,
        limit: int = 200,
        after: Resume | None = None,
    ) -> Flagged:
        """``order.stuck`` for the orders in ``status`` since before ``now - sla`` that were not
        flagged for this stay yet, up to ``limit`` read, oldest first, after ``after`` (a
        previous batch's :attr:`Flagged.resume`); each takes a version of its own. An order
        stored in a form that cannot be read is left as it is (logged once per process) and
        passed over: the next batch starts after it, so that however many there are, they do
        not hold back the others."""
        lock = " FOR UPDATE SKIP LOCKED" if self._db.dialect == "postgresql" else ""
        args: list[Any] = [status.value, to_us(now - sla), limit]
        beyond = ""
        if after is not None:
            args += after
            beyond = " AND (o.status_at > $4 OR (o.status_at = $4 AND o.id > $5))"
        source = Source(received_at=now)
        events: list[Event] = []
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                f"SELECT o.id, {HELD} FROM orders o WHERE o.status = $1"
                f" AND o.status_at < $2{beyond} AND NOT EXISTS (SELECT 1 FROM order_stuck s"
                "  WHERE s.order_id = o.id AND s.status = o.status AND s.status_at = o.status_at)"
                f" ORDER BY o.status_at, o.id LIMIT $3{lock}",
                *args,
            )
            if not rows:  # the sweeper's usual answer: nothing more to read or write
                return Flagged(events, None)
            last = rows[-1]
            resume = (last["status_at"], last["id"]) if len(rows) == limit else None
            held = [h for h in map(self._held, rows) if h is not None]
            if not held:
                return Flagged(events, resume)
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
        return Flagged(events, resume)

    def _held(self, row: Row) -> HeldOrder | None:
        try:
            return held_from_row(row, self._bodies.load(row["id"], row))
        except UnreadableOrder:
            return None
