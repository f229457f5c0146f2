"""How an order and its timeline are stored: the columns, rows to records and back, and the
one write of the orders a transaction held (:func:`write_held`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..domain import serde
from ..domain.fold import HeldOrder
from ..domain.lifecycle import Stamps, Step
from ..domain.orders import Order
from ..domain.timeline import TimelineEntry, entry_body, stored_entry
from ..errors import UnreadableOrder
from ..storage import Row
from ..storage.database import Columns, Dialect, Writes, from_us, to_us

# What :func:`held_from_row` reads. The last timeline ``seq`` is a column of the order, not
# read from the timeline: after a lock wait, PostgreSQL (READ COMMITTED) hands the locking
# statement the order's newest row version, but shows it other tables as they were before.
HELD = "o.body, o.status_at, o.field_times, o.seq, o.partner_id"


def lock_held(dialect: Dialect, for_update: str) -> str:
    """``-- lock_held --``: a change's read of one order (``$1``) as :data:`HELD`, locked. On
    PostgreSQL its row, if still the version this process wrote (``xmin``, the id of the
    transaction that wrote it, is ``$2`` and its version ``$3``: :meth:`OrderBodies.kept`),
    comes without its body and stamps, which are then neither sent nor parsed: the order and
    stamps written are the ones held (:meth:`OrderBodies.locked`). Any other write since,
    whoever made it, gave the row another ``xmin``; the version guards against a transaction
    id reused after wraparound."""
    if dialect != "postgresql":
        return f"SELECT o.id, {HELD} FROM orders o WHERE o.id = $1 {for_update}"
    same = "o.xmin = $2 AND o.version = $3"
    return (
        f"SELECT o.id, CASE WHEN {same} THEN NULL ELSE o.body END AS body, o.status_at,"
        f" CASE WHEN {same} THEN NULL ELSE o.field_times END AS field_times, o.seq,"
        f" o.partner_id FROM orders o WHERE o.id = $1 {for_update}"
    )


_ONE = Columns.of("one integer")


def note_xid(writes: Writes) -> int | None:
    """On PostgreSQL, a read added to ``writes`` (no round trip of its own) of the id of the
    transaction they run in: the ``xmin`` of every row they write (:func:`written_xid`). None
    on SQLite, whose rows carry no such id."""
    if writes.dialect != "postgresql":
        return None
    return writes.read(_ONE, [(1,)], "SELECT pg_current_xact_id()::xid AS xid FROM v")


def written_xid(writes: Writes, index: int | None) -> int | None:
    """After :meth:`Writes.run`, the transaction id :func:`note_xid` read, if it did."""
    if index is None:
        return None
    found = writes.found(index)
    return int(found[0][0]) if found else None


# The times converted last (to_us), by value (equal aware datetimes are one instant, so one
# number; a datetime keeps its hash once computed): a write stores one ``now`` as its order's
# updated_at, its stamps, its timeline entry's times, its event's and deliveries' times.
_MICROS: dict[datetime, int] = {}
MICROS_KEPT = 256  # above the distinct times of a group commit's batch
# The lookup of micros(), for the rows written by the thousand: ``_MICROS_KEPT(t) or
# micros(t)`` is micros(t) (a miss, or a kept 0, calls it), without its call when kept.
_MICROS_KEPT = _MICROS.get


def micros(value: datetime) -> int:
    """``to_us(value)``, the same number, converted once per time kept."""
    us = _MICROS.get(value)
    if us is not None:
        return us
    us = to_us(value)
    if len(_MICROS) >= MICROS_KEPT:
        _MICROS.pop(next(iter(_MICROS), value), None)  # the oldest; no KeyError if raced
    _MICROS[value] = us
    return us


def held_from_row(row: Row, order: Order | None = None) -> HeldOrder:
    """An order (``order``, if the caller read it already), its stamps and its last timeline
    ``seq``, as locked."""
    return HeldOrder(
        order=owned(serde.order_from_json(row["body"]) if order is None else order, row),
        stamps=stamps_from(row["status_at"], row["field_times"]),
        seq=row["seq"],
    )


WRITTEN_KEPT = 4_096  # orders whose last written record and body are kept, the oldest out


class OrderBodies:
    """Stored order bodies read into records, and the records this process wrote last.

    Reading back a body this process wrote (an order changed again soon after, the usual
    case) returns the record it was serialised from instead of validating the body anew
    (pydantic's ``validate_json``, a quarter of a change's Python). The body read must be the
    bytes written (both back-ends keep the text as written: ``json`` on PostgreSQL, migration
    0017); a write by any other hand (another process, the sweeper, an operator's SQL) or a
    body migrated from ``jsonb`` makes it differ, and it is then validated. One per process,
    shared by the API's changes and ingest (:func:`.provider_orders.apply`)."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        # by order id, oldest first: the record, its JSON, and for the API's writes on
        # PostgreSQL the writing transaction's id and the stamps written (:meth:`wrote_held`)
        self._written: dict[str, tuple[Order, bytes, int | None, Stamps | None]] = {}
        self._unreadable: set[str] = set()  # orders logged as unreadable, logged once each

    def wrote(self, orders: Iterable[Order]) -> None:
        """After the commit that stored ``orders`` (their :func:`serde.order_to_json`)."""
        for order in orders:
            self._keep(order, None, None)

    def wrote_held(self, held: Iterable[HeldOrder], xid: int | None) -> None:
        """After the commit that stored ``held`` orders, with ``xid``, on PostgreSQL the id of
        the transaction that wrote them (:func:`note_xid`): a change's lock read then leaves
        out their bodies and stamps while their rows stay as written (:func:`lock_held`)."""
        for h in held:
            self._keep(h.order, xid, h.stamps)

    def _keep(self, order: Order, xid: int | None, stamps: Stamps | None) -> None:
        written = self._written
        written.pop(order.id, None)  # to the end: the oldest is evicted first
        if len(written) >= WRITTEN_KEPT:
            written.pop(next(iter(written)))
        kept = (order, serde.order_to_json(order), xid, stamps if xid is not None else None)
        written[order.id] = kept

    def kept(self, order_ids: Iterable[str]) -> dict[str, tuple[Order, Stamps, int, int]]:
        """Of ``order_ids``, those this process wrote last with a known transaction id: the
        record, its stamps, that id and its version, as :func:`lock_held` takes the last two.
        Taken before the read, so that a commit meanwhile (another writer's) cannot change
        what it means."""
        written = self._written
        kept: dict[str, tuple[Order, Stamps, int, int]] = {}
        for order_id in order_ids:
            known = written.get(order_id)
            if known is not None and known[2] is not None and known[3] is not None:
                order = known[0]
                kept[order_id] = (order, known[3], known[2], order.version)
        return kept

    def locked(self, row: Row, kept: dict[str, tuple[Order, Stamps, int, int]]) -> HeldOrder:
        """The held order of a :func:`lock_held` row: the kept record and stamps when the row
        came without its body (still the version written), else read from the row
        (:meth:`load`)."""
        if row["body"] is None:
            order, stamps, _, _ = kept[row["id"]]
            return HeldOrder(order=owned(order, row), stamps=stamps, seq=row["seq"])
        return held_from_row(row, self.load(row["id"], row))

    def known(self, order_id: str, body: str | bytes) -> Order | None:
        """The record this process wrote last for this order, if ``body``, the stored one,
        is still what it wrote; None otherwise (the body is then validated by the caller)."""
        known = self._written.get(order_id)
        if known is None:
            return None
        order, written, _, _ = known
        stored = body.encode() if isinstance(body, str) else body
        return order if stored == written else None

    def load(self, order_id: str, row: Row) -> Order:
        """A stored order (``row``: its ``body`` and ``partner_id``); :class:`UnreadableOrder`
        if its row no longer validates (written under older rules, or by hand), logged once
        per order and process."""
        body = row["body"]
        known = self.known(order_id, body)
        if known is not None:
            return owned(known, row)
        try:
            return owned(serde.order_from_json(body), row)
        except ValueError as exc:  # pydantic's ValidationError is one
            if order_id not in self._unreadable:
                self._unreadable.add(order_id)
                self._log.error("order %s cannot be read: %s", order_id, exc)
            raise UnreadableOrder(
                f"order {order_id} is stored in a form that cannot be read; it is logged",
                order_id=order_id,
            ) from exc


def owned(order: Order, row: Row) -> Order:
    """``order`` with its row's ``partner_id``, the owner's one record (a body written before
    orders carried it names none)."""
    owner = row["partner_id"]
    return order if order.partner_id == owner else order.evolve(partner_id=owner)


PROVIDER_KEY = Columns.of("provider text, provider_order_id text")
PROVIDER_REF = "orders_provider_ref"  # the unique index of (provider, provider_order_id)
# The orders of the (provider, provider order id) pairs of a PROVIDER_KEY row set ``v``, by the
# orders_provider_ref index. That index is partial (WHERE provider IS NOT NULL), and SQLite uses
# a partial index only where the query's own WHERE implies its condition: the row-value IN does
# not, so without the first term every lookup read the whole orders table (20-30 ms a batch at
# 30,000 orders, and growing: docs/benchmarks.md, "SQLite ingest slowed as orders grew").
BY_PROVIDER_REF = (
    "o.provider IS NOT NULL"
    " AND (o.provider, o.provider_order_id) IN (SELECT provider, provider_order_id FROM v)"
)
ORDER = Columns.of(
    "id text, provider text, provider_order_id text, side text, status text, version bigint,"
    " created_at bigint, updated_at bigint, status_at bigint, field_times json, body json,"
    " seq bigint, partner_id text",
    row_type="orders_row",
)
# -- update_order --: one order by its key, once per changed order (Writes.each)
_UPDATE_ORDER = (
    "UPDATE orders SET status = $2, version = $3, updated_at = $4, status_at = $5,"
    " field_times = $6, body = $7, seq = $8 WHERE id = $1"
)


def order_row(held: HeldOrder) -> tuple[Any, ...]:
    """The columns of :data:`ORDER`."""
    order = held.order
    created_at, updated_at = order.created_at, order.updated_at
    return (
        order.id,
        order.provider,
        order.provider_order_id,
        str(order.side),  # the values: str() of a StrEnum is C, .value two Python calls
        str(order.status),
        order.version,
        _MICROS_KEPT(created_at) or micros(created_at),  # micros(), its lookup inline
        _MICROS_KEPT(updated_at) or micros(updated_at),
        *stamp_columns(held.stamps),
        serde.order_to_json(order).decode(),
        held.seq,
        order.partner_id,
    )


def update_row(held: HeldOrder) -> tuple[Any, ...]:
    """The parameters of ``-- update_order --``."""
    order = held.order
    return (
        order.id,
        str(order.status),
        order.version,
        micros(order.updated_at),
        *stamp_columns(held.stamps),
        serde.order_to_json(order).decode(),
        held.seq,
    )


def stamp_columns(stamps: Stamps) -> tuple[int, str]:
    """``status_at`` and ``field_times``: per field, the time in microseconds, or
    ``[time, rank, precedence]`` when an untimed change wrote it (its lifecycle step). Stamps
    whose maps were read or written already (a change without fields hands them on) are
    written back as stored."""
    status_at = stamps.status_at
    read = _STAMPS_STORED.get(id(stamps.fields))
    if read is not None and read[0] is stamps.fields and read[1] is stamps.ranks:
        return _MICROS_KEPT(status_at) or micros(status_at), read[2]
    fields: dict[str, int | list[int]] = {}
    last: datetime | None = None  # the fields a change wrote share its time: converted once
    us = 0
    ranks = stamps.ranks
    for name, at in sorted(stamps.fields.items()):
        if at is not last:
            last, us = at, _MICROS_KEPT(at) or micros(at)
        untimed = ranks.get(name) if ranks else None
        fields[name] = us if untimed is None else [us, *untimed]
    text = serde.to_json(fields).decode()
    _stored(stamps.fields, ranks, text)
    return _MICROS_KEPT(status_at) or micros(status_at), text


def stamps_from(status_at: int, field_times: str) -> Stamps:
    """The inverse of :func:`stamp_columns`."""
    fields: dict[str, datetime] = {}
    ranks: dict[str, Step] = {}
    for name, value in serde.from_json(field_times).items():
        if isinstance(value, list):
            value, rank, precedence = value
            ranks[name] = (rank, precedence)
        fields[name] = from_us(value)
    _stored(fields, ranks, field_times)
    return Stamps(status_at=from_us(status_at), fields=fields, ranks=ranks)


def _stored(fields: Mapping[str, datetime], ranks: Mapping[str, Step], text: str) -> None:
    if len(_STAMPS_STORED) >= STAMPS_STORED_KEPT:
        _STAMPS_STORED.pop(next(iter(_STAMPS_STORED), 0), None)  # the oldest; no KeyError if raced
    _STAMPS_STORED[id(fields)] = (fields, ranks, text)


# The maps of the stamps read or written last, by identity, with their stored text (each entry
# holds its maps, so an id is not reused while it is kept), as serde keeps orders' JSON.
_STAMPS_STORED: dict[int, tuple[Mapping[str, datetime], Mapping[str, Step], str]] = {}
STAMPS_STORED_KEPT = 512  # an order changed again soon hits; one changed later is serialised anew


ENTRY = Columns.of(
    "order_id text, seq bigint, recorded_at bigint, occurred_at bigint, kind text, body json",
    row_type="timeline_row",
)


def entry_row(entry: TimelineEntry) -> tuple[Any, ...]:
    """The columns of :data:`ENTRY`."""
    recorded_at, occurred_at = entry.recorded_at, entry.occurred_at
    return (
        entry.order_id,
        entry.seq,
        _MICROS_KEPT(recorded_at) or micros(recorded_at),  # micros(), its lookup inline
        _MICROS_KEPT(occurred_at) or micros(occurred_at),
        str(entry.kind),
        serde.to_json(entry_body(entry)).decode(),
    )


def entry_from_row(order_id: str, row: Row) -> TimelineEntry:
    return stored_entry(
        order_id=order_id,
        seq=row["seq"],
        kind=row["kind"],
        recorded_at=from_us(row["recorded_at"]),
        occurred_at=from_us(row["occurred_at"]),
        body=serde.from_json(row["body"]),
    )


def write_held(writes: Writes, held: Sequence[HeldOrder], entries: Sequence[TimelineEntry]) -> None:
    """The held orders in their final state, and the timeline entries: new orders, changed
    ones and entries, each set in one write."""
    writes.insert("orders", ORDER, [order_row(h) for h in held if h.new])
    writes.each(_UPDATE_ORDER, [update_row(h) for h in held if h.changed and not h.new])
    writes.insert("timeline", ENTRY, [entry_row(e) for e in entries])
