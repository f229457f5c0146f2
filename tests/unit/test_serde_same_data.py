"""``serde.evolved``'s field lists against the order's: each data field is compared by
identity, and the order's own fields are written in the order pydantic writes them."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime

import pytest

from rampwire.domain import serde
from rampwire.domain.orders import DATA_FIELDS, Order, OrderStatus

NOW = datetime(2026, 12, 7, 6, 0, 0, 123456, tzinfo=UTC)


def _order() -> Order:
    return serde.load(
        Order,
        {
            "side": "buy",
            "provider": "transak",
            "provider_order_id": "tx-1",
            "fiat": {"currency": "EUR", "amount": "100.00"},
            "crypto": {"asset": "USDT", "network": "polygon", "amount": "98.12"},
            "exchange_rate": "0.98",
            "fees": [{"type": "total", "amount": "1.50", "asset": "EUR"}],
            "payment": {"option_id": "sepa", "amount_paid": "100.00"},
            "references": {"partner_order_id": "p1"},
            "expires_at": "2026-12-08T00:00:00Z",
            "metadata": {"k": "v"},
            "id": "ord_01",
            "status": "created",
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
            "partner_id": "ptn_1",
        },
    )


class _Other:
    """Any other object: what matters is that the field is looked at."""


@pytest.mark.parametrize("name", DATA_FIELDS)
def test_each_data_field_is_compared(name: str) -> None:
    order = _order()
    new = copy.copy(order)
    object.__setattr__(new, name, _Other())
    assert not serde._same_data(order, new)
    assert serde._same_data(order, copy.copy(order))


def test_the_own_part_is_pydantics() -> None:
    order = _order()
    assert serde.order_to_json(order).endswith(serde._own_json(order))
    own = [f.name for f in dataclasses.fields(Order)][len(DATA_FIELDS) :]
    assert list(serde.from_json(b"{" + serde._own_json(order)[1:])) == own


def test_a_status_step_reuses_the_data_part() -> None:
    order = _order()
    serde.order_to_json(order)
    new = order.evolve(status=OrderStatus.PROCESSING, version=2, updated_at=NOW)
    serde.evolved(order, new)
    assert id(new) in serde._ORDER_JSON
    assert serde.order_to_json(new) == serde.to_json(serde.dump(new))
