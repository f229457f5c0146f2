"""An order's stamps (``field_times``) as stored: read, folded, written back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rampwire.domain import serde
from rampwire.domain.lifecycle import Change, Stamps, merge
from rampwire.domain.orders import Order, OrderStatus, Side
from rampwire.repository import order_rows
from rampwire.repository.order_rows import MICROS_KEPT, micros, stamp_columns, stamps_from
from rampwire.storage.database import from_us, to_us

NOW = datetime(2026, 12, 6, 11, 0, 0, 123456, tzinfo=UTC)
# as PostgreSQL's jsonb gives it back: its own key order and spacing, not what was written
STORED = '{"note": [1796554800123456, 3, 1], "metadata": 1796554800123456}'


def _order() -> Order:
    return Order(
        side=Side.BUY,
        note="n",
        metadata={"a": "b"},
        id="ord_1",
        status=OrderStatus.AWAITING_PAYMENT,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )


def test_stamps_a_change_without_fields_leaves_are_written_back_as_read() -> None:
    stamps = stamps_from(to_us(NOW), STORED)
    later = NOW + timedelta(seconds=1)
    change = Change(occurred_at=later, status=OrderStatus.PROCESSING)
    outcome = merge(_order(), stamps, change, strict=True, now=later)
    assert outcome.stamps.fields == stamps.fields and outcome.stamps.ranks == stamps.ranks
    assert stamp_columns(outcome.stamps) == (to_us(later), STORED)


def test_stamps_a_change_with_fields_makes_are_written_afresh() -> None:
    stamps = stamps_from(to_us(NOW), STORED)
    later = NOW + timedelta(seconds=1)
    change = Change(occurred_at=later, patch={"metadata": {"a": "c"}})
    outcome = merge(_order(), stamps, change, strict=True, now=later)
    status_at, field_times = stamp_columns(outcome.stamps)
    assert status_at == to_us(NOW)
    assert serde.from_json(field_times) == {
        "metadata": to_us(later),
        "note": [to_us(NOW), 3, 1],
    }
    assert from_us(serde.from_json(STORED)["metadata"]) == NOW


def test_stamps_written_then_handed_on_are_written_again_as_first_written() -> None:
    stamps = Stamps(status_at=NOW, fields={"note": NOW}, ranks={"note": (3, 1)})
    _, written = stamp_columns(stamps)
    later = NOW + timedelta(seconds=1)
    change = Change(occurred_at=later, status=OrderStatus.PROCESSING)
    outcome = merge(_order(), stamps, change, strict=True, now=later)
    assert stamp_columns(outcome.stamps) == (to_us(later), written)
    assert stamp_columns(outcome.stamps)[1] is written  # not serialised again
    assert serde.from_json(written) == {"note": [to_us(NOW), 3, 1]}


def test_micros_is_to_us_for_every_time_kept_or_not() -> None:
    times = [NOW + timedelta(microseconds=n * 7919) for n in range(MICROS_KEPT * 2)]
    for at in [*times, *times, NOW, datetime(1, 1, 1, tzinfo=UTC)]:
        assert micros(at) == to_us(at)
    equal = datetime(2026, 12, 6, 11, 0, 0, 123456, tzinfo=UTC)  # equal to NOW, another object
    assert micros(equal) == micros(NOW) == to_us(NOW)
    assert len(order_rows._MICROS) <= MICROS_KEPT


def test_micros_looked_up_inline_is_micros() -> None:
    """The rows' inline form, ``_MICROS_KEPT(t) or micros(t)``: the same number, a kept 0
    (the epoch) included."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for at in [NOW, NOW, epoch, epoch, NOW + timedelta(days=1), datetime(1, 1, 1, tzinfo=UTC)]:
        assert (order_rows._MICROS_KEPT(at) or micros(at)) == to_us(at)
