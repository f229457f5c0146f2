"""The canonical lifecycle and its merge rule.

:func:`merge` is the one rule by which any change, from the API or from a provider, is folded into
an order. It is a pure function, built so that folding the same changes in any order gives the
same order:

- **Status** is the maximum, over every change seen, of :func:`status_key`: lifecycle rank first,
  so no change moves an order backwards; ``processing`` and ``on_hold`` share a rank and the later
  provider event time decides between them; terminal statuses outrank all others and, among
  themselves, follow :data:`TERMINAL_PRECEDENCE`. A maximum does not depend on arrival order.
- **Fields** are merged one by one, last writer wins by provider event time (ties broken by the
  value itself), with the time each field was last written kept in :class:`Stamps`.
- A **terminal conflict** (``completed`` and ``failed`` for one order, or ``refunded`` after
  ``completed``) is never applied silently: the outcome carries an :class:`Anomaly` whichever
  status wins. ``refunded`` after ``failed`` is not a conflict: money taken can be returned.
- An **amount mismatch** (the ``amount_mismatch`` status reached, or a mismatch recorded) is an
  anomaly too. An anomaly is an event about the order of its own, so it takes a version: the
  order's version, which is also its events' sequence, grows by one more.

``strict`` mode is the API's: the caller is the authority on its own orders, so a change that
would be stale or conflicting is refused with :class:`~rampwire.errors.IllegalTransition`
instead of being recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..errors import IllegalTransition
from ..types import record_maker
from .orders import TERMINAL_STATUSES, Order, OrderStatus, stepped

S = OrderStatus

RANK: Mapping[OrderStatus, int] = {
    S.CREATED: 0,
    S.PENDING_USER_ACTION: 1,
    S.AWAITING_PAYMENT: 2,
    S.PAYMENT_SUBMITTED: 3,
    S.PAYMENT_VERIFYING: 4,
    S.AMOUNT_MISMATCH: 5,
    S.PAYMENT_RECEIVED: 6,
    S.PROCESSING: 7,
    S.ON_HOLD: 7,
    S.DELIVERY_SENT: 8,
    S.COMPLETED: 9,
    S.FAILED: 9,
    S.CANCELLED: 9,
    S.EXPIRED: 9,
    S.REFUNDED: 9,
}
"""Lifecycle rank: an order only moves to an equal (alternating) or higher rank."""

ALTERNATING = frozenset({S.PROCESSING, S.ON_HOLD})
"""Statuses of one rank that may follow each other, the later event time deciding."""

TERMINAL_PRECEDENCE: tuple[OrderStatus, ...] = (
    S.FAILED,
    S.REFUNDED,
    S.EXPIRED,
    S.CANCELLED,
    S.COMPLETED,
)
"""Which terminal status holds when two are seen, lowest first: ``refunded`` supersedes
``failed`` (the legitimate path); every other pair is a conflict, resolved by this fixed order
so that the result does not depend on arrival order, and flagged as an anomaly."""

REFUNDABLE_FROM = frozenset(
    {S.AMOUNT_MISMATCH, S.PAYMENT_RECEIVED, S.PROCESSING, S.ON_HOLD, S.DELIVERY_SENT, S.FAILED}
)
"""Where ``refunded`` may legitimately follow: money was taken, so it can be returned."""

LEGITIMATE_TERMINAL_SUCCESSIONS = frozenset({(S.FAILED, S.REFUNDED)})

_EPOCH_KEY = ""


def status_key(status: OrderStatus, occurred_at: datetime) -> tuple[int, int, str, str, datetime]:
    """The total preorder on (status, time) whose maximum is an order's status."""
    rank = RANK[status]
    if status.is_terminal:
        return (rank, TERMINAL_PRECEDENCE.index(status), _EPOCH_KEY, "", occurred_at)
    if status in ALTERNATING:
        return (rank, 0, occurred_at.isoformat(), status.value, occurred_at)
    return (rank, 0, _EPOCH_KEY, "", occurred_at)


def _supersedes(status: OrderStatus, at: datetime, held: OrderStatus, held_at: datetime) -> bool:
    """``status_key(status, at) > status_key(held, held_at)``, each key made only when the
    ranks, which decide first, are the same."""
    rank, held_rank = RANK[status], RANK[held]
    if rank != held_rank:
        return rank > held_rank
    return status_key(status, at) > status_key(held, held_at)


Step = tuple[int, int]  # a status's place in the lifecycle: (rank, terminal precedence)
_NO_STEP: Step = (-1, 0)


def step(status: OrderStatus | None) -> Step:
    if status is None:
        return _NO_STEP
    return (RANK[status], TERMINAL_PRECEDENCE.index(status) if status.is_terminal else 0)


def write_key(at: datetime, untimed: Step | None) -> tuple[int, int, int, datetime]:
    """The order in which writes of one field supersede each other: the maximum holds.

    A timed write (the provider said when) is ordered by that time. An untimed one (Saber's
    CRYPTO_BUY and SELL events carry no time, so ``at`` is only when it was received) is
    ordered by its status's lifecycle step first, then by that time, and after every timed
    write: a late copy of an early step must not overwrite what a later step wrote, and the
    key depends on the write alone, so the result does not depend on arrival order."""
    return (0, 0, 0, at) if untimed is None else (1, *untimed, at)


class StatusResult(StrEnum):
    ADVANCED = "advanced"  # the change set a new status
    SAME = "same"  # the change named the current status again (or none)
    STALE = "stale"  # the change named a status the order has moved past


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One change to an order: a status, fields, or both, at a provider (or caller) time."""

    occurred_at: datetime
    status: OrderStatus | None = None
    patch: Mapping[str, Any] = field(default_factory=dict)
    timed: bool = True  # False: no event time was given; ``occurred_at`` is when it came


@dataclass(frozen=True, kw_only=True, slots=True)
class Anomaly:
    code: str  # terminal_conflict, amount_mismatch
    detail: str
    statuses: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Stamps:
    """When the current status and each field were last written, by provider event time.

    ``ranks`` holds the fields whose last write came from an untimed change, with that change's
    :func:`step` (see :func:`write_key`)."""

    status_at: datetime
    fields: Mapping[str, datetime] = field(default_factory=dict)
    ranks: Mapping[str, Step] = field(default_factory=dict)


stamps_of = record_maker(Stamps)
"""A :class:`Stamps` of (status_at, fields, ranks), through its slots (a change makes one)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    order: Order
    stamps: Stamps
    previous_status: OrderStatus
    status_result: StatusResult
    changed_fields: tuple[str, ...]
    anomaly: Anomaly | None

    @property
    def changed(self) -> bool:
        """Whether the order must be written: a new status, new fields or an anomaly."""
        # state_changed's terms written out: each timeline entry asks (one call, not two)
        return (
            self.status_result is StatusResult.ADVANCED
            or bool(self.changed_fields)
            or self.anomaly is not None
        )

    @property
    def state_changed(self) -> bool:
        return self.status_result is StatusResult.ADVANCED or bool(self.changed_fields)

    @property
    def event_type(self) -> str | None:
        """``order.<status>`` for a status change, ``order.updated`` for fields, else None."""
        if self.status_result is StatusResult.ADVANCED:
            return f"order.{self.order.status}"  # a StrEnum formats as its value
        if self.changed_fields:
            return "order.updated"
        return None


new_outcome = record_maker(Outcome)
"""An :class:`Outcome` of (order, stamps, previous_status, status_result, changed_fields,
anomaly), through its slots (a change makes one)."""


def check_transition(current: OrderStatus, new: OrderStatus) -> None:
    """Raise :class:`IllegalTransition` unless ``current → new`` is a legal forward move."""
    if new == current:
        return
    if current.is_terminal:
        if (current, new) in LEGITIMATE_TERMINAL_SUCCESSIONS:
            return
        raise IllegalTransition(
            f"order is {current.value}, a final status; it cannot become {new.value}",
            from_status=current.value,
            to_status=new.value,
        )
    if new is S.REFUNDED and current not in REFUNDABLE_FROM:
        raise IllegalTransition(
            f"an order that is {current.value} has taken no money and cannot be refunded",
            from_status=current.value,
            to_status=new.value,
        )
    if RANK[new] < RANK[current]:
        raise IllegalTransition(
            f"order is {current.value}; {new.value} would move it backwards",
            from_status=current.value,
            to_status=new.value,
        )


def merge(
    order: Order,
    stamps: Stamps,
    change: Change,
    *,
    strict: bool,
    now: datetime,
) -> Outcome:
    """Fold ``change`` into ``order``. Pure: it reads nothing and writes nothing.

    ``now`` becomes ``updated_at`` when something changed. ``change.patch`` holds validated
    domain values for names in :data:`~rampwire.orders.PATCHABLE_FIELDS`.
    """
    current = order.status
    new_status = current
    status_at = stamps.status_at
    result = StatusResult.SAME
    anomaly: Anomaly | None = None

    if change.status is not None and change.status != current:
        if strict:
            check_transition(current, change.status)
        incoming = change.status
        if current in TERMINAL_STATUSES and incoming in TERMINAL_STATUSES:
            pair = (current, change.status)
            if pair not in LEGITIMATE_TERMINAL_SUCCESSIONS and pair[::-1] not in (
                LEGITIMATE_TERMINAL_SUCCESSIONS
            ):
                anomaly = Anomaly(
                    code="terminal_conflict",
                    detail=(
                        f"order was {current.value} and a change says {change.status.value}; "
                        f"{max(pair, key=TERMINAL_PRECEDENCE.index).value} holds"
                    ),
                    statuses=(current.value, change.status.value),
                )
        if _supersedes(incoming, change.occurred_at, current, stamps.status_at):
            new_status, status_at, result = incoming, change.occurred_at, StatusResult.ADVANCED
        else:
            result = StatusResult.STALE
    elif change.status is not None and change.occurred_at > stamps.status_at:
        status_at = change.occurred_at  # same status seen again, later: keep the latest time

    patch = change.patch
    updates: dict[str, Any] = {}
    if patch:
        fields, ranks = dict(stamps.fields), dict(stamps.ranks)
        untimed = None if change.timed else step(change.status)
        key = write_key(change.occurred_at, untimed)
        stamped = stamps.fields
        for name, value in patch.items():
            written = stamped.get(name)
            if written is None or _field_wins(name, value, key, written, order, stamps):
                fields[name] = change.occurred_at
                if untimed is None:
                    ranks.pop(name, None)
                else:
                    ranks[name] = untimed
                held = getattr(order, name)
                # the same object is equal (no value here is a NaN): no record's __eq__ runs
                if held is not value and held != value:
                    updates[name] = value
        new_stamps = stamps_of((status_at, fields, ranks))
    else:
        # a change without fields hands on the stamps' own maps, which tells the writer that
        # their stored form still holds (repository.order_rows.stamp_columns)
        new_stamps = stamps_of((status_at, stamps.fields, stamps.ranks))

    changed_fields = tuple(sorted(updates))
    if anomaly is None:
        anomaly = _amount_mismatch(updates, new_status if result is StatusResult.ADVANCED else None)
    steps = (result is StatusResult.ADVANCED or bool(changed_fields)) + (anomaly is not None)
    if steps:
        version, updated_at = order.version + steps, max(now, order.updated_at)
        if updates:
            new_order = order.evolve(
                **updates, status=new_status, version=version, updated_at=updated_at
            )
        else:  # a new status alone, or an anomaly: most changes
            new_order = stepped(order, new_status, version, updated_at)
    else:
        new_order = order
    # order, stamps, previous_status, status_result, changed_fields, anomaly
    return new_outcome((new_order, new_stamps, current, result, changed_fields, anomaly))


def _amount_mismatch(updates: Mapping[str, Any], reached: OrderStatus | None) -> Anomaly | None:
    mismatch = updates.get("amount_mismatch")
    if mismatch is None and reached is not S.AMOUNT_MISMATCH:
        return None
    detail = "the payment received does not match the order's amount"
    if mismatch is not None:
        expected = "?" if mismatch.expected is None else mismatch.expected
        currency = f" {mismatch.currency}" if mismatch.currency else ""
        detail = f"received {mismatch.received}{currency}, expected {expected}{currency}"
    return Anomaly(code="amount_mismatch", detail=detail, statuses=(S.AMOUNT_MISMATCH.value,))


def _field_wins(
    name: str,
    value: Any,
    key: tuple[int, int, int, datetime],
    written: datetime,
    order: Order,
    stamps: Stamps,
) -> bool:
    """Of a field written at ``written`` already: the last writer by :func:`write_key` wins;
    at equal keys the larger value's repr wins, so the result is the same whatever the
    arrival order."""
    held = write_key(written, stamps.ranks.get(name))
    if key != held:
        return key > held
    return repr(value) > repr(getattr(order, name))
