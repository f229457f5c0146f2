"""Request and response shapes that exist only at the HTTP edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ConfigDict

from ..events import Source
from ..orders import Order, OrderData, OrderStatus
from ..types import Timestamp

_FORBID = ConfigDict(extra="forbid")


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderCreate(OrderData):
    """A new order: its data, and optionally a first status other than ``created``."""

    status: OrderStatus = OrderStatus.CREATED
    occurred_at: Timestamp | None = None  # when it happened; now if omitted


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderChange:
    """A status change, field updates, or both. ``set`` holds order fields by name."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    status: OrderStatus | None = None
    set: dict[str, Any] = field(default_factory=dict)
    occurred_at: Timestamp | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeResponse:
    order: Order
    event: dict[str, Any] | None  # the event envelope, as subscribers receive it


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderPage:
    data: list[Order]
    next_cursor: str | None  # pass as ``cursor`` for the next page; null on the last
    unreadable: list[str] | None = None  # stored orders of the page that could not be read


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineItem:
    seq: int
    kind: str  # created, applied, stale, unchanged
    recorded_at: Timestamp
    occurred_at: Timestamp
    status: str | None
    from_status: str
    to_status: str
    version: int
    changed_fields: list[str]
    event_ids: list[str]
    source: Source
    anomaly: dict[str, Any] | None
    actor: str | None
    note: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Timeline:
    order_id: str
    data: list[TimelineItem]
