"""The fold of changes into an order held for writing: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.domain import events, serde
from rampwire.domain.events import Source
from rampwire.domain.fold import HeldOrder, ProviderUpdate, first_sight, fold
from rampwire.domain.lifecycle import Change
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.domain.timeline import EntryKind
from rampwire.errors import IllegalTransition

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
S = OrderStatus


def update(status: OrderStatus, at: int, *, side: Side | None = Side.BUY) -> ProviderUpdate:
    return ProviderUpdate(
        provider=Provider.TRANSAK,
        provider_order_id="tk-1",
        side=side,
        change=Change(occurred_at=NOW + timedelta(seconds=at), status=status),
        source=Source(provider="transak", provider_event=status.value, received_at=NOW),
    )


def held_after(*updates: ProviderUpdate) -> HeldOrder:
    held, _, _ = first_sight(updates[0], NOW)
    for each in updates:
        fold(held, each.change, source=each.source, strict=False, now=NOW)
    return held


def test_first_sight_creates_the_order_and_its_first_entry() -> None:
    held, created, entry = first_sight(update(S.AWAITING_PAYMENT, 0), NOW)
    assert held.new and held.seq == 1
    assert held.order.status is S.CREATED and held.order.provider_order_id == "tk-1"
    assert created.type == "order.created"
    assert entry.kind is EntryKind.CREATED and entry.event_ids == (created.id,)


def test_first_sight_needs_a_side() -> None:
    with pytest.raises(ValueError, match="side"):
        first_sight(update(S.PROCESSING, 0, side=None), NOW)


def test_each_fold_takes_the_next_seq_and_marks_the_order_changed() -> None:
    held, _, _ = first_sight(update(S.PAYMENT_RECEIVED, 0), NOW)
    first = fold(
        held,
        update(S.PAYMENT_RECEIVED, 0).change,
        source=Source(received_at=NOW),
        strict=False,
        now=NOW,
    )
    second = fold(
        held, update(S.COMPLETED, 5).change, source=Source(received_at=NOW), strict=False, now=NOW
    )
    assert (first.entry.seq, second.entry.seq) == (2, 3)
    assert held.changed and held.order.status is S.COMPLETED
    assert [e.type for e in second.events] == ["order.completed"]


def test_a_stale_change_is_kept_on_the_timeline_and_changes_nothing() -> None:
    held = held_after(update(S.COMPLETED, 10))
    version = held.order.version
    stale = fold(
        held, update(S.PROCESSING, 5).change, source=Source(received_at=NOW), strict=False, now=NOW
    )
    assert stale.entry.kind is EntryKind.STALE
    assert stale.events == [] and held.order.version == version


def test_strict_mode_refuses_a_backward_move_before_anything_changes() -> None:
    held = held_after(update(S.COMPLETED, 10))
    seq = held.seq
    with pytest.raises(IllegalTransition):
        fold(
            held,
            update(S.PROCESSING, 20).change,
            source=Source(received_at=NOW),
            strict=True,
            now=NOW,
        )
    assert held.seq == seq and held.order.status is S.COMPLETED


FORWARD = [S.AWAITING_PAYMENT, S.PAYMENT_RECEIVED, S.PROCESSING, S.COMPLETED]


@given(st.permutations(range(len(FORWARD))))
def test_any_arrival_order_ends_in_the_same_status(order: list[int]) -> None:
    updates = [update(FORWARD[i], i) for i in order]
    held = held_after(*updates)
    assert held.order.status is S.COMPLETED
    assert held.seq == 1 + len(updates)  # every change is on the timeline, applied or not


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.text()),
)
def test_an_events_source_is_written_as_pydantic_writes_it(
    received_at: datetime, provider: str | None, provider_event: str | None
) -> None:
    source = Source(provider=provider, provider_event=provider_event, received_at=received_at)
    assert serde.to_json(events.source_values(source)) == serde.to_json(serde.dump(source))
