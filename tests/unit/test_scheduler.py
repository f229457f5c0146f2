"""The worker's fair scheduler: one queue per endpoint, turns, slots, and claim rooms."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rampwire.delivery.endpoints import DEFAULT_MAX_IN_FLIGHT
from rampwire.delivery.scheduler import HELD_PER_SLOT, KNOWN_ENDPOINTS, Scheduler
from rampwire.domain.deliveries import Claimed


def claimed(endpoint_id: str, n: int) -> list[Claimed]:
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
        for i in range(n)
    ]


def test_endpoints_take_turns() -> None:
    scheduler = Scheduler(limit=1000)
    scheduler.push(claimed("slow", 5))
    scheduler.push(claimed("fast", 2))
    order = []
    while (item := scheduler.next()) is not None:
        order.append(item.endpoint_id)
    assert order == ["slow", "fast", "slow", "fast", "slow", "slow", "slow"]


def test_an_endpoint_with_no_free_slot_does_not_hold_the_others_up() -> None:
    scheduler = Scheduler(limit=1000)
    scheduler.set_slots("hanging", 2)
    scheduler.push(claimed("hanging", 10))
    assert [scheduler.next() is not None for _ in range(2)] == [True, True]
    assert scheduler.next() is None  # both of its slots are taken
    scheduler.push(claimed("healthy", 3))
    started = [scheduler.next() for _ in range(3)]
    assert [item.endpoint_id for item in started if item] == ["healthy"] * 3
    assert scheduler.startable() == 0
    scheduler.finished("hanging")
    item = scheduler.next()
    assert item is not None and item.endpoint_id == "hanging"


def test_rooms_cap_what_one_endpoint_holds() -> None:
    scheduler = Scheduler(limit=1000)
    scheduler.set_slots("hanging", 3)
    scheduler.push(claimed("hanging", HELD_PER_SLOT * 3))
    scheduler.set_slots("big", 200)
    scheduler.set_slots("small", 1)
    rooms = scheduler.rooms()
    assert rooms.full == ["hanging"]
    # idle: a smaller cap than the default is listed; a larger one waits until it holds some
    assert rooms.rooms == {"small": HELD_PER_SLOT}
    assert rooms.default == HELD_PER_SLOT * DEFAULT_MAX_IN_FLIGHT
    scheduler.push(claimed("big", 1))
    assert scheduler.rooms().rooms == {"small": HELD_PER_SLOT, "big": 399}


def test_the_whole_reserve_bounds_every_room() -> None:
    scheduler = Scheduler(limit=100)
    scheduler.set_slots("big", 1000)
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
    for i in range(KNOWN_ENDPOINTS + 200):
        scheduler.set_slots(f"ep_{i}", 7)
    assert len(scheduler.rooms().rooms) <= KNOWN_ENDPOINTS
    assert scheduler.slots(f"ep_{KNOWN_ENDPOINTS + 199}") == 7


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["push", "next", "finish", "slots", "remove"]),
            st.sampled_from(["a", "b", "c"]),
            st.integers(min_value=1, max_value=4),
        ),
        max_size=200,
    )
)
def test_the_kept_counts_equal_the_counted_ones(ops: list[tuple[str, str, int]]) -> None:
    """startable() and the turn order are kept as things change, never recounted: after any
    sequence of operations they equal a count from scratch."""
    scheduler = Scheduler(limit=1000)
    active: dict[str, int] = {}
    made = 0
    for op, endpoint_id, n in ops:
        if op == "push":
            scheduler.push(
                Claimed(
                    id=f"dlv_{made}",
                    endpoint_id=endpoint_id,
                    event_id="evt",
                    event_type="order.created",
                    attempts=0,
                    lease_token="t",
                    payload=b"{}",
                )
                for _ in range(n)
            )
            made += n
        elif op == "next":
            item = scheduler.next()
            if item is not None:
                active[item.endpoint_id] = active.get(item.endpoint_id, 0) + 1
        elif op == "finish" and active.get(endpoint_id):
            active[endpoint_id] -= 1
            scheduler.finished(endpoint_id)
        elif op == "slots":
            scheduler.set_slots(endpoint_id, n)
        elif op == "remove":
            scheduler.remove({f"dlv_{i}" for i in range(0, made, n)})
        counted = sum(
            len(queue)
            for e, queue in scheduler._queues.items()
            if active.get(e, 0) < scheduler.slots(e)
        )
        assert scheduler.startable() == counted
        assert scheduler.queued == sum(len(q) for q in scheduler._queues.values())
        assert set(scheduler._ready) == {
            e for e, q in scheduler._queues.items() if q and active.get(e, 0) < scheduler.slots(e)
        }
        rooms = scheduler.rooms()  # each endpoint's room as room() counts it, from scratch
        for e in {"a", "b", "c"}:
            expected = scheduler.room(e)
            if expected <= 0:
                assert e in rooms.full
            elif e in scheduler._queues or e in scheduler._active or e in scheduler._small:
                assert rooms.rooms.get(e, rooms.default) == expected
