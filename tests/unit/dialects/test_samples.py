"""Sample orders: valid in every dialect, at every status, on every side it has."""

from __future__ import annotations

import pytest

from rampwire.dialects import DIALECTS, DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Side

from .support import NOW, round_trip

CASES = [(name, side) for name, dialect in DIALECTS.items() for side in sorted(dialect.sides)]


@pytest.mark.parametrize(("name", "side"), CASES)
def test_samples_encode_and_decode_cleanly_at_every_status(name: DialectName, side: Side) -> None:
    for status in OrderStatus:
        order = sample_order(name, status, side, now=NOW)
        assert (order.status, order.side, order.updated_at) == (status, side, NOW)
        assert (order.provider is None) == (name is DialectName.STANDARD)
        decoded = round_trip(name, order, status)
        assert decoded.issues == ()
        assert decoded.status is not None


def test_samples_look_like_the_providers() -> None:
    saber = sample_order(DialectName.SABER, OrderStatus.FAILED, Side.BUY, now=NOW)
    assert saber.fiat is not None and saber.fiat.currency == "INR"
    assert saber.failure is not None and saber.failure.provider_code == "ONRAMP_FAILED"
    fireblocks = sample_order(DialectName.FIREBLOCKS, OrderStatus.COMPLETED, Side.BUY, now=NOW)
    assert fireblocks.provider_order_id and fireblocks.provider_order_id.startswith("ramp-")
    assert fireblocks.receipt is not None and fireblocks.receipt.tx_hash
    assert {s.status.value for s in fireblocks.execution_steps} == {"COMPLETED"}
    mismatch = sample_order(DialectName.SABER, OrderStatus.AMOUNT_MISMATCH, Side.BUY, now=NOW)
    assert mismatch.amount_mismatch is not None
