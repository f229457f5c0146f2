"""Fair scheduling of a worker's claimed deliveries across endpoints.

A worker sends to many endpoints at once. If its claimed deliveries waited in one queue, an
endpoint that hangs, with a backlog, would fill the queue and the send slots with deliveries
waiting for its own in-flight limit, and every other endpoint would wait behind it. Here each
endpoint has its own queue; a send starts only for an endpoint with a free in-flight slot, the
endpoints taking turns (round robin); and each endpoint holds at most :data:`HELD_PER_SLOT`
deliveries per slot (claims ask for no more: :meth:`Scheduler.rooms`), so a slow endpoint can
occupy only its own slots and a small reserve. Pure bookkeeping: no I/O, no clock.

What the worker keeps of one endpoint is one :class:`Lane` (its queue, sends, slots and
limiter), found once per claimed delivery and then handed along, so a send looks nothing up by
endpoint id: with thousands of endpoints, one object each, not an entry in each of five tables.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..domain.deliveries import Claimed
from .endpoints import DEFAULT_MAX_IN_FLIGHT
from .limits import EndpointLimiter

HELD_PER_SLOT = 2  # per in-flight slot, an endpoint holds one delivery sending and one ready
# endpoints whose slot counts are remembered while idle, at most: as many as the worker keeps the
# settings of, so that an endpoint met again is not learned again (with fewer, thousands of
# endpoints each met every few seconds meant a walk of the table every hundred sends)
KNOWN_ENDPOINTS = 16_384


@dataclass(eq=False, slots=True)
class Lane:
    """One endpoint in the scheduler: compared and hashed by identity."""

    endpoint_id: str
    slots: int  # its in-flight limit, as its settings say (until known, the default)
    cap: int  # how many deliveries it may hold, queued and sending
    queue: deque[Claimed] = field(default_factory=deque)  # claimed, not started, oldest first
    active: int = 0  # sends started and not finished
    limiter: EndpointLimiter | None = None  # the worker's, if a rate limit or surplus needs one

    @property
    def held(self) -> int:
        return len(self.queue) + self.active

    @property
    def room(self) -> int:
        """How many more it may hold."""
        return self.cap - len(self.queue) - self.active


@dataclass(frozen=True, slots=True)
class Rooms:
    """How many more deliveries each endpoint may hold, for the next claim."""

    full: list[str]  # endpoints that may hold no more: the claim skips them
    rooms: dict[str, int]  # endpoints with a room other than ``default``
    default: int  # every other endpoint


class Scheduler:
    """Every operation is O(1) in the number of endpoints but :meth:`rooms` (once per claim, over
    the endpoints that hold deliveries): the lanes that can start a send now are kept in turn
    order (``_ready``), and the count of deliveries they hold queued (:meth:`startable`) is kept
    as they change."""

    def __init__(self, *, limit: int) -> None:
        self._limit = limit  # no endpoint holds more than this (the worker's whole reserve)
        self._default_room = min(limit, HELD_PER_SLOT * DEFAULT_MAX_IN_FLIGHT)  # = _cap(default)
        self._lanes: dict[str, Lane] = {}  # known endpoints, the least recently set first
        self._holding: set[Lane] = set()  # lanes with deliveries queued or sending
        # queued work and a free slot, in turn order. An OrderedDict, not a dict: a dict whose
        # first keys are deleted keeps their slots until it is resized, and next(iter()) walks
        # over them, so with thousands of endpoints taking turns each next() walked dozens.
        self._ready: OrderedDict[Lane, None] = OrderedDict()
        self._small: set[Lane] = set()  # known lanes whose cap is below the default room
        self._startable = 0  # queued deliveries of lanes with a free slot
        self.queued = 0

    def lane(self, endpoint_id: str) -> Lane:
        """The endpoint's lane, made (with the default slots) if it is not known."""
        lane = self._lanes.get(endpoint_id)
        if lane is None:
            lane = self._lanes[endpoint_id] = Lane(
                endpoint_id, DEFAULT_MAX_IN_FLIGHT, self._default_room
            )
            if len(self._lanes) > KNOWN_ENDPOINTS:
                self._forget_idle()
        return lane

    def _cap(self, slots: int) -> int:
        return min(self._limit, HELD_PER_SLOT * slots)

    def _forget_idle(self) -> None:
        """Forget a tenth of the known lanes, the idle ones least recently set first (their
        limiters are idle too: a send holds its lane's slot from start to finish)."""
        idle = [lane for lane in self._lanes.values() if not lane.queue and not lane.active]
        for lane in idle[: len(self._lanes) // 10]:
            del self._lanes[lane.endpoint_id]
            self._small.discard(lane)

    def set_slots(self, lane: Lane, slots: int) -> None:
        """The endpoint's in-flight limit, as its settings say (until then the default)."""
        was_free = lane.active < lane.slots
        lane.slots = slots = max(1, slots)
        lane.cap = min(self._limit, HELD_PER_SLOT * slots)  # _cap(), inlined: once an endpoint
        if self._lanes.get(lane.endpoint_id) is lane:  # re-inserted last: forgotten last
            del self._lanes[lane.endpoint_id]
            self._lanes[lane.endpoint_id] = lane
        if lane.cap < self._default_room:
            self._small.add(lane)
        else:
            self._small.discard(lane)
        if lane.queue:  # else _changed() has nothing to change
            self._changed(lane, was_free)

    def slots(self, endpoint_id: str) -> int:
        lane = self._lanes.get(endpoint_id)
        return DEFAULT_MAX_IN_FLIGHT if lane is None else lane.slots

    def cap(self, endpoint_id: str) -> int:
        """How many deliveries the endpoint may hold, queued and sending."""
        return self._cap(self.slots(endpoint_id))

    def room(self, endpoint_id: str) -> int:
        """How many more the endpoint may hold."""
        return self.cap(endpoint_id) - self.held(endpoint_id)

    def held(self, endpoint_id: str) -> int:
        lane = self._lanes.get(endpoint_id)
        return 0 if lane is None else lane.held

    def _changed(self, lane: Lane, was_free: bool) -> None:
        """Keep ``_startable`` and ``_ready`` true after the lane's slots or sends changed. A
        lane with nothing queued is never in ``_ready`` (each way out of it that empties the
        queue takes the lane out too), so it has nothing to change."""
        waiting = len(lane.queue)
        if not waiting:
            return
        free = lane.active < lane.slots
        if free != was_free:
            self._startable += waiting if free else -waiting
        if free:
            self._ready.setdefault(lane, None)
        else:
            self._ready.pop(lane, None)

    def push(self, claimed: Iterable[Claimed]) -> None:
        lanes, holding, ready = self._lanes, self._holding, self._ready
        for item in claimed:
            lane = lanes.get(item.endpoint_id)
            if lane is None:
                lane = self.lane(item.endpoint_id)
            if not lane.queue and not lane.active:
                holding.add(lane)
            lane.queue.append(item)
            self.queued += 1
            if lane.active < lane.slots:
                self._startable += 1
                ready.setdefault(lane, None)

    def next(self) -> tuple[Lane, Claimed] | None:
        """The next delivery to send and its lane, from the first endpoint in turn with a free
        slot; that endpoint's turn moves to the end. None: nothing can start now."""
        if not self._ready:
            return None
        lane, _ = self._ready.popitem(last=False)
        item = lane.queue.popleft()
        self.queued -= 1
        self._startable -= 1
        lane.active += 1
        if lane.active < lane.slots:  # still free: its next turn comes after every other's
            if lane.queue:
                self._ready[lane] = None
        else:  # no free slot: what it still has queued cannot start
            self._startable -= len(lane.queue)
        return lane, item

    def finished(self, lane: Lane) -> None:
        """A send started by :meth:`next` is over."""
        if lane.queue:
            was_free = lane.active < lane.slots
            lane.active -= 1
            self._changed(lane, was_free)
        else:  # nothing queued: nothing to start (with many endpoints, the common case)
            lane.active -= 1
            if not lane.active:
                self._holding.discard(lane)

    def startable(self) -> int:
        """Queued deliveries whose endpoint has a free slot: what keeps the slots busy."""
        return self._startable

    def rooms(self) -> Rooms:
        """The endpoints that hold deliveries get their room, and so do idle ones whose cap is
        below the default; an idle endpoint with a larger cap gets the default in this claim,
        and its own room from the next one, once it holds some. (Listing every endpoint ever
        seen cost each claim a walk of up to :data:`KNOWN_ENDPOINTS` and as many rooms sent to
        the claim's SQL, for claims of a few dozen deliveries when the worker keeps up.)"""
        default = self._default_room
        full: list[str] = []
        rooms: dict[str, int] = {}
        for lanes in (self._holding, self._small - self._holding):
            for lane in lanes:
                room = lane.cap - len(lane.queue) - lane.active  # Lane.room, inlined
                if room <= 0:
                    full.append(lane.endpoint_id)
                elif room != default:
                    rooms[lane.endpoint_id] = room
        return Rooms(full=sorted(full), rooms=rooms, default=default)

    def remove(self, ids: set[str]) -> list[Claimed]:
        """Take the queued deliveries with these ids out (their lease was lost)."""
        removed: list[Claimed] = []
        for lane in list(self._holding):
            gone = [item for item in lane.queue if item.id in ids]
            if not gone:
                continue
            removed.extend(gone)
            was_free = lane.active < lane.slots
            if was_free:
                self._startable -= len(gone)
            lane.queue = deque(item for item in lane.queue if item.id not in ids)
            if not lane.queue:
                self._ready.pop(lane, None)
                if not lane.active:
                    self._holding.discard(lane)
        self.queued -= len(removed)
        return removed

    def drain(self) -> list[Claimed]:
        """Every queued delivery, taken out (stopping: they are given back)."""
        drained: list[Claimed] = []
        for lane in list(self._holding):
            drained.extend(lane.queue)
            lane.queue.clear()
            if not lane.active:
                self._holding.discard(lane)
        self._ready.clear()
        self._startable = 0
        self.queued = 0
        return drained

    def reset(self) -> None:
        """Forget every queue and send (the worker's run ended; its leases expire)."""
        for lane in self._holding:
            lane.queue.clear()
            lane.active = 0
        self._holding.clear()
        self._ready.clear()
        self._startable = 0
        self.queued = 0
