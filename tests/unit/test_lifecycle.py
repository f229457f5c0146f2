"""The merge rule: properties over random event sets, and the cases the brief names."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.domain.lifecycle import (
    RANK,
    Change,
    Outcome,
    Stamps,
    StatusResult,
    _supersedes,
    check_transition,
    merge,
    status_key,
)
from rampwire.domain.orders import AmountMismatch, Order, OrderStatus, Side
from rampwire.errors import IllegalTransition

S = OrderStatus
T0 = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)


def new_order(status: OrderStatus = S.CREATED) -> tuple[Order, Stamps]:
    order = Order(
        id="ord_01HZZZZZZZZZZZZZZZZZZZZZZZ",
        side=Side.BUY,
        status=status,
        version=1,
        created_at=T0,
        updated_at=T0,
    )
    return order, Stamps(status_at=T0)


def fold(changes: list[Change], *, start: OrderStatus = S.CREATED) -> list[Outcome]:
    order, stamps = new_order(start)
    outcomes = []
    for change in changes:
        outcome = merge(order, stamps, change, strict=False, now=T0)
        order, stamps = outcome.order, outcome.stamps
        outcomes.append(outcome)
    return outcomes


def state(order: Order) -> tuple[object, ...]:
    """What must not depend on arrival order: everything but the bookkeeping."""
    return (order.status, order.data())


PATCH_VALUES = {
    "transaction_hash": st.sampled_from(["0xaa", "0xbb", None]),
    "note": st.sampled_from(["first", "second"]),
    "wallet_address": st.sampled_from(["0x1", "0x2"]),
}

changes = st.builds(
    Change,
    occurred_at=st.integers(0, 20).map(lambda m: T0 + timedelta(minutes=m)),
    status=st.none() | st.sampled_from(list(OrderStatus)),
    patch=st.fixed_dictionaries({}, optional=PATCH_VALUES),
    timed=st.booleans(),  # untimed: a provider that sends no event time (Saber's CRYPTO_BUY)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(changes, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_any_permutation_gives_the_same_order(events: list[Change], rnd: object) -> None:
    reference = state(fold(events)[-1].order)
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert state(fold(shuffled)[-1].order) == reference
    assert state(fold(list(reversed(events)))[-1].order) == reference


@settings(max_examples=300, deadline=None)
@given(st.lists(changes, min_size=1, max_size=8))
def test_no_event_moves_an_order_backwards(events: list[Change]) -> None:
    for outcome in fold(events):
        before, after = outcome.previous_status, outcome.order.status
        assert RANK[after] >= RANK[before]
        if before.is_terminal:
            assert after.is_terminal


@settings(max_examples=300, deadline=None)
@given(st.lists(changes, min_size=1, max_size=6))
def test_applying_an_event_twice_changes_nothing(events: list[Change]) -> None:
    once = fold(events)[-1].order
    twice = fold(events + events)[-1].order
    assert state(twice) == state(once)


TERMINAL_CONFLICTS = [
    (a, b)
    for a, b in itertools.permutations(
        [S.COMPLETED, S.FAILED, S.CANCELLED, S.EXPIRED, S.REFUNDED], 2
    )
    if {a, b} != {S.FAILED, S.REFUNDED}
]


@pytest.mark.parametrize(("first", "second"), TERMINAL_CONFLICTS)
def test_a_terminal_conflict_is_an_anomaly_whichever_arrives_first(
    first: OrderStatus, second: OrderStatus
) -> None:
    outcomes = fold([Change(occurred_at=T0, status=first), Change(occurred_at=T0, status=second)])
    assert outcomes[-1].anomaly is not None
    assert outcomes[-1].anomaly.code == "terminal_conflict"
    assert set(outcomes[-1].anomaly.statuses) == {first.value, second.value}
    reverse = fold([Change(occurred_at=T0, status=second), Change(occurred_at=T0, status=first)])
    assert reverse[-1].order.status == outcomes[-1].order.status


@settings(max_examples=200, deadline=None)
@given(st.lists(changes, min_size=2, max_size=6))
def test_a_terminal_conflict_is_never_applied_silently(events: list[Change]) -> None:
    for outcome in fold(events):
        before, after = outcome.previous_status, outcome.order.status
        if before.is_terminal and after != before and (before, after) != (S.FAILED, S.REFUNDED):
            assert outcome.anomaly is not None


def test_refunded_after_failed_is_legitimate() -> None:
    outcomes = fold(
        [Change(occurred_at=T0, status=S.FAILED), Change(occurred_at=T0, status=S.REFUNDED)]
    )
    assert outcomes[-1].order.status is S.REFUNDED
    assert outcomes[-1].anomaly is None


def test_refunded_after_completed_is_an_anomaly_and_completed_holds() -> None:
    outcomes = fold(
        [Change(occurred_at=T0, status=S.COMPLETED), Change(occurred_at=T0, status=S.REFUNDED)]
    )
    assert outcomes[-1].order.status is S.COMPLETED
    assert outcomes[-1].anomaly is not None
    assert outcomes[-1].status_result is StatusResult.STALE


def test_a_late_event_is_stale_and_changes_no_status() -> None:
    outcomes = fold(
        [
            Change(occurred_at=T0 + timedelta(minutes=2), status=S.PROCESSING),
            Change(occurred_at=T0 + timedelta(minutes=1), status=S.AWAITING_PAYMENT),
        ]
    )
    assert outcomes[-1].status_result is StatusResult.STALE
    assert outcomes[-1].order.status is S.PROCESSING
    assert outcomes[-1].event_type is None


def test_an_untimed_early_step_arriving_late_does_not_overwrite_a_later_steps_fields() -> None:
    """Saber's CRYPTO_BUY events carry no time: each is stamped with when it came, so a late
    copy of an early step looks newest. Its fields yield to those of a later step."""
    early = Change(
        occurred_at=T0 + timedelta(minutes=9),  # received last
        status=S.PAYMENT_RECEIVED,
        patch={"transaction_hash": None, "note": "early"},
        timed=False,
    )
    later = Change(
        occurred_at=T0 + timedelta(minutes=1),  # received first
        status=S.COMPLETED,
        patch={"transaction_hash": "0xaa", "note": "later"},
        timed=False,
    )
    for arrival in ([early, later], [later, early]):
        order = fold(arrival)[-1].order
        assert (order.status, order.transaction_hash, order.note) == (S.COMPLETED, "0xaa", "later")


def test_an_untimed_write_of_the_same_step_is_ordered_by_when_it_came() -> None:
    first = Change(
        occurred_at=T0 + timedelta(minutes=1),
        status=S.PROCESSING,
        timed=False,
        patch={"note": "first"},
    )
    second = Change(
        occurred_at=T0 + timedelta(minutes=2),
        status=S.PROCESSING,
        timed=False,
        patch={"note": "second"},
    )
    assert fold([first, second])[-1].order.note == "second"
    assert fold([second, first])[-1].order.note == "second"


def test_processing_and_on_hold_alternate_by_event_time() -> None:
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
    held = fold(
        [Change(occurred_at=t1, status=S.PROCESSING), Change(occurred_at=t2, status=S.ON_HOLD)]
    )
    assert held[-1].order.status is S.ON_HOLD
    resumed = fold(
        [
            Change(occurred_at=t1, status=S.PROCESSING),
            Change(occurred_at=t2, status=S.ON_HOLD),
            Change(occurred_at=t3, status=S.PROCESSING),
        ]
    )
    assert resumed[-1].order.status is S.PROCESSING
    late_hold = fold(
        [Change(occurred_at=t3, status=S.PROCESSING), Change(occurred_at=t2, status=S.ON_HOLD)]
    )
    assert late_hold[-1].order.status is S.PROCESSING


def test_version_counts_changes_and_event_types_follow() -> None:
    outcomes = fold(
        [
            Change(occurred_at=T0, status=S.PROCESSING),
            Change(occurred_at=T0, patch={"note": "x"}),
            Change(occurred_at=T0, patch={"note": "x"}),
        ]
    )
    assert [o.event_type for o in outcomes] == ["order.processing", "order.updated", None]
    assert [o.order.version for o in outcomes] == [2, 3, 3]


def test_an_anomaly_takes_a_version_of_its_own() -> None:
    outcomes = fold(
        [
            Change(occurred_at=T0, status=S.COMPLETED),  # version 2
            Change(occurred_at=T0, status=S.FAILED),  # stale, an anomaly: 3
            Change(occurred_at=T0, status=S.FAILED),  # seen again, again an anomaly: 4
        ]
    )
    assert [o.order.version for o in outcomes] == [2, 3, 4]
    assert [o.changed for o in outcomes] == [True, True, True]
    assert [o.state_changed for o in outcomes] == [True, False, False]


def test_an_amount_mismatch_is_an_anomaly_once() -> None:
    mismatch = AmountMismatch(received=Decimal("90"), expected=Decimal("100"), currency="INR")
    outcomes = fold(
        [
            Change(occurred_at=T0, status=S.AMOUNT_MISMATCH, patch={"amount_mismatch": mismatch}),
            Change(occurred_at=T0, patch={"amount_mismatch": mismatch}),
        ]
    )
    first = outcomes[0]
    assert first.anomaly is not None and first.anomaly.code == "amount_mismatch"
    assert "received 90 INR, expected 100 INR" in first.anomaly.detail
    assert first.order.version == 3  # the status change, then the anomaly
    assert outcomes[1].anomaly is None and not outcomes[1].changed


def test_reaching_the_amount_mismatch_status_alone_is_an_anomaly() -> None:
    outcome = fold([Change(occurred_at=T0, status=S.AMOUNT_MISMATCH)])[0]
    assert outcome.anomaly is not None and outcome.anomaly.code == "amount_mismatch"
    stale = fold(
        [
            Change(occurred_at=T0, status=S.PROCESSING),
            Change(occurred_at=T0, status=S.AMOUNT_MISMATCH),
        ]
    )[1]
    assert stale.anomaly is None  # moved past it: nothing was reached


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.COMPLETED, S.PROCESSING),
        (S.COMPLETED, S.FAILED),
        (S.COMPLETED, S.REFUNDED),
        (S.PROCESSING, S.AWAITING_PAYMENT),
        (S.AWAITING_PAYMENT, S.REFUNDED),
        (S.CANCELLED, S.REFUNDED),
    ],
)
def test_strict_mode_refuses_illegal_transitions(current: OrderStatus, new: OrderStatus) -> None:
    order, stamps = new_order(current)
    with pytest.raises(IllegalTransition):
        merge(order, stamps, Change(occurred_at=T0, status=new), strict=True, now=T0)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.CREATED, S.COMPLETED),
        (S.PROCESSING, S.ON_HOLD),
        (S.ON_HOLD, S.PROCESSING),
        (S.FAILED, S.REFUNDED),
        (S.AMOUNT_MISMATCH, S.REFUNDED),
        (S.DELIVERY_SENT, S.REFUNDED),
        (S.PAYMENT_VERIFYING, S.AMOUNT_MISMATCH),
    ],
)
def test_strict_mode_allows_forward_moves(current: OrderStatus, new: OrderStatus) -> None:
    check_transition(current, new)


@pytest.mark.parametrize(
    ("status", "held"),
    [(a, b) for a, b in itertools.product(OrderStatus, repeat=2) if a != b],
)
def test_a_status_supersedes_another_as_their_keys_say(
    status: OrderStatus, held: OrderStatus
) -> None:
    times = [T0, T0 + timedelta(seconds=1), T0 - timedelta(microseconds=1)]
    for at, held_at in itertools.product(times, repeat=2):
        expected = status_key(status, at) > status_key(held, held_at)
        assert _supersedes(status, at, held, held_at) is expected
