"""``fold.first_change``, a new order's first change made without the merge, equals
``first_sight`` then ``fold``: the same order, stamps (their maps in the same order), events
(the same payload bytes) and timeline entries, and the same rows written."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.dialects.strategies import standard

from rampwire.domain import events, fold
from rampwire.domain.events import Source
from rampwire.domain.fold import ChangeResult, HeldOrder, ProviderUpdate, first_change
from rampwire.domain.lifecycle import Change
from rampwire.domain.orders import Order, OrderStatus, Provider, Side, given_fields
from rampwire.domain.timeline import TimelineEntry
from rampwire.repository.order_rows import entry_row, order_row

NOW = datetime(2026, 12, 7, 9, 0, 0, 250000, tzinfo=UTC)
EARLIER = NOW - timedelta(seconds=30)
STATUSES: list[OrderStatus | None] = [None, *OrderStatus]

First = tuple[HeldOrder, events.Event, TimelineEntry, ChangeResult]


def _ids(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count()

    def new_id(prefix: str) -> str:
        return f"{prefix}_{next(counter):04d}"

    monkeypatch.setattr(fold, "new_id", new_id)
    monkeypatch.setattr(events, "new_id", new_id)


def general(update: ProviderUpdate, now: datetime) -> First:
    held, created, entry = fold.first_sight(update, now)
    return (
        held,
        created,
        entry,
        fold.fold(held, update.change, source=update.source, strict=False, now=now),
    )


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def assert_same(made: First, expected: First) -> None:
    held, created, entry, result = made
    held_0, created_0, entry_0, result_0 = expected
    assert _fields(held) == _fields(held_0)
    for stamps, stamps_0 in (
        (held.stamps, held_0.stamps),
        (result.outcome.stamps, result_0.outcome.stamps),
    ):
        assert list(stamps.fields.items()) == list(stamps_0.fields.items())
        assert list(stamps.ranks.items()) == list(stamps_0.ranks.items())
    assert created == created_0
    assert entry == entry_0
    assert _fields(result) == _fields(result_0)
    assert _fields(result.outcome) == _fields(result_0.outcome)
    assert [e.payload for e in result.events] == [e.payload for e in result_0.events]
    assert order_row(held) == order_row(held_0)
    assert [entry_row(e) for e in (entry, result.entry)] == [
        entry_row(e) for e in (entry_0, result_0.entry)
    ]


def both(
    monkeypatch: pytest.MonkeyPatch, update: ProviderUpdate, now: datetime = NOW
) -> tuple[First, First]:
    _ids(monkeypatch)
    made = first_change(update, now)
    _ids(monkeypatch)
    return made, general(update, now)


def update_of(
    patch: dict[str, Any],
    status: OrderStatus | None,
    *,
    timed: bool = True,
    side: Side | None = Side.BUY,
    partner_id: str | None = None,
    at: datetime = EARLIER,
) -> ProviderUpdate:
    return ProviderUpdate(
        provider=Provider.TRANSAK,
        provider_order_id="tk-1",
        side=side,
        change=Change(occurred_at=at, status=status, patch=patch, timed=timed),
        source=Source(provider="transak", provider_event="e1", received_at=NOW),
        partner_id=partner_id,
    )


@given(
    st.sampled_from(list(Side)).flatmap(lambda side: standard(side, OrderStatus.CREATED)),
    st.sampled_from(STATUSES),
    st.booleans(),
    st.none() | st.just("pt_1"),
)
@settings(
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_first_change_is_first_sight_then_fold(
    monkeypatch: pytest.MonkeyPatch,
    order: Order,
    status: OrderStatus | None,
    timed: bool,
    partner: str | None,
) -> None:
    patch = {name: getattr(order, name) for name in given_fields(order)}
    made, expected = both(
        monkeypatch, update_of(patch, status, timed=timed, side=order.side, partner_id=partner)
    )
    assert_same(made, expected)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("timed", [True, False])
def test_first_change_without_fields(
    monkeypatch: pytest.MonkeyPatch, status: OrderStatus | None, timed: bool
) -> None:
    made, expected = both(monkeypatch, update_of({}, status, timed=timed))
    assert_same(made, expected)


def test_a_change_timed_after_now_is_the_same_too(monkeypatch: pytest.MonkeyPatch) -> None:
    later = NOW + timedelta(hours=1)
    made, expected = both(monkeypatch, update_of({"note": "n"}, OrderStatus.PROCESSING, at=later))
    assert_same(made, expected)


def test_the_usual_first_change_takes_no_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_merge(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("merged")

    monkeypatch.setattr(fold, "merge", no_merge)
    held, _, _, result = first_change(update_of({"note": "n"}, OrderStatus.PROCESSING), NOW)
    assert held.order.status is OrderStatus.PROCESSING and held.seq == 2
    assert [e.type for e in result.events] == ["order.processing"]


@pytest.mark.parametrize("status", [None, OrderStatus.CREATED, OrderStatus.AMOUNT_MISMATCH])
def test_the_other_first_changes_take_the_merge(
    monkeypatch: pytest.MonkeyPatch, status: OrderStatus | None
) -> None:
    merged: list[Change] = []
    merge = fold.merge

    def counted(order: Order, stamps: Any, change: Change, **kwargs: Any) -> Any:
        merged.append(change)
        return merge(order, stamps, change, **kwargs)

    monkeypatch.setattr(fold, "merge", counted)
    first_change(update_of({"note": "n"}, status), NOW)
    assert len(merged) == 1


@pytest.mark.parametrize(
    "patch", [{"note": "n", "side": Side.SELL}, {"note": "n", "version": 9}, {"nothing": 1}]
)
def test_a_field_that_is_not_patchable_takes_the_general_path(
    monkeypatch: pytest.MonkeyPatch, patch: dict[str, Any]
) -> None:
    update = update_of(patch, OrderStatus.PROCESSING)
    try:
        _ids(monkeypatch)
        expected = general(update, NOW)
    except (TypeError, KeyError, AttributeError):  # the merge refuses it; so does first_change
        _ids(monkeypatch)
        with pytest.raises((TypeError, KeyError, AttributeError)):
            first_change(update, NOW)
    else:
        _ids(monkeypatch)
        assert_same(first_change(update, NOW), expected)


def test_first_change_needs_a_side() -> None:
    with pytest.raises(ValueError, match="side"):
        first_change(update_of({}, OrderStatus.PROCESSING, side=None), NOW)
