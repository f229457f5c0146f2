"""The inbound pipeline's transaction, and the raw inbound log.

:meth:`InboundRepository.receive` does, in one transaction: fold each decoded event into its
order (created on first sight), write the timeline, the canonical events and their deliveries,
and store the raw request, whose unique de-duplication key makes a second copy of a request
roll all of that back (it is a duplicate; nothing stays written). The caller answers 2xx only
after it returns, i.e. after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import serde
from ..dialects.base import DecodedEvent
from ..errors import NotFound
from ..events import Event, Source
from ..ids import new_id
from ..inbound import (
    INBOUND_ID_PREFIX,
    InboundOutcome,
    InboundRecord,
    InboundRequest,
    dedupe_key,
    kept_headers,
)
from ..orders import Provider, Side
from ..sources import IngestSource
from ..storage import Connection, Database, Row
from ..storage.database import from_us, to_us
from .orders import OrderRepository

_COLUMNS = (
    "id, source_id, provider, dedupe_key, received_at, processed_at, outcome, detail,"
    " provider_order_id, order_id, provider_event, event_ids, headers, body, peer_ip, attempts"
)
_RANK = (
    InboundOutcome.APPLIED,
    InboundOutcome.UNCHANGED,
    InboundOutcome.UNMAPPED,
    InboundOutcome.UNAPPLIED,
)  # a request with several events reports the first of these that one of them had


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestResult:
    record: InboundRecord | None  # None: a duplicate, nothing was written
    duplicate: bool = False
    waiting: bool = False  # the request made its order, and earlier requests wait for it


class _Duplicate(Exception):
    """The request was received before: roll its transaction back."""


@dataclass(kw_only=True, slots=True)
class _Applied:
    outcomes: list[InboundOutcome] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    order_id: str | None = None
    events: list[Event] = field(default_factory=list)  # to publish
    waiting: bool = False  # an order was made and requests logged before wait for it

    @property
    def detail(self) -> str | None:
        return "; ".join(self.details) or None

    @property
    def outcome(self) -> InboundOutcome:
        return min(self.outcomes or [InboundOutcome.UNMAPPED], key=_RANK.index)


def _row(record: InboundRecord) -> tuple[Any, ...]:
    """The columns of :data:`_COLUMNS`, in order."""
    return (
        record.id,
        record.source_id,
        record.provider.value,
        record.dedupe_key,
        to_us(record.received_at),
        to_us(record.processed_at),
        record.outcome.value,
        record.detail,
        record.provider_order_id,
        record.order_id,
        record.provider_event,
        serde.to_json(list(record.event_ids)).decode(),
        serde.to_json(record.headers).decode(),
        record.body,
        record.peer_ip,
        record.attempts,
    )


def _record(row: Row) -> InboundRecord:
    return InboundRecord(
        id=row["id"],
        source_id=row["source_id"],
        provider=Provider(row["provider"]),
        dedupe_key=row["dedupe_key"],
        received_at=from_us(row["received_at"]),
        processed_at=from_us(row["processed_at"]),
        outcome=InboundOutcome(row["outcome"]),
        detail=row["detail"],
        provider_order_id=row["provider_order_id"],
        order_id=row["order_id"],
        provider_event=row["provider_event"],
        event_ids=tuple(serde.from_json(row["event_ids"])),
        headers=serde.from_json(row["headers"]),
        body=row["body"],
        peer_ip=row["peer_ip"],
        attempts=row["attempts"],
    )


class InboundRepository:
    def __init__(self, db: Database, orders: OrderRepository) -> None:
        self._db = db
        self._orders = orders

    async def receive(
        self,
        source: IngestSource,
        request: InboundRequest,
        events: Sequence[DecodedEvent],
        *,
        now: datetime,
    ) -> IngestResult:
        """Apply and record one verified request, unless it was received before.

        The log row is written last, so a fresh request costs one statement for it; a
        duplicate's unique key conflicts there and its transaction is rolled back."""
        first = events[0] if events else None
        side = source.options.get("default_side")
        try:
            async with self._db.transaction() as conn:
                applied = await self._apply(
                    conn,
                    source.provider,
                    request,
                    events,
                    now,
                    None if side is None else Side(side),
                )
                made = await self._orders.publish(conn, applied.events, now)
                record = InboundRecord(
                    id=new_id(INBOUND_ID_PREFIX),
                    source_id=source.id,
                    provider=source.provider,
                    dedupe_key=dedupe_key(source.provider, events, request.body),
                    received_at=request.received_at,
                    processed_at=now,
                    outcome=applied.outcome,
                    detail=applied.detail,
                    provider_order_id=None if first is None else first.provider_order_id,
                    order_id=applied.order_id,
                    provider_event=None if first is None else first.provider_event,
                    event_ids=tuple(e.id for e in applied.events),
                    headers=kept_headers(request.headers),
                    body=request.body.decode("utf-8", "replace"),
                    peer_ip=request.peer_ip,
                    attempts=1,
                )
                if not await conn.execute(
                    f"INSERT INTO inbound ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                    " $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING",
                    *_row(record),
                ):
                    raise _Duplicate
        except _Duplicate:
            return IngestResult(record=None, duplicate=True)
        self._orders.published(made)
        return IngestResult(record=record, waiting=applied.waiting)

    async def reprocess(
        self,
        record: InboundRecord,
        request: InboundRequest,
        events: Sequence[DecodedEvent],
        *,
        now: datetime,
        default_side: Side | None = None,
    ) -> InboundRecord:
        """Apply a logged request again (after a fix, or once its order is known)."""
        async with self._db.transaction() as conn:
            applied = await self._apply(conn, record.provider, request, events, now, default_side)
            made = await self._orders.publish(conn, applied.events, now)
            before = await conn.fetchval("SELECT event_ids FROM inbound WHERE id = $1", record.id)
            row = await conn.fetchrow(
                "UPDATE inbound SET outcome = $2, detail = $3, order_id = COALESCE($4, order_id),"
                " event_ids = $5, processed_at = $6, attempts = attempts + 1 WHERE id = $1"
                f" RETURNING {_COLUMNS}",
                record.id,
                applied.outcome.value,
                applied.detail,
                applied.order_id,
                serde.to_json(
                    [*serde.from_json(before or "[]"), *(e.id for e in applied.events)]
                ).decode(),
                to_us(now),
            )
        if row is None:
            raise NotFound(f"no inbound request {record.id!r}")
        self._orders.published(made)
        return _record(row)

    async def _apply(
        self,
        conn: Connection,
        provider: Provider,
        request: InboundRequest,
        events: Sequence[DecodedEvent],
        now: datetime,
        default_side: Side | None,
    ) -> _Applied:
        applied = _Applied()
        for event in events:
            if event.issues:
                applied.details.append("fields left out: " + "; ".join(event.issues))
            if event.status is None and not event.patch:
                applied.outcomes.append(InboundOutcome.UNMAPPED)
                applied.details.append(f"{event.provider_event} maps to no canonical status")
                continue
            origin = Source(
                provider=provider.value,
                provider_event=event.provider_event,
                received_at=request.received_at,
            )
            applied_change = await self._orders.apply_provider_change(
                conn,
                provider=provider,
                provider_order_id=event.provider_order_id,
                side=event.side or default_side,
                change=event.change(),
                source=origin,
                now=now,
            )
            result = applied_change.result
            if result is None:
                applied.outcomes.append(InboundOutcome.UNAPPLIED)
                applied.details.append(
                    f"order {event.provider_order_id!r} is not known yet and the request does"
                    " not say its side; re-process it once the order is known"
                )
                continue
            applied.order_id = applied.order_id or result.order.id
            applied.events.extend(applied_change.events)
            applied.waiting = applied.waiting or applied_change.waiting
            applied.outcomes.append(
                InboundOutcome.APPLIED if applied_change.events else InboundOutcome.UNCHANGED
            )
        return applied

    async def unapplied(self, provider: Provider, provider_order_id: str) -> list[InboundRecord]:
        """Requests for this order that waited for it to be known, oldest first."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM inbound WHERE outcome = 'unapplied' AND provider = $1"
                " AND provider_order_id = $2 ORDER BY id",
                provider.value,
                provider_order_id,
            )
        return [_record(row) for row in rows]

    async def get(self, record_id: str) -> InboundRecord:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM inbound WHERE id = $1", record_id)
        if row is None:
            raise NotFound(f"no inbound request {record_id!r}")
        return _record(row)

    async def find(
        self,
        *,
        limit: int,
        before: str | None = None,
        source_id: str | None = None,
        outcome: InboundOutcome | None = None,
        order_id: str | None = None,
    ) -> list[InboundRecord]:
        """Newest first; ``before`` is the last id of the previous page."""
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if source_id is not None:
            where.append(f"source_id = {arg(source_id)}")
        if outcome is not None:
            where.append(f"outcome = {arg(outcome.value)}")
        if order_id is not None:
            where.append(f"order_id = {arg(order_id)}")
        if before is not None:
            where.append(f"id < {arg(before)}")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {_COLUMNS} FROM inbound {clause} ORDER BY id DESC LIMIT {arg(limit)}"
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [_record(row) for row in rows]
