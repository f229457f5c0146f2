"""The worker's fair scheduler: one queue per endpoint, turns, slots, and claim rooms."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rampwire.delivery.endpoints import DEFAULT_MAX_IN_FLIGHT
from rampwire.delivery.scheduler import HELD_PER_SLOT, KNOWN_ENDPOINTS, Lane, Scheduler
from rampwire.domain.deliveries import Claimed


def claimed(endpoint_id: str, n: int, first: int = 0) -> list[Claimed]:
    return [
        Claimed(
            id=f"dlv_{endpoint_id}_{i}",
            endpoint_id=endpoint_id,
            event_id=f"evt_{i}",
            event_type="order.created",
            attempts=0,
            lease_token="t",
            payload=b"{}",
        )
        for i in range(first, first + n)
    ]


def test_endpoints_take_turns() -> None:
    scheduler = Scheduler(limit=1000)
    scheduler.push(claimed("slow", 5))
    scheduler.push(claimed("fast", 2))
    order = []
    while (picked := scheduler.next()) is not None:
        order.append(picked[1].endpoint_id)
    assert order == ["slow", "fast", "slow", "fast", "slow", "slow", "slow"]


def test_an_endpoint_with_no_free_slot_does_not_hold_the_others_up() -> None:
    scheduler = Scheduler(limit=1000)
    hanging = scheduler.lane("hanging")
    scheduler.set_slots(hanging, 2)
    scheduler.push(claimed("hanging", 10))
    assert [scheduler.next() is not None for _ in range(2)] == [True, True]
    assert scheduler.next() is None  # both of its slots are taken
    scheduler.push(claimed("healthy", 3))
    started = [scheduler.next() for _ in range(3)]
    assert [picked[1].endpoint_id for picked in started if picked] == ["healthy"] * 3
    assert scheduler.startable() == 0
    scheduler.finished(hanging)
    picked = scheduler.next()
    assert picked is not None and picked[0] is hanging and picked[1].endpoint_id == "hanging"


def test_rooms_cap_what_one_endpoint_holds() -> None:
    scheduler = Scheduler(limit=1000)
    scheduler.set_slots(scheduler.lane("hanging"), 3)
    scheduler.push(claimed("hanging", HELD_PER_SLOT * 3))
    scheduler.set_slots(scheduler.lane("big"), 200)
    scheduler.set_slots(scheduler.lane("small"), 1)
    rooms = scheduler.rooms()
    assert rooms.full == ["hanging"]
    # idle: a smaller cap than the default is listed; a larger one waits until it holds some
    assert rooms.rooms == {"small": HELD_PER_SLOT}
    assert rooms.default == HELD_PER_SLOT * DEFAULT_MAX_IN_FLIGHT
    scheduler.push(claimed("big", 1))
    assert scheduler.rooms().rooms == {"small": HELD_PER_SLOT, "big": 399}


def test_the_whole_reserve_bounds_every_room() -> None:
    scheduler = Scheduler(limit=100)
    scheduler.set_slots(scheduler.lane("big"), 1000)
    scheduler.push(claimed("big", 30))
    assert scheduler.rooms().rooms == {"big": 70}


def test_lost_leases_leave_the_queues() -> None:
    scheduler = Scheduler(limit=1000)
    scheduler.push(claimed("a", 3) + claimed("b", 1))
    removed = scheduler.remove({"dlv_a_1", "dlv_b_0", "dlv_x"})
    assert sorted(item.id for item in removed) == ["dlv_a_1", "dlv_b_0"]
    assert scheduler.queued == 2
    assert [item.id for item in scheduler.drain()] == ["dlv_a_0", "dlv_a_2"]
    assert scheduler.queued == 0


def test_idle_endpoints_are_forgotten_beyond_the_bound() -> None:
    scheduler = Scheduler(limit=1000)
    scheduler.push(claimed("busy", 1))
    busy = scheduler.lane("busy")
    for i in range(KNOWN_ENDPOINTS + 200):
        scheduler.set_slots(scheduler.lane(f"ep_{i}"), 7)
        assert len(scheduler._lanes) <= KNOWN_ENDPOINTS
    assert len(scheduler.rooms().rooms) <= KNOWN_ENDPOINTS
    assert scheduler.slots(f"ep_{KNOWN_ENDPOINTS + 199}") == 7
    assert scheduler.slots("ep_0") == DEFAULT_MAX_IN_FLIGHT  # idle, the oldest set: forgotten
    assert scheduler.lane("busy") is busy  # it holds a delivery: kept


class Model:
    """The scheduler's rules, counted from scratch: a FIFO queue and a count of sends per
    endpoint, and a turn order holding the endpoints with queued work and a free slot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queues: dict[str, list[Claimed]] = {}
        self.active: dict[str, int] = {}
        self.slots: dict[str, int] = {}
        self.order: list[str] = []

    def free(self, e: str) -> bool:
        return self.active.get(e, 0) < self.slots.get(e, DEFAULT_MAX_IN_FLIGHT)

    def settle(self, e: str) -> None:
        """Into the turn order at the end if it can start a send, out of it if not."""
        if self.free(e) and self.queues.get(e):
            if e not in self.order:
                self.order.append(e)
        elif e in self.order:
            self.order.remove(e)

    def push(self, items: list[Claimed]) -> None:
        for item in items:
            self.queues.setdefault(item.endpoint_id, []).append(item)
            self.settle(item.endpoint_id)

    def next(self) -> Claimed | None:
        if not self.order:
            return None
        e = self.order.pop(0)
        self.active[e] = self.active.get(e, 0) + 1
        item = self.queues[e].pop(0)
        self.settle(e)
        return item

    def room(self, e: str) -> int:
        cap = min(self.limit, HELD_PER_SLOT * self.slots.get(e, DEFAULT_MAX_IN_FLIGHT))
        return cap - len(self.queues.get(e, [])) - self.active.get(e, 0)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["push", "next", "next", "finish", "slots", "remove", "drain"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.integers(min_value=1, max_value=4),
        ),
        max_size=200,
    )
)
def test_the_scheduler_follows_its_rules(ops: list[tuple[str, str, int]]) -> None:
    """After any sequence of operations: every delivery comes out of next() in the order the
    rules give (each endpoint's in FIFO order, endpoints with a free slot taking turns), and
    the counts kept as things change (startable(), the turn order, each claim's rooms) equal
    the ones counted from scratch."""
    limit = 9
    scheduler = Scheduler(limit=limit)
    model = Model(limit)
    lanes: dict[str, list[Lane]] = {}  # the lanes of the sends in flight, per endpoint
    made = 0
    for op, endpoint_id, n in ops:
        if op == "push":
            items = claimed(endpoint_id, n, first=made)
            made += n
            scheduler.push(items)
            model.push(items)
        elif op == "next":
            picked = scheduler.next()
            expected = model.next()
            assert (picked and picked[1]) is expected
            if picked is not None:
                assert picked[0].endpoint_id == picked[1].endpoint_id
                lanes.setdefault(picked[0].endpoint_id, []).append(picked[0])
        elif op == "finish" and lanes.get(endpoint_id):
            scheduler.finished(lanes[endpoint_id].pop())
            model.active[endpoint_id] -= 1
            model.settle(endpoint_id)
        elif op == "slots":
            scheduler.set_slots(scheduler.lane(endpoint_id), n)
            model.slots[endpoint_id] = n
            model.settle(endpoint_id)
        elif op == "remove":
            gone = {f"dlv_{endpoint_id}_{i}" for i in range(0, made, n)}
            removed = scheduler.remove(gone)
            assert {item.id for item in removed} == {
                item.id for q in model.queues.values() for item in q if item.id in gone
            }
            for e, queue in model.queues.items():
                queue[:] = [item for item in queue if item.id not in gone]
                model.settle(e)
        elif op == "drain":
            drained = scheduler.drain()
            assert sorted(item.id for item in drained) == sorted(
                item.id for q in model.queues.values() for item in q
            )
            model.queues.clear()
            model.order.clear()
        queued = {e: q for e, q in model.queues.items() if q}
        assert scheduler.queued == sum(len(q) for q in queued.values())
        assert scheduler.startable() == sum(len(q) for e, q in queued.items() if model.free(e))
        assert [lane.endpoint_id for lane in scheduler._ready] == model.order
        assert {lane.endpoint_id for lane in scheduler._holding} == set(queued) | {
            e for e, count in model.active.items() if count
        }
        rooms = scheduler.rooms()
        for e in "abcd":
            expected = model.room(e)
            assert scheduler.room(e) == expected
            if expected <= 0:
                assert e in rooms.full
            elif e in queued or model.active.get(e) or scheduler.cap(e) < rooms.default:
                assert rooms.rooms.get(e, rooms.default) == expected
            else:  # idle, with the default room or a larger one
                assert e not in rooms.rooms and e not in rooms.full
