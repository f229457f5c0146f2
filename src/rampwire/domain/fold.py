"""Folding changes into an order held for writing: the merge, its events and its timeline
entry, with nothing written. The repositories lock and read the orders, call these, and write
each order once, in its final state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..ids import new_id
from ..types import record_maker
from . import serde
from .events import Event, Source, created_event, order_event, order_events
from .lifecycle import (
    Change,
    Outcome,
    Stamps,
    StatusResult,
    merge,
    new_outcome,
    stamps_of,
    step,
)
from .orders import (
    ORDER_ID_PREFIX,
    PATCHABLE_FIELDS,
    Order,
    OrderStatus,
    Provider,
    Side,
    order_of_fields,
    stepped,
)
from .timeline import EntryKind, TimelineEntry, change_entry, created_entry


@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeResult:
    order: Order
    outcome: Outcome
    events: list[Event]
    entry: TimelineEntry


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderUpdate:
    """A provider's change to one of its orders, to fold in
    (:func:`~rampwire.repository.provider_orders.apply`)."""

    provider: Provider
    provider_order_id: str
    side: Side | None  # how to create the order if it is not known yet; None: do not
    change: Change
    source: Source
    partner_id: str | None = None  # who owns the order if this change creates it


_change_result = record_maker(ChangeResult)  # through its slots: one per change


@dataclass(kw_only=True, slots=True)
class HeldOrder:
    """An order locked in this transaction, as the changes folded so far leave it; written
    once, after the last of them (:func:`~rampwire.repository.order_rows.write_held`)."""

    order: Order
    stamps: Stamps
    seq: int  # its last timeline entry's
    new: bool = False  # not in the table yet
    changed: bool = False  # differs from its row

    @property
    def partner_id(self) -> str | None:
        """The partner that owns it; None: the operator's."""
        return self.order.partner_id


_held = record_maker(HeldOrder)  # order, stamps, seq, new, changed: one per order first seen


def first_sight(update: ProviderUpdate, now: datetime) -> tuple[HeldOrder, Event, TimelineEntry]:
    """A provider's order seen for the first time: ``created``, holding the change's fields,
    with its ``order.created`` event and first timeline entry. ``update`` then folds in."""
    change = update.change
    if update.side is None:
        raise ValueError("a provider order is created on first sight only with its side")
    order = _new_order(update, update.side, now)
    # The fields are stamped by the merge of ``change`` that follows (with its step if untimed).
    held = _held((order, stamps_of((change.occurred_at, {}, {})), 1, True, False))
    created = created_event(order, update.source, now=now)
    return held, created, created_entry(order, change.occurred_at, created, update.source)


def _new_order(update: ProviderUpdate, side: Side, now: datetime) -> Order:
    """A provider's order as first seen: ``created``, holding the change's patchable fields
    (the others are the defaults)."""
    return order_of_fields(
        update.change.patch,
        side=side,
        provider=update.provider,
        provider_order_id=update.provider_order_id,
        id=new_id(ORDER_ID_PREFIX),
        status=OrderStatus.CREATED,
        version=1,
        created_at=now,
        updated_at=now,
        partner_id=update.partner_id,
    )


_PATCHABLE = frozenset(PATCHABLE_FIELDS)
# A first change naming one of these (or none) is left to the general path: the status a new
# order has changes nothing; amount_mismatch raises an anomaly.
_NOT_ADVANCING = frozenset({OrderStatus.CREATED, OrderStatus.AMOUNT_MISMATCH})


def first_change(
    update: ProviderUpdate, now: datetime
) -> tuple[HeldOrder, Event, TimelineEntry, ChangeResult]:
    """:func:`first_sight` of ``update``, then its :func:`fold` (not strict): the same order,
    stamps, events and timeline entries, made without the merge when the change names a
    status a new order advances to with no anomaly (a provider's first webhook, the usual
    case). Its fields are then the order's own objects, so none of them changes, each is
    stamped with the change's time, and the status advances from ``created``; otherwise, and
    when a field is not patchable, it is the two calls."""
    change = update.change
    status = change.status
    patch = change.patch
    side = update.side
    if status is None or status in _NOT_ADVANCING or side is None or not patch.keys() <= _PATCHABLE:
        held, created, entry = first_sight(update, now)
        return held, created, entry, fold(held, change, source=update.source, strict=False, now=now)
    source = update.source
    at = change.occurred_at
    order = _new_order(update, side, now)
    created = created_event(order, source, now=now)
    first = created_entry(order, at, created, source)
    # merge's result: each field stamped at the change's time (with its step if untimed), the
    # status advanced a version, updated_at now (the order's own, max(now, now))
    stamps = stamps_of(
        (at, dict.fromkeys(patch, at), {} if change.timed else dict.fromkeys(patch, step(status)))
    )
    new = stepped(order, status, 2, now)
    # order, stamps, previous_status, status_result, changed_fields, anomaly
    outcome = new_outcome((new, stamps, OrderStatus.CREATED, StatusResult.ADVANCED, (), None))
    serde.evolved(order, new)
    events = [order_event(f"order.{status}", new, OrderStatus.CREATED, source, now)]
    entry = change_entry(outcome, change, events, source, now, seq=2, kind=EntryKind.APPLIED)
    held = _held((new, stamps, 2, True, True))  # order, stamps, seq, new, changed
    return held, created, first, _change_result((new, outcome, events, entry))


def fold(
    held: HeldOrder,
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
    serde.evolved(held.order, outcome.order)  # its JSON, for its events and row, made cheaply
    events = order_events(outcome, source, now=now)
    held.seq += 1
    entry = change_entry(outcome, change, events, source, now, seq=held.seq, actor=actor, note=note)
    held.changed = True  # its seq, at least
    held.order, held.stamps = outcome.order, outcome.stamps
    return _change_result((outcome.order, outcome, events, entry))  # order, outcome, events, entry
