"""The inbound pipeline's transaction, and the raw inbound log.

:meth:`InboundRepository.receive` does, in one transaction: skip a request the log holds
already (a duplicate: nothing is written), fold each decoded event into its order (created on
first sight), write the timeline, the canonical events and their deliveries, and store the raw
request; the log's unique key catches a copy that another process logged meanwhile, and the
transaction is then rolled back and written again. Requests that arrive together share one
transaction (group commit); the caller answers 2xx only after its request's commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

from ..dialects.base import DecodedEvent
from ..domain import serde
from ..domain.events import Event, Source
from ..domain.fold import ProviderUpdate
from ..domain.orders import Order, Provider, Side
from ..errors import DuplicateRow, NotFound, StorageError
from ..ids import new_id
from ..ingest.inbound import (
    INBOUND_ID_PREFIX,
    InboundOutcome,
    InboundRecord,
    InboundRequest,
    dedupe_key,
    kept_headers,
)
from ..ingest.sources import IngestSource
from ..metrics import Metrics
from ..settings import GROUP_COMMIT_BATCH, GROUP_COMMIT_WRITERS
from ..storage import Connection, Database, Row
from ..storage.database import Columns, Where, Writes, to_us
from ..tracing import trace_context
from ..types import record_maker
from . import provider_orders
from .batching import GroupCommit
from .inbound_rows import (
    COLUMNS,
    INBOUND,
    inbound_record,
    inbound_row,
    logged_keys,
    open_batch,
)
from .order_rows import PROVIDER_REF
from .orders import OrderRepository
from .outbox import (
    Subscriber,
    live_endpoints,
    outbox,
    subscribers,
    traces,
)

log = logging.getLogger("rampwire.ingest")

_PROVIDER_KEY = Columns.of("provider text, provider_order_id text")
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


@dataclass(kw_only=True, slots=True)
class _Applied:
    outcomes: list[InboundOutcome] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    order_id: str | None = None
    events: list[Event] = field(default_factory=list)  # to publish
    created: list[tuple[Provider, str]] = field(default_factory=list)  # orders made
    unknown: list[tuple[Provider, str]] = field(default_factory=list)  # not found, not made
    owners: dict[str, str | None] = field(default_factory=dict)  # its orders' partners
    orders: dict[str, Order] = field(default_factory=dict)  # by id, as its changes left them

    @property
    def detail(self) -> str | None:
        return "; ".join(self.details) or None

    @property
    def outcome(self) -> InboundOutcome:
        return min(self.outcomes or [InboundOutcome.UNMAPPED], key=_RANK.index)


def _waiting(writes: Writes, orders: set[tuple[Provider, str]]) -> int:
    """Add to ``writes`` the read of which of these orders, made just now, have requests
    logged ``unapplied`` before they existed (those named no side): each has committed, as
    the caller holds the orders' locks. Sent with the writes, so it costs no round trip; added
    before the batch's own log rows, which it must not see. Its index in ``writes``."""
    return writes.read(
        _PROVIDER_KEY,
        [(str(provider), order_id) for provider, order_id in orders],
        "SELECT DISTINCT provider, provider_order_id FROM inbound WHERE outcome = 'unapplied'"
        " AND (provider, provider_order_id) IN (SELECT provider, provider_order_id FROM v)",
    )


def _new_record(job: _Job, applied: _Applied) -> InboundRecord:
    first = job.events[0] if job.events else None
    request = job.request
    return _record(
        (
            new_id(INBOUND_ID_PREFIX),  # id
            job.source.id,  # source_id
            job.source.provider,  # provider
            job.key[1],  # dedupe_key
            request.received_at,  # received_at
            job.now,  # processed_at
            applied.outcome,  # outcome
            applied.detail,  # detail
            None if first is None else first.provider_order_id,  # provider_order_id
            applied.order_id,  # order_id
            None if first is None else first.provider_event,  # provider_event
            tuple(map(_EVENT_ID, applied.events)),  # event_ids
            kept_headers(request.headers),  # headers
            request.body.decode("utf-8", "replace"),  # body
            request.peer_ip,  # peer_ip
            1,  # attempts
        )
    )


_EVENT_ID = attrgetter("id")
# Made through their slots (types.record_maker), in field order: each once or more a request.
_record = record_maker(InboundRecord)
_result = record_maker(IngestResult)
_source = record_maker(Source)
_update = record_maker(ProviderUpdate)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Read:
    """What a batch's first statement read on PostgreSQL besides the log: the live endpoints
    of the operator and of ``partners`` (a batch whose orders are all theirs publishes to these:
    the others reach none of them), and the orders, locked (:func:`.provider_orders.apply`)."""

    partners: frozenset[str]
    found: list[Subscriber]
    orders: list[Row]


@dataclass(kw_only=True, slots=True)  # not frozen: never changed, and made per request
class _Job:
    source: IngestSource
    request: InboundRequest
    events: Sequence[DecodedEvent]
    now: datetime
    key: tuple[str, str]  # (source id, de-duplication key): the log's unique key
    trace: str | None  # the caller's producing span (rampwire.tracing.trace_context)


_job = record_maker(_Job)


class _Raced(StorageError):
    """Another process logged a request of the batch, or made one of its orders, meanwhile.
    The batch is written again once; raced again (busy processes on one database), its
    requests fail as a storage error does: answered 503, so the provider sends them again."""


class InboundRepository:
    def __init__(
        self,
        db: Database,
        orders: OrderRepository,
        *,
        max_batch: int = GROUP_COMMIT_BATCH,
        writers: int = GROUP_COMMIT_WRITERS,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._orders = orders
        self._commits: GroupCommit[_Job, IngestResult] = GroupCommit(
            self._write,
            max_batch=max_batch,
            writers=writers,
            log=log,
            metrics=metrics,
            name="ingest",
        )

    async def receive(
        self,
        source: IngestSource,
        request: InboundRequest,
        events: Sequence[DecodedEvent],
        *,
        now: datetime,
    ) -> IngestResult:
        """Apply and record one verified request, unless it was received before.

        Group commit: requests that arrive while a writer is busy queue, and the next writer
        takes up to ``max_batch`` of them into one transaction, so its fixed costs (begin,
        the duplicate check, the locks, publishing, the log rows, commit) are paid once per
        batch. Each caller waits for its own request's commit. A batch that fails is written
        again one request at a time, so a request only ever fails for its own reasons."""
        key = (source.id, dedupe_key(source.provider, events, request.body))
        # source, request, events, now, key, trace
        job = _job((source, request, events, now, key, trace_context()))
        return await self._commits.submit(job)

    async def _write(self, batch: list[_Job]) -> list[IngestResult]:
        try:
            return await self._write_batch(batch)
        except _Raced:  # written again, the duplicate check sees what raced it
            log.debug("another process logged a request or made an order of this batch; again")
            return await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Job]) -> list[IngestResult]:
        """One transaction: skip what the log already holds, lock the batch's provider orders,
        apply each request in arrival order, publish every event, log every request."""
        duplicate = _result((None, True, False))  # record, duplicate, waiting
        results: dict[int, IngestResult] = {}
        fresh: list[tuple[int, _Job]] = []
        async with self._db.transaction() as conn:
            seen, read = await self._open(conn, batch)
            for index, job in enumerate(batch):
                if job.key in seen:
                    results[index] = duplicate
                else:
                    seen.add(job.key)
                    fresh.append((index, job))
            now = max(job.now for job in batch)
            writes = Writes(conn.dialect)
            every, endpoints = await self._apply(
                conn,
                writes,
                [
                    (
                        job.source.provider,
                        job.request,
                        job.events,
                        job.source.default_side,
                        job.source.partner_id,
                    )
                    for _, job in fresh
                ],
                now,
                read,
            )
            created = {order for applied in every for order in applied.created}
            asked = _waiting(writes, created)
            unknown = {order for applied in every for order in applied.unknown}
            # PostgreSQL read the orders before it waited for their locks: one made meanwhile
            meanwhile = None if read is None else provider_orders.made_meanwhile(writes, unknown)
            records = {
                index: (_new_record(job, applied), applied)
                for (index, job), applied in zip(fresh, every, strict=True)
            }
            events = [e for applied in every for e in applied.events]
            produced: dict[str, str] = {}
            for (_, job), applied in zip(fresh, every, strict=True):
                produced.update(traces(applied.events, job.trace))
            owners = {k: v for _, applied in records.values() for k, v in applied.owners.items()}
            made = outbox(writes, events, endpoints, now=now, owners=owners, traces=produced)
            rows = [inbound_row(record) for record, _ in records.values()]
            logged = writes.insert("inbound", INBOUND, rows, " ON CONFLICT DO NOTHING")
            try:
                written = await writes.run(conn)
            except DuplicateRow as exc:  # an order the batch made, made meanwhile
                if exc.constraint != PROVIDER_REF:
                    raise
                raise _Raced from exc
            if written[logged] < len(rows) or (meanwhile is not None and writes.found(meanwhile)):
                raise _Raced
            awaited = {(Provider(provider), key) for provider, key in writes.found(asked)}
        self._wrote(every)
        self._orders.published(made)
        # A request that waited for its order here (logged ``unapplied``) while a later one in
        # the same batch made that order: the maker's caller catches it up after the commit.
        late = {
            (record.provider, record.provider_order_id)
            for record, _ in records.values()
            if record.outcome is InboundOutcome.UNAPPLIED
        }
        for index, (record, applied) in records.items():
            ours = set(applied.created)
            waiting = not awaited.isdisjoint(ours) or bool(late & ours)
            results[index] = _result((record, False, waiting))  # record, duplicate, waiting
        return [results[index] for index in range(len(batch))]

    def _wrote(self, every: Sequence[_Applied]) -> None:
        """After the commit: tell the process's order reader the orders written, each in its
        final state (the last request's), so that the next change to one, by ingest or the
        API, reads it without validating its body again."""
        final = {order_id: o for applied in every for order_id, o in applied.orders.items()}
        self._orders.bodies.wrote(final.values())

    async def _open(
        self, conn: Connection, batch: list[_Job]
    ) -> tuple[set[tuple[str, str]], _Read | None]:
        """A batch's first statement: lock its provider orders (duplicates' too, which does no
        harm), and read which of its requests the log holds already. The read sees the database
        as the statement began, maybe before a lock wait: a request logged meanwhile by another
        process is caught by the log's unique key when the batch writes (:class:`_Raced`).

        On PostgreSQL the same statement reads the orders, after their locks
        (:func:`.provider_orders.locked_read`: an order made by another process while it waited
        for them is caught when the batch writes, :meth:`_write_batch`), and the live endpoints
        of the operator and of the batch's sources' partners, the owners of the orders it will
        make: two round trips fewer than reading each after the locks (:meth:`_apply` reads the
        endpoints there only when an order belongs to another partner). SQLite reads them in
        :meth:`_apply` (its round trips are in process, and it has a single writer: no locks)."""
        keys = [job.key for job in batch]
        if conn.dialect != "postgresql":
            return await logged_keys(conn, keys), None
        orders = {(job.source.provider, e.provider_order_id) for job in batch for e in job.events}
        partners = frozenset(job.source.partner_id for job in batch if job.source.partner_id)
        opened = await open_batch(conn, keys, orders, sorted(partners))
        logged = {(source_id, key) for source_id, key in serde.from_json(opened.logged or "[]")}
        found = subscribers(opened.endpoints)
        return logged, _Read(partners=partners, found=found, orders=opened.orders)

    async def reprocess(
        self,
        record: InboundRecord,
        request: InboundRequest,
        events: Sequence[DecodedEvent],
        *,
        now: datetime,
        default_side: Side | None = None,
        partner_id: str | None = None,
    ) -> InboundRecord:
        """Apply a logged request again (after a fix, or once its order is known)."""
        async with self._db.transaction() as conn:
            await provider_orders.lock(
                conn, {(record.provider, e.provider_order_id) for e in events}
            )
            writes = Writes(conn.dialect)
            (applied,), endpoints = await self._apply(
                conn, writes, [(record.provider, request, events, default_side, partner_id)], now
            )
            produced = traces(applied.events, trace_context())
            made = outbox(
                writes, applied.events, endpoints, now=now, owners=applied.owners, traces=produced
            )
            await writes.run(conn)
            before = await conn.fetchval("SELECT event_ids FROM inbound WHERE id = $1", record.id)
            row = await conn.fetchrow(
                "UPDATE inbound SET outcome = $2, detail = $3, order_id = COALESCE($4, order_id),"
                " event_ids = $5, processed_at = $6, attempts = attempts + 1 WHERE id = $1"
                f" RETURNING {COLUMNS}",
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
        self._wrote([applied])
        self._orders.published(made)
        return inbound_record(row)

    async def _apply(
        self,
        conn: Connection,
        writes: Writes,
        requests: Sequence[
            tuple[Provider, InboundRequest, Sequence[DecodedEvent], Side | None, str | None]
        ],
        now: datetime,
        read: _Read | None = None,
    ) -> tuple[list[_Applied], list[Subscriber]]:
        """Fold each request's events (provider, request, events, side for orders not known
        yet) into their orders, in the order given, in one set-based pass
        (:func:`.provider_orders.apply`), whose writes go to ``writes``; and the live endpoints
        their events may go to: ``read`` when it holds every partner of those orders, else
        read now, after the orders' locks. The orders are ``read``'s, else read now (the
        caller holds their locks)."""
        every = [_Applied() for _ in requests]
        updates: list[ProviderUpdate] = []
        owners: list[tuple[_Applied, Provider, DecodedEvent]] = []
        for applied, (provider, request, events, side, partner_id) in zip(
            every, requests, strict=True
        ):
            for event in events:
                if event.issues:
                    applied.details.append("fields left out: " + "; ".join(event.issues))
                if event.status is None and not event.patch:
                    applied.outcomes.append(InboundOutcome.UNMAPPED)
                    applied.details.append(f"{event.provider_event} maps to no canonical status")
                    continue
                # provider (a StrEnum's value, without its property), provider_event,
                # received_at
                source = _source((str(provider), event.provider_event, request.received_at))
                # provider, provider_order_id, side, change, source, partner_id
                updates.append(
                    _update(
                        (
                            provider,
                            event.provider_order_id,
                            event.side or side,
                            event.change(),
                            source,
                            partner_id,
                        )
                    )
                )
                owners.append((applied, provider, event))
        if read is None:
            rows = await provider_orders.read(
                conn, {(u.provider, u.provider_order_id): None for u in updates}
            )
        else:
            rows = read.orders
        changes = provider_orders.apply(writes, updates, rows, now=now, bodies=self._orders.bodies)
        for (applied, provider, event), change in zip(owners, changes, strict=True):
            if change.result is None:
                applied.unknown.append((provider, event.provider_order_id))
                applied.outcomes.append(InboundOutcome.UNAPPLIED)
                applied.details.append(
                    f"order {event.provider_order_id!r} is not known yet and the request does"
                    " not say its side; re-process it once the order is known"
                )
                continue
            applied.order_id = applied.order_id or change.result.order.id
            applied.owners[change.result.order.id] = change.partner_id
            applied.orders[change.result.order.id] = change.result.order  # every fold writes
            applied.events.extend(change.events)
            if change.created:
                applied.created.append((provider, event.provider_order_id))
            applied.outcomes.append(
                InboundOutcome.APPLIED if change.events else InboundOutcome.UNCHANGED
            )
        theirs = {p for applied in every for p in applied.owners.values()}
        if not any(applied.events for applied in every):  # a batch of copies: nothing
            return every, []
        if read is not None and theirs - {None} <= read.partners:
            return every, read.found
        return every, await live_endpoints(conn, theirs)

    async def unapplied(self, provider: Provider, provider_order_id: str) -> list[InboundRecord]:
        """Requests for this order that waited for it to be known, oldest first."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {COLUMNS} FROM inbound WHERE outcome = 'unapplied' AND provider = $1"
                " AND provider_order_id = $2 ORDER BY id",
                provider.value,
                provider_order_id,
            )
        return [inbound_record(row) for row in rows]

    async def get(self, record_id: str) -> InboundRecord:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(f"SELECT {COLUMNS} FROM inbound WHERE id = $1", record_id)
        if row is None:
            raise NotFound(f"no inbound request {record_id!r}")
        return inbound_record(row)

    async def find(
        self,
        *,
        limit: int,
        before: str | None = None,
        source_id: str | None = None,
        outcome: InboundOutcome | None = None,
        order_id: str | None = None,
        partner_id: str | None = None,
    ) -> list[InboundRecord]:
        """Newest first; ``before`` is the last id of the previous page; with ``partner_id``,
        what that partner's sources received (their ids read first, so a partner without
        sources reads nothing rather than the whole log)."""
        where = Where()
        where.equals("source_id", source_id)
        if partner_id is not None:
            async with self._db.connection() as conn:
                rows = await conn.fetch("SELECT id FROM sources WHERE partner_id = $1", partner_id)
            if not rows:
                return []
            where.one_of("source_id", [row["id"] for row in rows])
        if outcome is not None:
            where.equals("outcome", outcome.value)
            if outcome is not InboundOutcome.APPLIED:  # inbound_outcome's predicate, word for
                where.add("outcome <> 'applied'")  # word: SQLite proves no other way to use it
        where.equals("order_id", order_id)
        sql = where.newest_first(f"SELECT {COLUMNS} FROM inbound", before=before, limit=limit)
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
        return [inbound_record(row) for row in rows]
