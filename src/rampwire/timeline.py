"""An order's timeline: every change that touched it, applied or not, in arrival order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from . import serde
from .events import Source
from .lifecycle import Outcome, StatusResult


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


def entry_body(entry: TimelineEntry) -> dict[str, Any]:
    """What an entry says beyond its place (seq, kind, times): as stored and as shown."""
    return {
        "status": entry.status,
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "version": entry.version,
        "changed_fields": list(entry.changed_fields),
        "event_ids": list(entry.event_ids),
        "source": serde.dump(entry.source),
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
