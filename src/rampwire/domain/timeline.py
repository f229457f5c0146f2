"""An order's timeline: every change that touched it, applied or not, in arrival order."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ..types import record_maker
from . import serde
from .events import Event, Source, source_values
from .lifecycle import Change, Outcome, StatusResult
from .orders import Order, OrderStatus


class EntryKind(StrEnum):
    CREATED = "created"  # the change that created the order
    APPLIED = "applied"  # it advanced the status or changed fields
    STALE = "stale"  # its status was behind the order's: kept here, not applied
    UNCHANGED = "unchanged"  # it said nothing new (a duplicate, or the same values)
    STUCK = "stuck"  # the sweeper found it past its status's SLA (order.stuck)


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineEntry:
    order_id: str
    seq: int  # 1, 2, 3... per order, in arrival order
    kind: EntryKind
    recorded_at: datetime
    occurred_at: datetime  # the provider's (or caller's) event time
    status: str | None  # the status the change named, if any
    from_status: str
    to_status: str
    version: int  # the order's version after the change
    changed_fields: tuple[str, ...]
    event_ids: tuple[str, ...]
    source: Source
    anomaly: dict[str, Any] | None = None
    actor: str | None = None  # the API key id, for changes made through the API
    note: str | None = None


_EVENT_ID = operator.attrgetter("id")
_entry = record_maker(TimelineEntry)  # through its slots, in field order: one per change


def entry_body(entry: TimelineEntry) -> dict[str, Any]:
    """What an entry says beyond its place (seq, kind, times): as stored (its JSON) and as
    shown. Its tuples as they are: orjson writes a tuple as an array, as it writes a list."""
    return {
        "status": entry.status,
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "version": entry.version,
        "changed_fields": entry.changed_fields,
        "event_ids": entry.event_ids,
        "source": source_values(entry.source),
        "anomaly": entry.anomaly,
        "actor": entry.actor,
        "note": entry.note,
    }


def entry_kind(outcome: Outcome) -> EntryKind:
    if outcome.status_result is StatusResult.STALE:
        return EntryKind.STALE
    if outcome.changed:
        return EntryKind.APPLIED
    return EntryKind.UNCHANGED


def created_entry(
    order: Order, occurred_at: datetime, event: Event, source: Source, actor: str | None = None
) -> TimelineEntry:
    """The first entry of a new order."""
    status = str(order.status)  # its value: str() of a StrEnum is C, .value two Python calls
    return _entry(
        (
            order.id,  # order_id
            1,  # seq
            EntryKind.CREATED,  # kind
            order.created_at,  # recorded_at
            occurred_at,
            status,  # status
            status,  # from_status
            status,  # to_status
            order.version,  # version
            (),  # changed_fields
            (event.id,),  # event_ids
            source,
            None,  # anomaly
            actor,
            None,  # note
        )
    )


def change_entry(
    outcome: Outcome,
    change: Change,
    events: Sequence[Event],
    source: Source,
    now: datetime,
    *,
    seq: int = 0,
    actor: str | None = None,
    note: str | None = None,
    kind: EntryKind | None = None,
) -> TimelineEntry:
    """The entry of a merge, ``seq`` in its order's timeline (0: set where it is written);
    ``kind``: :func:`entry_kind`, if the caller knows it already."""
    new = outcome.order
    anomaly = outcome.anomaly
    return _entry(
        (
            new.id,  # order_id
            seq,
            entry_kind(outcome) if kind is None else kind,
            now,  # recorded_at
            change.occurred_at,  # occurred_at
            None if change.status is None else str(change.status),  # status
            str(outcome.previous_status),  # from_status
            str(new.status),  # to_status
            new.version,  # version
            outcome.changed_fields,  # changed_fields
            tuple(map(_EVENT_ID, events)),  # event_ids
            source,
            None  # anomaly
            if anomaly is None
            else {
                "code": anomaly.code,
                "detail": anomaly.detail,
                "statuses": list(anomaly.statuses),
            },
            actor,
            note,
        )
    )


def stuck_entry(
    order: Order,
    seq: int,
    status: OrderStatus,
    since: datetime,
    sla: timedelta,
    event: Event,
    source: Source,
    *,
    now: datetime,
) -> TimelineEntry:
    """The entry of an ``order.stuck``: the order sat in ``status`` past its SLA."""
    return TimelineEntry(
        order_id=order.id,
        seq=seq,
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


def stored_entry(
    *,
    order_id: str,
    seq: int,
    kind: str,
    recorded_at: datetime,
    occurred_at: datetime,
    body: dict[str, Any],
) -> TimelineEntry:
    """An entry as stored: its place, and :func:`entry_body`."""
    return TimelineEntry(
        order_id=order_id,
        seq=seq,
        kind=EntryKind(kind),
        recorded_at=recorded_at,
        occurred_at=occurred_at,
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
