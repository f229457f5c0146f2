"""OrderState: any arrival order, with duplicates, folds to what the in-order stream gives;
gaps are reported and filled from a caller's source."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.receiver import OrderState, UnusableEvent, fold

STATUSES = ["created", "quote_accepted", "awaiting_payment", "processing", "completed"]


def events(count: int, order_id: str = "ord_1") -> list[dict[str, Any]]:
    """An order's events 1..count, each with the order as it was after its change."""
    out = []
    for sequence in range(1, count + 1):
        status = STATUSES[min(sequence - 1, len(STATUSES) - 1)]
        order = {"id": order_id, "status": status, "version": sequence, "metadata": {"n": sequence}}
        out.append(
            {
                "id": f"evt_{order_id}_{sequence}",
                "type": f"order.{status}" if sequence <= len(STATUSES) else "order.updated",
                "data": {"order": order, "sequence": sequence, "previous_status": None},
            }
        )
    return out


def in_order(stream: list[dict[str, Any]]) -> dict[str, Any]:
    """The reference: apply each event in sequence order, the last snapshot wins."""
    current: dict[str, Any] = {}
    for event in sorted(stream, key=lambda e: e["data"]["sequence"]):
        current = event["data"]["order"]
    return current


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stream = events(draw(st.integers(min_value=1, max_value=12)))
    extra = draw(st.lists(st.sampled_from(stream), max_size=10))
    return stream, draw(st.permutations(stream + extra))


@given(shuffled_with_duplicates())
def test_any_arrival_order_with_duplicates_gives_the_in_order_fold(
    case: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    stream, arrived = case
    state = OrderState()
    new = state.add_all(arrived)
    assert new == len(stream)
    assert state.order == in_order(stream)
    assert state.sequence == len(stream)
    assert state.events == stream
    assert state.complete


@given(shuffled_with_duplicates(), st.data())
def test_gaps_are_the_sequences_below_the_highest_not_yet_arrived(
    case: tuple[list[dict[str, Any]], list[dict[str, Any]]], data: st.DataObject
) -> None:
    stream, arrived = case
    dropped = data.draw(st.sets(st.integers(min_value=1, max_value=len(stream))))
    state = OrderState("ord_1")
    state.add_all(e for e in arrived if e["data"]["sequence"] not in dropped)
    top = max((s for s in range(1, len(stream) + 1) if s not in dropped), default=0)
    assert state.missing == tuple(s for s in sorted(dropped) if s < top)
    assert state.sequence == top


async def test_fill_asks_for_the_missing_sequences_and_holds_what_comes_back() -> None:
    stream = events(6)
    state = OrderState()
    state.add_all([stream[0], stream[3], stream[5]])
    assert state.missing == (2, 3, 5)
    asked: list[tuple[str, tuple[int, ...]]] = []

    async def from_the_api(order_id: str, missing: tuple[int, ...]) -> list[dict[str, Any]]:
        asked.append((order_id, missing))
        return [e for e in stream if e["data"]["sequence"] in (2, 5)]  # 3 not delivered yet

    assert await state.fill(from_the_api) == (3,)
    assert asked == [("ord_1", (2, 3, 5))]
    assert await state.fill(lambda _order, _missing: stream) == ()  # a plain callable too
    assert state.order == stream[-1]["data"]["order"]


def test_a_late_older_event_does_not_move_the_order_back() -> None:
    stream = events(4)
    state = OrderState()
    state.add(stream[3])
    assert state.status == "processing"
    assert state.add(stream[1]) is True
    assert state.status == "processing"
    assert state.add(stream[1]) is False  # the retry of one already held


@pytest.mark.parametrize(
    "envelope",
    [
        {"id": "evt_x", "type": "endpoint.disabled", "data": {"endpoint_id": "ep_1"}},
        {"id": "evt_x", "data": {"order": {"id": "ord_1"}, "sequence": 0}},
        {"id": "evt_x", "data": {"order": {"id": "ord_1"}, "sequence": True}},
        {"id": "evt_x", "data": {"order": {"id": "ord_1"}, "sequence": "2"}},
        {"id": "evt_x", "data": "x"},
        events(1, "ord_2")[0],
    ],
)
def test_an_event_that_is_not_of_this_order_is_refused(envelope: dict[str, Any]) -> None:
    state = OrderState("ord_1")
    with pytest.raises(UnusableEvent):
        state.add(envelope)
    assert state.events == []


def test_fold_splits_a_mixed_stream_by_order_and_skips_endpoint_events() -> None:
    mixed = [*events(3, "ord_a"), {"id": "evt_e", "type": "endpoint.disabled", "data": {}}]
    mixed += events(2, "ord_b")
    states = fold(reversed(mixed))
    assert {k: v.status for k, v in states.items()} == {
        "ord_a": "awaiting_payment",
        "ord_b": "quote_accepted",
    }
