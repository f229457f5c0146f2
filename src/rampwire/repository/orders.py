"""Orders, their timeline and their outbox events, written together in one transaction."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .. import serde
from ..errors import (
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
    ProviderOrderExists,
    UnreadableOrder,
)
from ..events import Event, Source, created_event, order_events, stuck_event
from ..ids import new_id
from ..lifecycle import Change, Outcome, Stamps, Step, merge
from ..orders import (
    ORDER_ID_PREFIX,
    PATCHABLE_FIELDS,
    Order,
    OrderData,
    OrderStatus,
    Provider,
    Side,
)
from ..storage import Connection, Database, Row
from ..storage.database import Columns, Where, Writes, fetch_rows, from_us, to_us
from ..timeline import EntryKind, TimelineEntry, entry_body, entry_kind
from .batching import GroupCommit
from .outbox import live_endpoints, outbox

log = logging.getLogger("rampwire.orders")

# Group commit of API order creates and changes: a second writer fills one batch while the
# other commits.
DEFAULT_BATCH = 64
DEFAULT_WRITERS = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class IdempotencyClaim:
    api_key_id: str
    key: str
    request_hash: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateResult:
    order: Order
    event: Event | None  # None when replayed: the event was published the first time
    replayed: bool
    response: dict[str, Any]  # the order as first created, for idempotent replays


@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeResult:
    order: Order
    outcome: Outcome
    events: list[Event]
    entry: TimelineEntry


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderUpdate:
    """A provider's change to one of its orders, to fold in (:meth:`apply_provider_changes`)."""

    provider: Provider
    provider_order_id: str
    side: Side | None  # how to create the order if it is not known yet; None: do not
    change: Change
    source: Source


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderChange:
    result: ChangeResult | None  # None: the order is unknown and no side says how to create it
    events: list[Event]  # to publish, ``order.created`` first when the change made the order
    created: bool = False  # the change made the order


@dataclass(kw_only=True, slots=True)
class _Held:
    """An order locked in this transaction, as the changes folded so far leave it; written
    once, after the last of them (:func:`_write`)."""

    order: Order
    stamps: Stamps
    seq: int  # its last timeline entry's
    new: bool = False  # not in the table yet
    changed: bool = False  # differs from its row


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderFilter:
    statuses: Sequence[OrderStatus] = ()
    provider: str | None = None
    side: str | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive


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

    held: _Held
    entry: TimelineEntry
    event: Event
    response: dict[str, Any]
    idempotency: IdempotencyClaim | None
    now: datetime


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


class _Replay(Exception):
    """Another request with the same Idempotency-Key committed first."""


class OrderRepository:
    def __init__(
        self,
        db: Database,
        *,
        on_publish: Callable[[], None] | None = None,
        max_batch: int = DEFAULT_BATCH,
        writers: int = DEFAULT_WRITERS,
    ) -> None:
        """``on_publish`` runs after a commit that created deliveries (a worker's wake-up);
        ``max_batch`` and ``writers`` shape the group commits of :meth:`create` and
        :meth:`change`."""
        self._db = db
        self._on_publish = on_publish
        self._unreadable: set[str] = set()  # orders logged as unreadable, logged once each
        self._creates: GroupCommit[_CreateJob, None] = GroupCommit(
            self._write_creates, max_batch=max_batch, writers=writers, log=log
        )
        self._changes: GroupCommit[_ChangeJob, ChangeResult] = GroupCommit(
            self._write_changes, max_batch=max_batch, writers=writers, log=log
        )

    @property
    def transactions(self) -> int:
        """The transactions :meth:`create` and :meth:`change` have written (each a batch)."""
        return self._creates.transactions + self._changes.transactions

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
    ) -> CreateResult:
        """Create an order with its first timeline entry and its first event.

        Group commit, as for :meth:`change`: creates that arrive while a writer is busy are
        written together in one transaction (:meth:`_write_creates`)."""
        if idempotency is not None:
            replay = await self._replay(idempotency)
            if replay is not None:
                return replay
        order = Order(
            **{f.name: getattr(data, f.name) for f in dataclasses.fields(OrderData)},
            id=new_id(ORDER_ID_PREFIX),
            status=status,
            version=1,
            created_at=now,
            updated_at=now,
        )
        stamps = Stamps(status_at=occurred_at, fields=dict.fromkeys(_given(data), occurred_at))
        event = created_event(order, source, now=now)
        response = serde.dump(order)
        job = _CreateJob(
            held=_Held(order=order, stamps=stamps, seq=1, new=True),
            entry=_created_entry(order, occurred_at, event, source, actor=actor),
            event=event,
            response=response,
            idempotency=idempotency,
            now=now,
        )
        try:
            await self._creates.submit(job)
        except _Replay:
            replay = await self._replay(idempotency)  # type: ignore[arg-type]
            if replay is None:  # pragma: no cover - the row was there a moment ago
                raise
            return replay
        return CreateResult(order=order, event=event, replayed=False, response=response)

    async def _write_creates(self, jobs: list[_CreateJob]) -> list[Exception | None]:
        """One transaction for orders created together: their rows, first timeline entries,
        ``order.created`` events and deliveries, and their idempotency claims, in one write
        (:class:`~rampwire.storage.database.Writes`). A provider order that exists already
        (or earlier in the batch) fails that create alone with :class:`ProviderOrderExists`.
        A claim that another request took first (the same key, committed after this caller
        looked) raises :class:`_Replay`; the batch is then written again one order at a time,
        so only that order's caller replays."""
        async with self._db.transaction() as conn:
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
                    serde.to_json(job.response).decode(),
                    to_us(job.now),
                )
                for job in jobs
                if job.idempotency is not None
            ]
            endpoints = await live_endpoints(conn)
            writes = Writes(conn.dialect)
            _write(writes, [job.held for job in jobs], [job.entry for job in jobs])
            now = max(job.now for job in jobs)
            made = outbox(writes, [job.event for job in jobs], endpoints, now=now)
            claimed = writes.insert("idempotency_keys", _CLAIM, claims, " ON CONFLICT DO NOTHING")
            if (await writes.run(conn))[claimed] < len(claims):
                raise _Replay("an Idempotency-Key of the batch was claimed meanwhile")
        self.published(made)
        return outcomes

    async def _taken_provider_orders(
        self, conn: Connection, jobs: Sequence[_CreateJob]
    ) -> list[Exception | None]:
        """Per job, :class:`ProviderOrderExists` if its (provider, provider order id) is taken,
        by a stored order or an earlier job of the batch, else None. The keys are locked first
        (:meth:`lock_provider_orders`), as ingest does: a create and a provider's first sight of
        the same order, or two creates, wait for each other instead of failing on the index."""
        keys = {
            (job.held.order.provider, job.held.order.provider_order_id): None
            for job in jobs
            if job.held.order.provider is not None and job.held.order.provider_order_id
        }
        if not keys:  # the usual API create: an order of rampwire's own
            return [None] * len(jobs)
        await self.lock_provider_orders(conn, keys)
        rows = await fetch_rows(
            conn,
            _PROVIDER_KEY,
            [(provider.value, order_id) for provider, order_id in keys],
            "SELECT o.id, o.provider, o.provider_order_id FROM orders o"
            " WHERE (o.provider, o.provider_order_id)"
            " IN (SELECT provider, provider_order_id FROM v)",
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
            order=serde.load(Order, response), event=None, replayed=True, response=response
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
    ) -> ChangeResult:
        """Merge ``change`` into the order, record it on the timeline and publish its events.

        In ``strict`` mode an illegal transition raises before anything is written. Group
        commit: changes that arrive while a writer is busy are written together, in arrival
        order, in one transaction (:meth:`_write_changes`); each caller gets its own result or
        its own error."""
        job = _ChangeJob(
            order_id=order_id,
            change=change,
            source=source,
            strict=strict,
            now=now,
            actor=actor,
            note=note,
        )
        return await self._changes.submit(job)

    async def _write_changes(self, jobs: list[_ChangeJob]) -> list[ChangeResult | Exception]:
        """One transaction, set-based: one statement reads and locks every order concerned (in
        id order, so that two batches cannot deadlock), each change is folded in memory, then
        each order is written once and every event published together. A change to an unknown
        order or an illegal one fails alone and writes nothing."""
        outcomes: list[ChangeResult | Exception] = []
        events: list[Event] = []
        entries: list[TimelineEntry] = []
        lock = self._db.for_update
        async with self._db.transaction() as conn:
            endpoints = await live_endpoints(conn)
            rows = await fetch_rows(
                conn,
                _ORDER_ID,
                [(order_id,) for order_id in dict.fromkeys(job.order_id for job in jobs)],
                f"SELECT o.id, {_HELD} FROM orders o WHERE o.id IN (SELECT id FROM v)"
                f" ORDER BY o.id {lock}",
            )
            held: dict[str, _Held] = {}
            unreadable: dict[str, UnreadableOrder] = {}
            for row in rows:
                try:
                    held[row["id"]] = _held(row, self._load(row["id"], row["body"]))
                except UnreadableOrder as exc:  # fails the changes to it, and only those
                    unreadable[row["id"]] = exc
            for job in jobs:
                order = held.get(job.order_id)
                if order is None:
                    outcomes.append(
                        unreadable.get(job.order_id) or NotFound(f"no order {job.order_id!r}")
                    )
                    continue
                try:
                    result = _fold(
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
            writes = Writes(conn.dialect)
            _write(writes, list(held.values()), entries)
            made = outbox(writes, events, endpoints, now=max(job.now for job in jobs))
            await writes.run(conn)
        self.published(made)
        return outcomes

    async def lock_provider_orders(
        self, conn: Connection, orders: Iterable[tuple[Provider, str]]
    ) -> None:
        """Until the transaction ends, hold these provider orders, existing or not: a request
        that finds no order and one that creates it cannot pass each other. On PostgreSQL,
        transaction-scoped advisory locks (:data:`LOCK_PROVIDER_ORDERS`); SQLite has a single
        writer."""
        keys = provider_lock_keys(orders)
        if keys and self._db.dialect == "postgresql":
            await conn.execute(LOCK_PROVIDER_ORDERS.format(keys="$1"), keys)

    async def apply_provider_changes(
        self,
        conn: Connection,
        writes: Writes,
        updates: Sequence[ProviderUpdate],
        *,
        now: datetime,
    ) -> list[ProviderChange]:
        """Fold providers' changes into their orders, in the order given, inside the caller's
        transaction; an order is created (status ``created``, with the change's fields) on
        first sight. The caller holds the orders' locks (:meth:`lock_provider_orders`), and
        publishes the events (:func:`~rampwire.repository.outbox.outbox`) and runs
        ``writes`` once it has added its own.

        Set-based: one statement reads every order concerned, and each order is written once,
        in its final state, whatever the number of changes (:func:`_write`)."""
        lock = self._db.for_update
        rows = await fetch_rows(
            conn,
            _PROVIDER_KEY,
            list({(u.provider.value, u.provider_order_id): None for u in updates}),
            f"SELECT o.provider, o.provider_order_id, {_HELD} FROM orders o"
            " WHERE (o.provider, o.provider_order_id)"
            f" IN (SELECT provider, provider_order_id FROM v) ORDER BY o.id {lock}",
        )
        held = {(row["provider"], row["provider_order_id"]): _held(row) for row in rows}
        entries: list[TimelineEntry] = []
        changes: list[ProviderChange] = []
        for update in updates:
            key = (update.provider.value, update.provider_order_id)
            order = held.get(key)
            created: Event | None = None
            if order is None:
                if update.side is None:
                    changes.append(ProviderChange(result=None, events=[]))
                    continue
                order, created, entry = _first_sight(update, now)
                held[key] = order
                entries.append(entry)
            result = _fold(order, update.change, source=update.source, strict=False, now=now)
            entries.append(result.entry)
            events = result.events if created is None else [created, *result.events]
            changes.append(ProviderChange(result=result, events=events, created=bool(created)))
        _write(writes, list(held.values()), entries)
        return changes

    async def flag_stuck(
        self, status: OrderStatus, sla: timedelta, *, now: datetime, limit: int = 200
    ) -> list[Event]:
        """``order.stuck`` for up to ``limit`` orders in ``status`` since before ``now - sla``
        that were not flagged for this stay yet; each takes a version of its own."""
        lock = " FOR UPDATE SKIP LOCKED" if self._db.dialect == "postgresql" else ""
        source = Source(received_at=now)
        events: list[Event] = []
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                f"SELECT {_HELD} FROM orders o WHERE o.status = $1"
                " AND o.status_at < $2 AND NOT EXISTS (SELECT 1 FROM order_stuck s"
                "  WHERE s.order_id = o.id AND s.status = o.status AND s.status_at = o.status_at)"
                f" ORDER BY o.status_at LIMIT $3{lock}",
                status.value,
                to_us(now - sla),
                limit,
            )
            if not rows:  # the sweeper's usual answer: nothing more to read or write
                return events
            held = [_held(row) for row in rows]
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
                    TimelineEntry(
                        order_id=order.id,
                        seq=order_held.seq,
                        kind=EntryKind.STUCK,
                        recorded_at=now,
                        occurred_at=now,
                        status=None,
                        from_status=status.value,
                        to_status=status.value,
                        version=order.version,
                        changed_fields=(),
                        event_ids=(event.id,),
                        source=source,
                        note=f"in {status.value} since {since.isoformat()}, past its SLA of {sla}",
                    )
                )
                events.append(event)
            writes = Writes(conn.dialect)
            writes.insert("order_stuck", _STUCK, stuck_rows)
            _write(writes, held, entries)
            made = outbox(writes, events, await live_endpoints(conn), now=now)
            await writes.run(conn)
        self.published(made)
        return events

    async def get(self, order_id: str) -> Order:
        async with self._db.connection() as conn:
            body = await conn.fetchval("SELECT body FROM orders WHERE id = $1", order_id)
        if body is None:
            raise NotFound(f"no order {order_id!r}")
        return self._load(order_id, body)

    async def find(
        self, filters: OrderFilter, *, limit: int, before: str | None = None
    ) -> FoundOrders:
        """Orders newest first; ``before`` is the id of the last order of the previous page.
        A row that cannot be read is left out and named (:attr:`FoundOrders.unreadable`)."""
        where = Where()
        where.one_of("status", [s.value for s in filters.statuses])
        where.equals("provider", filters.provider)
        where.equals("side", filters.side)
        if filters.created_from is not None:
            where.add(f"created_at >= {where.arg(to_us(filters.created_from))}")
        if filters.created_to is not None:
            where.add(f"created_at < {where.arg(to_us(filters.created_to))}")
        sql = where.newest_first("SELECT id, body FROM orders", before=before, limit=limit)
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
        orders: list[Order] = []
        unreadable: list[str] = []
        for row in rows:
            try:
                orders.append(self._load(row["id"], row["body"]))
            except UnreadableOrder:
                unreadable.append(row["id"])
        last_id = rows[-1]["id"] if rows else None
        return FoundOrders(orders=orders, unreadable=unreadable, last_id=last_id, rows=len(rows))

    def _load(self, order_id: str, body: str | bytes) -> Order:
        """A stored order; :class:`UnreadableOrder` if its row no longer validates (written
        under older rules, or by hand), logged once per order and process."""
        try:
            return serde.order_from_json(body)
        except ValueError as exc:  # pydantic's ValidationError is one
            if order_id not in self._unreadable:
                self._unreadable.add(order_id)
                log.error("order %s cannot be read: %s", order_id, exc)
            raise UnreadableOrder(
                f"order {order_id} is stored in a form that cannot be read; it is logged",
                order_id=order_id,
            ) from exc

    async def timeline(self, order_id: str) -> list[TimelineEntry]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT seq, recorded_at, occurred_at, kind, body FROM timeline"
                " WHERE order_id = $1 ORDER BY seq",
                order_id,
            )
            if not rows and not await conn.fetchval("SELECT 1 FROM orders WHERE id = $1", order_id):
                raise NotFound(f"no order {order_id!r}")
        return [_entry(order_id, row) for row in rows]


# PostgreSQL: the advisory locks of :meth:`OrderRepository.lock_provider_orders`, taken in one
# statement in one global order (by lock key), so that two transactions cannot deadlock on
# them; ``{keys}`` is the parameter holding :func:`provider_lock_keys`. It returns how many.
LOCK_PROVIDER_ORDERS = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT"
    " hashtextextended(unnest({keys}::text[]), 0) AS k ORDER BY k) AS keys"
)


def provider_lock_keys(orders: Iterable[tuple[Provider, str]]) -> list[str]:
    return list({f"{provider.value}:{order_id}" for provider, order_id in orders})


def _first_sight(update: ProviderUpdate, now: datetime) -> tuple[_Held, Event, TimelineEntry]:
    """A provider's order seen for the first time: ``created``, holding the change's fields,
    with its ``order.created`` event and first timeline entry. ``update`` then folds in."""
    change = update.change
    assert update.side is not None
    fields = {name: value for name, value in change.patch.items() if name in PATCHABLE_FIELDS}
    order = Order(
        **fields,
        side=update.side,
        provider=update.provider,
        provider_order_id=update.provider_order_id,
        id=new_id(ORDER_ID_PREFIX),
        status=OrderStatus.CREATED,
        version=1,
        created_at=now,
        updated_at=now,
    )
    # The fields are stamped by the merge of ``change`` that follows (with its step if untimed).
    held = _Held(order=order, stamps=Stamps(status_at=change.occurred_at), seq=1, new=True)
    created = created_event(order, update.source, now=now)
    return held, created, _created_entry(order, change.occurred_at, created, update.source)


def _fold(
    held: _Held,
    change: Change,
    *,
    source: Source,
    strict: bool,
    now: datetime,
    actor: str | None = None,
    note: str | None = None,
) -> ChangeResult:
    """Merge ``change`` into a held order: its events and its next timeline entry, none of
    them written yet. In ``strict`` mode an illegal transition raises."""
    outcome = merge(held.order, held.stamps, change, strict=strict, now=now)
    events = order_events(outcome, source, now=now)
    held.seq += 1
    entry = _change_entry(outcome, change, events, source, now, actor=actor, note=note)
    entry = dataclasses.replace(entry, seq=held.seq)
    held.changed = True  # its seq, at least
    held.order, held.stamps = outcome.order, outcome.stamps
    return ChangeResult(order=outcome.order, outcome=outcome, events=events, entry=entry)


def _write(writes: Writes, held: Sequence[_Held], entries: Sequence[TimelineEntry]) -> None:
    """The held orders in their final state, and the timeline entries: new orders, changed
    ones and entries, each set in one write."""
    writes.insert("orders", _ORDER, [_order_row(h) for h in held if h.new])
    writes.execute(
        _ORDER_UPDATE,
        [_update_row(h) for h in held if h.changed and not h.new],
        "UPDATE orders AS o SET status = v.status, version = v.version,"
        " updated_at = v.updated_at, status_at = v.status_at, field_times = v.field_times,"
        " body = v.body, seq = v.seq FROM v WHERE o.id = v.id",
    )
    writes.insert("timeline", _ENTRY, [_entry_row(e) for e in entries])


# What :func:`_held` reads. The last timeline ``seq`` is a column of the order, not read from
# the timeline: after a lock wait, PostgreSQL (READ COMMITTED) hands the locking statement the
# order's newest row version, but shows it other tables as they were before the wait.
_HELD = "o.body, o.status_at, o.field_times, o.seq"


def _held(row: Row, order: Order | None = None) -> _Held:
    """An order (``order``, if the caller read it already), its stamps and its last timeline
    ``seq``, as locked."""
    return _Held(
        order=serde.order_from_json(row["body"]) if order is None else order,
        stamps=_stamps(row["status_at"], row["field_times"]),
        seq=row["seq"],
    )


def _created_entry(
    order: Order, occurred_at: datetime, event: Event, source: Source, actor: str | None = None
) -> TimelineEntry:
    return TimelineEntry(
        order_id=order.id,
        seq=1,
        kind=EntryKind.CREATED,
        recorded_at=order.created_at,
        occurred_at=occurred_at,
        status=order.status.value,
        from_status=order.status.value,
        to_status=order.status.value,
        version=order.version,
        changed_fields=(),
        event_ids=(event.id,),
        source=source,
        actor=actor,
    )


_PROVIDER_KEY = Columns.of("provider text, provider_order_id text")
_ORDER_ID = Columns.of("id text")
_ORDER = Columns.of(
    "id text, provider text, provider_order_id text, side text, status text, version bigint,"
    " created_at bigint, updated_at bigint, status_at bigint, field_times jsonb, body jsonb,"
    " seq bigint"
)
_ORDER_UPDATE = Columns.of(
    "id text, status text, version bigint, updated_at bigint, status_at bigint,"
    " field_times jsonb, body jsonb, seq bigint"
)
_CLAIM = Columns.of(
    "api_key_id text, idempotency_key text, request_hash text, order_id text, response jsonb,"
    " created_at bigint"
)
_STUCK = Columns.of(
    "order_id text, status text, status_at bigint, flagged_at bigint, event_id text"
)


def _order_row(held: _Held) -> tuple[Any, ...]:
    """The columns of :data:`_ORDER`."""
    order = held.order
    return (
        order.id,
        order.provider,
        order.provider_order_id,
        order.side.value,
        order.status.value,
        order.version,
        to_us(order.created_at),
        to_us(order.updated_at),
        *_stamp_columns(held.stamps),
        serde.order_to_json(order).decode(),
        held.seq,
    )


def _update_row(held: _Held) -> tuple[Any, ...]:
    """The columns of :data:`_ORDER_UPDATE`."""
    row = _order_row(held)
    return (row[0], row[4], row[5], *row[7:])


def _change_entry(
    outcome: Outcome,
    change: Change,
    events: Sequence[Event],
    source: Source,
    now: datetime,
    *,
    actor: str | None = None,
    note: str | None = None,
) -> TimelineEntry:
    """The timeline entry of a merge; its ``seq`` is set where it is written."""
    new = outcome.order
    anomaly = outcome.anomaly
    return TimelineEntry(
        order_id=new.id,
        seq=0,
        kind=entry_kind(outcome),
        recorded_at=now,
        occurred_at=change.occurred_at,
        status=None if change.status is None else change.status.value,
        from_status=outcome.previous_status.value,
        to_status=new.status.value,
        version=new.version,
        changed_fields=outcome.changed_fields,
        event_ids=tuple(e.id for e in events),
        source=source,
        anomaly=None
        if anomaly is None
        else {"code": anomaly.code, "detail": anomaly.detail, "statuses": list(anomaly.statuses)},
        actor=actor,
        note=note,
    )


def _given(data: OrderData) -> set[str]:
    """The fields that hold something: those are stamped with the creation time."""
    empty: tuple[Any, ...] = (None, (), {})
    return {name for name in PATCHABLE_FIELDS if getattr(data, name) not in empty}


def _stamp_columns(stamps: Stamps) -> tuple[int, str]:
    """``status_at`` and ``field_times``: per field, the time in microseconds, or
    ``[time, rank, precedence]`` when an untimed change wrote it (its lifecycle step)."""
    fields: dict[str, int | list[int]] = {}
    for name, at in sorted(stamps.fields.items()):
        untimed = stamps.ranks.get(name)
        fields[name] = to_us(at) if untimed is None else [to_us(at), *untimed]
    return to_us(stamps.status_at), serde.to_json(fields).decode()


def _stamps(status_at: int, field_times: str) -> Stamps:
    """The inverse of :func:`_stamp_columns`."""
    fields: dict[str, datetime] = {}
    ranks: dict[str, Step] = {}
    for name, value in serde.from_json(field_times).items():
        if isinstance(value, list):
            value, rank, precedence = value
            ranks[name] = (rank, precedence)
        fields[name] = from_us(value)
    return Stamps(status_at=from_us(status_at), fields=fields, ranks=ranks)


_ENTRY = Columns.of(
    "order_id text, seq bigint, recorded_at bigint, occurred_at bigint, kind text, body jsonb"
)


def _entry_row(entry: TimelineEntry) -> tuple[Any, ...]:
    """The columns of :data:`_ENTRY`."""
    return (
        entry.order_id,
        entry.seq,
        to_us(entry.recorded_at),
        to_us(entry.occurred_at),
        entry.kind.value,
        serde.to_json(entry_body(entry)).decode(),
    )


def _entry(order_id: str, row: Row) -> TimelineEntry:
    body = serde.from_json(row["body"])
    return TimelineEntry(
        order_id=order_id,
        seq=row["seq"],
        kind=EntryKind(row["kind"]),
        recorded_at=from_us(row["recorded_at"]),
        occurred_at=from_us(row["occurred_at"]),
        status=body["status"],
        from_status=body["from_status"],
        to_status=body["to_status"],
        version=body["version"],
        changed_fields=tuple(body["changed_fields"]),
        event_ids=tuple(body["event_ids"]),
        source=serde.load(Source, body["source"]),
        anomaly=body["anomaly"],
        actor=body["actor"],
        note=body["note"],
    )
