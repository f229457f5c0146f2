"""Orders, their timeline and their outbox events, written together in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain import serde
from ..domain.events import Event, Source, created_event
from ..domain.fold import ChangeResult, HeldOrder, fold
from ..domain.lifecycle import Change, stamps_of
from ..domain.orders import (
    ORDER_ID_PREFIX,
    Order,
    OrderData,
    OrderStatus,
    given_fields,
    new_order,
)
from ..domain.partners import OPERATOR, Tenant
from ..domain.timeline import TimelineEntry, created_entry
from ..errors import (
    DuplicateRow,
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
    ProviderOrderExists,
    UnreadableOrder,
)
from ..ids import new_id
from ..metrics import Metrics
from ..settings import GROUP_COMMIT_BATCH, GROUP_COMMIT_WRITERS
from ..storage import Connection, Database
from ..storage.database import Columns, Where, Writes, fetch_rows, to_us
from ..tracing import trace_context
from ..types import record_maker
from . import provider_orders
from .batching import GroupCommit
from .order_rows import (
    BY_PROVIDER_REF,
    PROVIDER_KEY,
    OrderBodies,
    entry_from_row,
    lock_held,
    micros,
    note_xid,
    write_held,
    written_xid,
)
from .outbox import live_endpoints, outbox, traces

log = logging.getLogger("rampwire.orders")


@dataclass(frozen=True, kw_only=True, slots=True)
class IdempotencyClaim:
    api_key_id: str  # the claim's scope: a partner key's partner, an operator key's own id
    key: str
    request_hash: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateResult:
    order: Order
    event: Event | None  # None when replayed: the event was published the first time
    replayed: bool
    response: bytes  # the order as first created, the API's answer (JSON), replays included


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderFilter:
    statuses: Sequence[OrderStatus] = ()
    provider: str | None = None
    side: str | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    partner_id: str | None = None  # one partner's orders only


@dataclass(frozen=True, kw_only=True, slots=True)
class FoundOrders:
    """A page of :meth:`OrderRepository.find`."""

    orders: list[Order]
    unreadable: list[str]  # ids of the page's rows that could not be read, left out
    last_id: str | None  # the page's last row, read or not: where the next page starts
    rows: int  # rows the page read, ``orders`` and ``unreadable`` together


@dataclass(frozen=True, kw_only=True, slots=True)
class _CreateJob:
    """One call of :meth:`OrderRepository.create`, queued for its batch."""

    held: HeldOrder
    entry: TimelineEntry
    event: Event
    idempotency: IdempotencyClaim | None
    now: datetime
    trace: str | None  # the caller's producing span (rampwire.tracing.trace_context)


@dataclass(frozen=True, kw_only=True, slots=True)
class _ChangeJob:
    """One call of :meth:`OrderRepository.change`, queued for its batch."""

    order_id: str
    change: Change
    source: Source
    strict: bool
    now: datetime
    actor: str | None
    note: str | None
    tenant: Tenant
    trace: str | None  # the caller's producing span (rampwire.tracing.trace_context)


# Made through their slots (types.record_maker), one of each per call, in field order.
_create_result = record_maker(CreateResult)
_create_job = record_maker(_CreateJob)
_change_job = record_maker(_ChangeJob)


class _Replay(Exception):
    """Another request with the same Idempotency-Key committed first."""


class OrderRepository:
    def __init__(
        self,
        db: Database,
        *,
        on_publish: Callable[[], None] | None = None,
        max_batch: int = GROUP_COMMIT_BATCH,
        writers: int = GROUP_COMMIT_WRITERS,
        metrics: Metrics | None = None,
    ) -> None:
        """``on_publish`` runs after a commit that created deliveries (a worker's wake-up);
        ``max_batch`` and ``writers`` shape the group commits of :meth:`create` and
        :meth:`change`, whose transactions ``metrics`` observes."""
        self._db = db
        self._on_publish = on_publish
        self._bodies = OrderBodies(log)  # reads the stored orders, the ones it wrote at once
        self._creates: GroupCommit[_CreateJob, None] = GroupCommit(
            self._write_creates,
            max_batch=max_batch,
            writers=writers,
            log=log,
            metrics=metrics,
            name="order_creates",
        )
        self._changes: GroupCommit[_ChangeJob, ChangeResult] = GroupCommit(
            self._write_changes,
            max_batch=max_batch,
            writers=writers,
            log=log,
            metrics=metrics,
            name="order_changes",
        )

    @property
    def transactions(self) -> int:
        """The transactions :meth:`create` and :meth:`change` have written (each a batch)."""
        return self._creates.transactions + self._changes.transactions

    @property
    def bodies(self) -> OrderBodies:
        """Its reader of stored orders, shared with ingest (:class:`.inbound.InboundRepository`):
        an order either wrote is read back by the other as the record written."""
        return self._bodies

    def published(self, made: int) -> None:
        """After the commit: wake this process's worker when deliveries were made."""
        if made and self._on_publish is not None:
            self._on_publish()

    async def create(
        self,
        data: OrderData,
        *,
        status: OrderStatus,
        occurred_at: datetime,
        source: Source,
        now: datetime,
        actor: str | None = None,
        idempotency: IdempotencyClaim | None = None,
        partner_id: str | None = None,
    ) -> CreateResult:
        """Create an order with its first timeline entry and its first event.

        Group commit, as for :meth:`change`: creates that arrive while a writer is busy are
        written together in one transaction (:meth:`_write_creates`)."""
        if idempotency is not None:
            replay = await self._replay(idempotency)
            if replay is not None:
                return replay
        order = new_order(
            data,
            id=new_id(ORDER_ID_PREFIX),
            status=status,
            version=1,
            created_at=now,
            updated_at=now,
            partner_id=partner_id,
        )
        given = dict.fromkeys(given_fields(data), occurred_at)
        stamps = stamps_of((occurred_at, given, {}))
        event = created_event(order, source, now=now)
        held = HeldOrder(order=order, stamps=stamps, seq=1, new=True)
        entry = created_entry(order, occurred_at, event, source, actor=actor)
        # held, entry, event, idempotency, now, trace
        job = _create_job((held, entry, event, idempotency, now, trace_context()))
        try:
            await self._creates.submit(job)
        except _Replay:
            replay = await self._replay(idempotency)  # type: ignore[arg-type]
            if replay is None:  # pragma: no cover - the row was there a moment ago
                raise
            return replay
        # the order's JSON as made for its event and row: to_json(dump(order)), byte for byte
        response = serde.order_to_json(order)
        return _create_result((order, event, False, response))  # order, event, replayed, response

    async def _write_creates(self, jobs: list[_CreateJob]) -> list[Exception | None]:
        """One transaction for orders created together: their rows, first timeline entries,
        ``order.created`` events and deliveries, and their idempotency claims, in one write
        (:class:`~rampwire.storage.database.Writes`). A provider order that exists already
        (or earlier in the batch) fails that create alone with :class:`ProviderOrderExists`.
        A claim that another request took first (the same key, committed after this caller
        looked) fails the write (:class:`DuplicateRow`: nothing of the batch is written) and
        raises :class:`_Replay`; the batch is then written again one order at a time, so only
        that order's caller replays.

        On PostgreSQL a batch with no provider order is not a transaction: its one write
        statement is atomic by itself, and the endpoints read before it sees what it would see
        inside a ``READ COMMITTED`` transaction (each statement takes its own snapshot, and
        nothing is locked): two round trips, not four (BEGIN, COMMIT). A provider order's
        advisory lock needs the transaction."""
        alone = self._db.dialect == "postgresql" and not any(
            job.held.order.provider is not None for job in jobs
        )
        async with self._db.connection() if alone else self._db.transaction() as conn:
            outcomes = await self._taken_provider_orders(conn, jobs)
            jobs = [job for job, outcome in zip(jobs, outcomes, strict=True) if outcome is None]
            if not jobs:
                return outcomes
            claims = [
                (
                    job.idempotency.api_key_id,
                    job.idempotency.key,
                    job.idempotency.request_hash,
                    job.held.order.id,
                    serde.order_to_json(job.held.order).decode(),  # the response's JSON
                    micros(job.now),
                )
                for job in jobs
                if job.idempotency is not None
            ]
            owners = {job.held.order.id: job.held.partner_id for job in jobs}
            endpoints = await live_endpoints(conn, owners.values())
            writes = Writes(conn.dialect)
            write_held(writes, [job.held for job in jobs], [job.entry for job in jobs])
            now = max(job.now for job in jobs)
            events = [job.event for job in jobs]
            produced = {job.event.id: job.trace for job in jobs if job.trace is not None}
            made = outbox(writes, events, endpoints, now=now, owners=owners, traces=produced)
            writes.insert("idempotency_keys", _CLAIM, claims)
            xid = note_xid(writes)
            try:
                await writes.run(conn)
            except DuplicateRow as exc:
                if exc.table != "idempotency_keys":
                    raise
                raise _Replay("an Idempotency-Key of the batch was claimed meanwhile") from exc
        self._bodies.wrote_held((job.held for job in jobs), written_xid(writes, xid))
        self.published(made)
        return outcomes

    async def _taken_provider_orders(
        self, conn: Connection, jobs: Sequence[_CreateJob]
    ) -> list[Exception | None]:
        """Per job, :class:`ProviderOrderExists` if its (provider, provider order id) is taken,
        by a stored order or an earlier job of the batch, else None. The keys are locked first
        (:func:`.provider_orders.lock`), as ingest does: a create and a provider's first sight of
        the same order, or two creates, wait for each other instead of failing on the index."""
        keys = {
            (job.held.order.provider, job.held.order.provider_order_id): None
            for job in jobs
            if job.held.order.provider is not None and job.held.order.provider_order_id
        }
        if not keys:  # the usual API create: an order of rampwire's own
            return [None] * len(jobs)
        await provider_orders.lock(conn, keys)
        rows = await fetch_rows(
            conn,
            PROVIDER_KEY,
            [(provider.value, order_id) for provider, order_id in keys],
            f"SELECT o.id, o.provider, o.provider_order_id FROM orders o WHERE {BY_PROVIDER_REF}",
        )
        taken = {(row["provider"], row["provider_order_id"]): row["id"] for row in rows}
        outcomes: list[Exception | None] = []
        for job in jobs:
            order = job.held.order
            if order.provider is None:
                outcomes.append(None)
                continue
            key = (order.provider.value, order.provider_order_id)
            existing = taken.setdefault(key, order.id)
            if existing == order.id:
                outcomes.append(None)
                continue
            outcomes.append(
                ProviderOrderExists(
                    f"{order.provider.value} order {order.provider_order_id!r} exists already"
                    f" as {existing}; change that order instead",
                    order_id=existing,
                )
            )
        return outcomes

    async def is_replay(self, claim: IdempotencyClaim) -> bool:
        """Whether this key was already used (a retry replays; nothing new is created)."""
        return await self._replay(claim) is not None

    async def _replay(self, claim: IdempotencyClaim) -> CreateResult | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT request_hash, order_id, response FROM idempotency_keys"
                " WHERE api_key_id = $1 AND idempotency_key = $2",
                claim.api_key_id,
                claim.key,
            )
        if row is None:
            return None
        if row["request_hash"] != claim.request_hash:
            raise IdempotencyConflict(
                f"Idempotency-Key {claim.key!r} was used for a different request; "
                "use a new key for a new order",
                order_id=row["order_id"],
            )
        response = serde.from_json(row["response"])
        return CreateResult(
            order=serde.load(Order, response),
            event=None,
            replayed=True,
            response=serde.to_json(response),
        )

    async def change(
        self,
        order_id: str,
        change: Change,
        *,
        source: Source,
        strict: bool,
        now: datetime,
        actor: str | None = None,
        note: str | None = None,
        tenant: Tenant = OPERATOR,
    ) -> ChangeResult:
        """Merge ``change`` into the order, record it on the timeline and publish its events.

        In ``strict`` mode an illegal transition raises before anything is written. Group
        commit: changes that arrive while a writer is busy are written together, in arrival
        order, in one transaction (:meth:`_write_changes`); each caller gets its own result or
        its own error."""
        # order_id, change, source, strict, now, actor, note, tenant, trace
        job = _change_job(
            (order_id, change, source, strict, now, actor, note, tenant, trace_context())
        )
        return await self._changes.submit(job)

    async def _write_changes(self, jobs: list[_ChangeJob]) -> list[ChangeResult | Exception]:
        """One transaction, set-based: one statement reads and locks every order concerned (in
        id order, so that two batches cannot deadlock), each change is folded in memory, then
        each order is written once and every event published together. A change to an unknown
        order or an illegal one fails alone and writes nothing."""
        outcomes: list[ChangeResult | Exception] = []
        events: list[Event] = []
        produced: dict[str, str] = {}
        entries: list[TimelineEntry] = []
        async with self._db.transaction() as conn:
            # one lookup by key per order, in id order (two batches cannot deadlock): a join
            # with the ids may be planned once, on a small table, as a scan of all of it
            ids = sorted({job.order_id for job in jobs})
            args: list[tuple[Any, ...]]
            if conn.dialect == "postgresql":
                kept = self._bodies.kept(ids)
                args = [(i, *kept[i][2:]) if i in kept else (i, None, None) for i in ids]
            else:
                kept, args = {}, [(i,) for i in ids]
            rows = await conn.fetchmany(lock_held(conn.dialect, self._db.for_update), args)
            held: dict[str, HeldOrder] = {}
            unreadable: dict[str, UnreadableOrder] = {}
            for row in rows:
                try:
                    held[row["id"]] = self._bodies.locked(row, kept)
                except UnreadableOrder as exc:  # fails the changes to it, and only those
                    unreadable[row["id"]] = exc
            for job in jobs:
                order = held.get(job.order_id)
                if order is not None and not job.tenant.owns(order.partner_id):
                    order = None  # another partner's: as if it did not exist
                    unreadable.pop(job.order_id, None)
                if order is None:
                    outcomes.append(
                        unreadable.get(job.order_id) or NotFound(f"no order {job.order_id!r}")
                    )
                    continue
                try:
                    result = fold(
                        order,
                        job.change,
                        source=job.source,
                        strict=job.strict,
                        now=job.now,
                        actor=job.actor,
                        note=job.note,
                    )
                except IllegalTransition as exc:  # raised before the fold changed anything
                    outcomes.append(exc)
                    continue
                outcomes.append(result)
                entries.append(result.entry)
                events.extend(result.events)
                produced.update(traces(result.events, job.trace))
            owners = {order_id: h.partner_id for order_id, h in held.items()}
            endpoints = await live_endpoints(conn, owners.values())
            writes = Writes(conn.dialect)
            write_held(writes, list(held.values()), entries)
            now = max(job.now for job in jobs)
            made = outbox(writes, events, endpoints, now=now, owners=owners, traces=produced)
            xid = note_xid(writes) if entries else None  # else nothing is written
            await writes.run(conn)
        self._bodies.wrote_held((h for h in held.values() if h.changed), written_xid(writes, xid))
        self.published(made)
        return outcomes

    async def get(self, order_id: str, tenant: Tenant = OPERATOR) -> Order:
        """The order; :class:`NotFound` also when it is not ``tenant``'s."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow("SELECT body, partner_id FROM orders WHERE id = $1", order_id)
        if row is None or not tenant.owns(row["partner_id"]):
            raise NotFound(f"no order {order_id!r}")
        return self._bodies.load(order_id, row)

    async def find(
        self, filters: OrderFilter, *, limit: int, before: str | None = None
    ) -> FoundOrders:
        """Orders newest first; ``before`` is the id of the last order of the previous page.
        A row that cannot be read is left out and named (:attr:`FoundOrders.unreadable`)."""
        where = Where()
        where.one_of("status", [s.value for s in filters.statuses])
        where.equals("provider", filters.provider)
        where.equals("side", filters.side)
        where.equals("partner_id", filters.partner_id)
        if filters.created_from is not None:
            where.add(f"created_at >= {where.arg(to_us(filters.created_from))}")
        if filters.created_to is not None:
            where.add(f"created_at < {where.arg(to_us(filters.created_to))}")
        sql = where.newest_first(
            "SELECT id, body, partner_id FROM orders", before=before, limit=limit
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
        orders: list[Order] = []
        unreadable: list[str] = []
        for row in rows:
            try:
                orders.append(self._bodies.load(row["id"], row))
            except UnreadableOrder:
                unreadable.append(row["id"])
        last_id = rows[-1]["id"] if rows else None
        return FoundOrders(orders=orders, unreadable=unreadable, last_id=last_id, rows=len(rows))

    async def timeline(self, order_id: str, tenant: Tenant = OPERATOR) -> list[TimelineEntry]:
        async with self._db.connection() as conn:
            owner = await conn.fetchrow("SELECT partner_id FROM orders WHERE id = $1", order_id)
            if owner is None or not tenant.owns(owner["partner_id"]):
                raise NotFound(f"no order {order_id!r}")
            rows = await conn.fetch(
                "SELECT seq, recorded_at, occurred_at, kind, body FROM timeline"
                " WHERE order_id = $1 ORDER BY seq",
                order_id,
            )
        return [entry_from_row(order_id, row) for row in rows]


_CLAIM = Columns.of(
    "api_key_id text, idempotency_key text, request_hash text, order_id text, response json,"
    " created_at bigint"
)
