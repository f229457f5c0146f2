"""An order rebuilt from rampwire's canonical events, whatever order they arrive in.

Every order event carries the whole order as it was after the change (``data.order``) and its
``data.sequence``, the order's version: 1 for ``created``, +1 per change (an ``order.anomaly``
or ``order.stuck`` takes a version of its own). So the current order is the snapshot with the
highest sequence, a duplicate is a sequence already held, and a gap is a number between 1 and
the highest that has not arrived: an event still in flight or being retried, or one the
endpoint's event-type patterns do not subscribe to.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from .errors import UnusableEvent

Envelope = Mapping[str, Any]
Fetch = Callable[[str, tuple[int, ...]], Awaitable[Iterable[Envelope]] | Iterable[Envelope]]
"""Given the order id and the missing sequences, the envelopes it can find (any of them)."""


def _read(envelope: Envelope) -> tuple[str, int, Mapping[str, Any]]:
    data = envelope.get("data")
    order = data.get("order") if isinstance(data, Mapping) else None
    sequence = data.get("sequence") if isinstance(data, Mapping) else None
    if not isinstance(order, Mapping) or not isinstance(order.get("id"), str):
        raise UnusableEvent(f"event {envelope.get('id')!r} carries no order")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise UnusableEvent(f"event {envelope.get('id')!r} carries no positive sequence")
    return order["id"], sequence, order


class OrderState:
    """The events of one order, held by sequence; ``order`` is the latest snapshot."""

    __slots__ = ("_events", "order_id")

    def __init__(self, order_id: str | None = None) -> None:
        self.order_id = order_id  # None: taken from the first event added
        self._events: dict[int, Envelope] = {}

    def add(self, envelope: Envelope) -> bool:
        """Hold one event; False when its sequence is held already (a duplicate or a retry)."""
        order_id, sequence, _ = _read(envelope)
        if self.order_id is None:
            self.order_id = order_id
        elif order_id != self.order_id:
            raise UnusableEvent(f"event of order {order_id}, not of {self.order_id}")
        if sequence in self._events:
            return False
        self._events[sequence] = envelope
        return True

    def add_all(self, envelopes: Iterable[Envelope]) -> int:
        """Hold each event; the number that were new."""
        return sum(self.add(envelope) for envelope in envelopes)

    @property
    def sequence(self) -> int:
        """The highest sequence held; 0 before any event."""
        return max(self._events, default=0)

    @property
    def order(self) -> Mapping[str, Any] | None:
        """The order as of the highest sequence held, as rampwire serialised it."""
        if not self._events:
            return None
        return _read(self._events[self.sequence])[2]

    @property
    def status(self) -> str | None:
        order = self.order
        return None if order is None else order.get("status")

    @property
    def events(self) -> list[Envelope]:
        """The events held, by sequence."""
        return [self._events[s] for s in sorted(self._events)]

    @property
    def missing(self) -> tuple[int, ...]:
        """Sequences below the highest that have not arrived."""
        return tuple(s for s in range(1, self.sequence) if s not in self._events)

    @property
    def complete(self) -> bool:
        return not self.missing

    async def fill(self, fetch: Fetch) -> tuple[int, ...]:
        """Ask ``fetch`` for the missing events (e.g. the endpoint's ``pending-events`` or the
        order's events from the API), hold what it returns; the sequences still missing."""
        missing = self.missing
        if not missing or self.order_id is None:
            return missing
        found = fetch(self.order_id, missing)
        if inspect.isawaitable(found):
            found = await found
        self.add_all(e for e in found if _read(e)[1] in missing)
        return self.missing

    def __repr__(self) -> str:
        return (
            f"OrderState({self.order_id!r}, sequence={self.sequence}, status={self.status!r}, "
            f"missing={list(self.missing)})"
        )


def fold(envelopes: Iterable[Envelope]) -> dict[str, OrderState]:
    """Every order's state from a mixed stream of events; events with no order are skipped."""
    states: dict[str, OrderState] = {}
    for envelope in envelopes:
        try:
            order_id = _read(envelope)[0]
        except UnusableEvent:
            continue
        states.setdefault(order_id, OrderState(order_id)).add(envelope)
    return states
