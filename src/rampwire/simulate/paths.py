"""The lifecycles a simulated provider plays: named paths of canonical statuses, per side.

A path is written once in canonical statuses; each dialect's status table turns it into the
provider events that provider really sends (``dialect.to_provider``). Consecutive statuses that
the provider cannot tell apart become one event, and a path whose events are the same as an
earlier path's is not offered for that provider (Koywe has no refund event, so its ``refunded``
path would only replay ``failed``). The table of what each provider plays: ``docs/simulate.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..dialects.base import Dialect, DialectName, ProviderEvent
from ..domain.orders import OrderStatus, Side

S = OrderStatus

PATHS: Final[Mapping[str, tuple[OrderStatus, ...]]] = {
    "happy": (
        S.CREATED,
        S.AWAITING_PAYMENT,
        S.PAYMENT_SUBMITTED,
        S.PAYMENT_RECEIVED,
        S.PROCESSING,
        S.DELIVERY_SENT,
        S.COMPLETED,
    ),
    "failed": (S.CREATED, S.AWAITING_PAYMENT, S.PAYMENT_SUBMITTED, S.FAILED),
    "refunded": (
        S.CREATED,
        S.AWAITING_PAYMENT,
        S.PAYMENT_RECEIVED,
        S.PROCESSING,
        S.FAILED,
        S.REFUNDED,
    ),
    "expired": (S.CREATED, S.AWAITING_PAYMENT, S.EXPIRED),
    "cancelled": (S.CREATED, S.PENDING_USER_ACTION, S.CANCELLED),
    "on_hold": (
        S.CREATED,
        S.AWAITING_PAYMENT,
        S.PAYMENT_RECEIVED,
        S.ON_HOLD,
        S.PROCESSING,
        S.DELIVERY_SENT,
        S.COMPLETED,
    ),
    "amount_mismatch": (S.CREATED, S.AWAITING_PAYMENT, S.AMOUNT_MISMATCH, S.REFUNDED),
}
"""Every path, in canonical statuses; the last one is the order's in-order final status."""

PACING: Final[Mapping[OrderStatus, float]] = {
    S.CREATED: 0.0,
    S.PENDING_USER_ACTION: 5.0,
    S.AWAITING_PAYMENT: 10.0,
    S.PAYMENT_SUBMITTED: 90.0,
    S.PAYMENT_VERIFYING: 30.0,
    S.AMOUNT_MISMATCH: 120.0,
    S.PAYMENT_RECEIVED: 60.0,
    S.PROCESSING: 5.0,
    S.ON_HOLD: 30.0,
    S.DELIVERY_SENT: 60.0,
    S.COMPLETED: 600.0,
    S.FAILED: 120.0,
    S.CANCELLED: 300.0,
    S.EXPIRED: 1800.0,
    S.REFUNDED: 3600.0,
}
"""Seconds a real ramp takes to reach each status from the one before (a card payment, a block
confirmation, a 30-minute quote expiring, a refund taking an hour); compressed by ``--speed``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One webhook of a lifecycle: the canonical status announced and the provider's name."""

    status: OrderStatus
    event: ProviderEvent
    pace: float  # seconds after the step before, uncompressed


@dataclass(frozen=True, kw_only=True, slots=True)
class Lifecycle:
    path: str
    side: Side
    steps: tuple[Step, ...]


def steps(dialect: Dialect[Any], path: str, side: Side) -> tuple[Step, ...]:
    """The provider events ``dialect`` sends along ``path`` for a ``side`` order."""
    played: list[Step] = []
    waited = 0.0
    for status in PATHS[path]:
        event = dialect.to_provider(status, side)
        waited += PACING[status]
        if played and played[-1].event == event and not _told_by_reason(dialect, status):
            continue  # the provider cannot tell these apart: it sends nothing new
        played.append(Step(status=status, event=event, pace=waited))
        waited = 0.0
    return tuple(played)


def _told_by_reason(dialect: Dialect[Any], status: OrderStatus) -> bool:
    """Fireblocks sends ``expired`` and ``refunded`` as FAILED with a failure reason that tells
    them apart, so a refund after a failure is a new webhook there."""
    return dialect.name is DialectName.FIREBLOCKS and status in (S.EXPIRED, S.REFUNDED)


def lifecycles(
    dialect: Dialect[Any], chosen: tuple[str, ...] = (), sides: tuple[Side, ...] = ()
) -> tuple[Lifecycle, ...]:
    """The distinct lifecycles ``dialect`` plays, on every side it has (or those in ``sides``),
    restricted to ``chosen`` path names when given; :class:`KeyError` names an unknown path."""
    for name in chosen:
        if name not in PATHS:
            raise KeyError(f"no path is called {name!r}; known: {', '.join(PATHS)}")
    found: list[Lifecycle] = []
    for side in (Side.BUY, Side.SELL):
        if side not in dialect.sides or (sides and side not in sides):
            continue
        seen: set[tuple[tuple[ProviderEvent, OrderStatus | None], ...]] = set()
        for name in PATHS:
            played = steps(dialect, name, side)
            key = tuple(
                (step.event, step.status if _told_by_reason(dialect, step.status) else None)
                for step in played
            )
            if key in seen:
                continue
            seen.add(key)
            if not chosen or name in chosen:
                found.append(Lifecycle(path=name, side=side, steps=played))
    return tuple(found)
