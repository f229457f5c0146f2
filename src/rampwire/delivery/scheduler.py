"""Fair scheduling of a worker's claimed deliveries across endpoints.

A worker sends to many endpoints at once. If its claimed deliveries waited in one queue, an
endpoint that hangs, with a backlog, would fill the queue and the send slots with deliveries
waiting for its own in-flight limit, and every other endpoint would wait behind it. Here each
endpoint has its own queue; a send starts only for an endpoint with a free in-flight slot, the
endpoints taking turns (round robin); and each endpoint holds at most :data:`HELD_PER_SLOT`
deliveries per slot (claims ask for no more: :meth:`Scheduler.rooms`), so a slow endpoint can
occupy only its own slots and a small reserve. Pure bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..domain.deliveries import Claimed
from .endpoints import DEFAULT_MAX_IN_FLIGHT

HELD_PER_SLOT = 2  # per in-flight slot, an endpoint holds one delivery sending and one ready
# endpoints whose slot counts are remembered while idle, at most: as many as the worker keeps the
# settings of, so that an endpoint met again is not learned again (with fewer, thousands of
# endpoints each met every few seconds meant a walk of the table every hundred sends)
KNOWN_ENDPOINTS = 16_384


@dataclass(frozen=True, slots=True)
class Rooms:
    """How many more deliveries each endpoint may hold, for the next claim."""

    full: list[str]  # endpoints that may hold no more: the claim skips them
    rooms: dict[str, int]  # endpoints with a room other than ``default``
    default: int  # every other endpoint


class Scheduler:
    """Every operation is O(1) in the number of endpoints but :meth:`rooms` (once per claim):
    the endpoints that can start a send now are kept in turn order (``_ready``), and the count of
    deliveries they hold queued (:meth:`startable`) is kept as they change."""

    def __init__(self, *, limit: int) -> None:
        self._limit = limit  # no endpoint holds more than this (the worker's whole reserve)
        self._queues: dict[str, deque[Claimed]] = {}
        # queued work and a free slot, in turn order. An OrderedDict, not a dict: a dict whose
        # first keys are deleted keeps their slots until it is resized, and next(iter()) walks
        # over them, so with thousands of endpoints taking turns each next() walked dozens.
        self._ready: OrderedDict[str, None] = OrderedDict()
        self._active: dict[str, int] = {}  # sends started and not finished
        self._slots: dict[str, int] = {}  # the endpoint's in-flight limit, once known
        self._small: set[str] = set()  # known endpoints whose cap is below the default room
        self._startable = 0  # queued deliveries of endpoints with a free slot
        self.queued = 0

    def set_slots(self, endpoint_id: str, slots: int) -> None:
        """The endpoint's in-flight limit, as its settings say (until then the default)."""
        was_free = self._free(endpoint_id)
        self._slots.pop(endpoint_id, None)  # re-inserted last: the oldest is forgotten first
        self._slots[endpoint_id] = max(1, slots)
        if self.cap(endpoint_id) < self._default_room:
            self._small.add(endpoint_id)
        else:
            self._small.discard(endpoint_id)
        self._changed(endpoint_id, was_free)
        if len(self._slots) > KNOWN_ENDPOINTS:
            for idle in [e for e in self._slots if not self._holds(e)][: len(self._slots) // 10]:
                del self._slots[idle]
                self._small.discard(idle)

    def slots(self, endpoint_id: str) -> int:
        return self._slots.get(endpoint_id, DEFAULT_MAX_IN_FLIGHT)

    def cap(self, endpoint_id: str) -> int:
        """How many deliveries the endpoint may hold, queued and sending."""
        return min(self._limit, HELD_PER_SLOT * self.slots(endpoint_id))

    def room(self, endpoint_id: str) -> int:
        """How many more the endpoint may hold."""
        return self.cap(endpoint_id) - self.held(endpoint_id)

    def held(self, endpoint_id: str) -> int:
        queue = self._queues.get(endpoint_id)
        return (len(queue) if queue else 0) + self._active.get(endpoint_id, 0)

    def _holds(self, endpoint_id: str) -> bool:
        return endpoint_id in self._queues or endpoint_id in self._active

    def _free(self, endpoint_id: str) -> bool:
        return self._active.get(endpoint_id, 0) < self.slots(endpoint_id)

    def _changed(self, endpoint_id: str, was_free: bool) -> None:
        """Keep ``_startable`` and ``_ready`` true after the endpoint's slots or sends changed."""
        free = self._free(endpoint_id)
        queue = self._queues.get(endpoint_id)
        waiting = len(queue) if queue else 0
        if free != was_free:
            self._startable += waiting if free else -waiting
        if free and waiting:
            self._ready.setdefault(endpoint_id, None)
        else:
            self._ready.pop(endpoint_id, None)

    def push(self, claimed: Iterable[Claimed]) -> None:
        for item in claimed:
            endpoint_id = item.endpoint_id
            queue = self._queues.get(endpoint_id)
            if queue is None:
                queue = self._queues[endpoint_id] = deque()
            queue.append(item)
            self.queued += 1
            if self._free(endpoint_id):
                self._startable += 1
                self._ready.setdefault(endpoint_id, None)

    def next(self) -> Claimed | None:
        """The next delivery to send, from the first endpoint in turn with a free slot; that
        endpoint's turn moves to the end. None: nothing can start now."""
        if not self._ready:
            return None
        endpoint_id, _ = self._ready.popitem(last=False)
        queue = self._queues[endpoint_id]
        item = queue.popleft()
        self.queued -= 1
        self._startable -= 1
        if not queue:
            del self._queues[endpoint_id]
        self._active[endpoint_id] = self._active.get(endpoint_id, 0) + 1
        self._changed(endpoint_id, was_free=True)  # its next turn comes after every other's
        return item

    def finished(self, endpoint_id: str) -> None:
        """A send started by :meth:`next` is over."""
        was_free = self._free(endpoint_id)
        active = self._active.get(endpoint_id, 0) - 1
        if active > 0:
            self._active[endpoint_id] = active
        else:
            self._active.pop(endpoint_id, None)
        self._changed(endpoint_id, was_free)

    def startable(self) -> int:
        """Queued deliveries whose endpoint has a free slot: what keeps the slots busy."""
        return self._startable

    @property
    def _default_room(self) -> int:
        return min(self._limit, HELD_PER_SLOT * DEFAULT_MAX_IN_FLIGHT)

    def rooms(self) -> Rooms:
        """The endpoints that hold deliveries get their room, and so do idle ones whose cap is
        below the default; an idle endpoint with a larger cap gets the default in this claim,
        and its own room from the next one, once it holds some. (Listing every endpoint ever
        seen cost each claim a walk of up to :data:`KNOWN_ENDPOINTS` and as many rooms sent to
        the claim's SQL, for claims of a few dozen deliveries when the worker keeps up.)"""
        default = self._default_room
        full: list[str] = []
        rooms: dict[str, int] = {}
        # room() inlined: this loop runs over every endpoint held, once per claim
        limit, queues, active, slots = self._limit, self._queues, self._active, self._slots
        for endpoint_id in queues.keys() | active.keys() | self._small:
            queue = queues.get(endpoint_id)
            room = (
                min(limit, HELD_PER_SLOT * slots.get(endpoint_id, DEFAULT_MAX_IN_FLIGHT))
                - (len(queue) if queue else 0)
                - active.get(endpoint_id, 0)
            )
            if room <= 0:
                full.append(endpoint_id)
            elif room != default:
                rooms[endpoint_id] = room
        return Rooms(full=sorted(full), rooms=rooms, default=default)

    def remove(self, ids: set[str]) -> list[Claimed]:
        """Take the queued deliveries with these ids out (their lease was lost)."""
        removed: list[Claimed] = []
        for endpoint_id in list(self._queues):
            queue = self._queues[endpoint_id]
            gone = [item for item in queue if item.id in ids]
            if not gone:
                continue
            removed.extend(gone)
            kept = deque(item for item in queue if item.id not in ids)
            if self._free(endpoint_id):
                self._startable -= len(gone)
            if kept:
                self._queues[endpoint_id] = kept
            else:
                del self._queues[endpoint_id]
                self._ready.pop(endpoint_id, None)
        self.queued -= len(removed)
        return removed

    def drain(self) -> list[Claimed]:
        """Every queued delivery, taken out (stopping: they are given back)."""
        drained = [item for queue in self._queues.values() for item in queue]
        self._queues.clear()
        self._ready.clear()
        self._startable = 0
        self.queued = 0
        return drained

    def reset(self) -> None:
        """Forget every queue and send (the worker's run ended; its leases expire)."""
        self._queues.clear()
        self._ready.clear()
        self._active.clear()
        self._startable = 0
        self.queued = 0
