"""The request body sent to the partner, and the records it is built from."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from rampwire.authorization import Operation, OrderSummary, Subject, encode_request
from rampwire.domain.money import Crypto, Money
from rampwire.domain.orders import Order, OrderData, OrderStatus, Provider, References, Side

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def test_body_without_order() -> None:
    body = encode_request(
        request_id="azr_1",
        operation=Operation.READ,
        subject=Subject(reference="cus_7"),
        order=None,
    )
    assert orjson.loads(body) == {
        "request_id": "azr_1",
        "operation": "read",
        "email": None,
        "user_reference": "cus_7",
        "order": None,
    }


def test_money_travels_as_decimal_strings() -> None:
    order = OrderSummary(
        side=Side.SELL,
        order_id="ord_1",
        fiat=Money(currency="EUR", amount=Decimal("0.10")),
        crypto=Crypto(asset="BTC", network="bitcoin", amount=Decimal("1E-8")),
    )
    body = encode_request(
        request_id="azr_1", operation=Operation.SELL, subject=Subject(email="a@b.c"), order=order
    )
    summary = orjson.loads(body)["order"]
    assert summary["fiat"] == {"currency": "EUR", "amount": "0.10"}
    assert summary["crypto"] == {"asset": "BTC", "network": "bitcoin", "amount": "0.00000001"}


def test_body_is_compact_utf8() -> None:
    body = encode_request(
        request_id="azr_1",
        operation=Operation.BUY,
        subject=Subject(email="josé@example.cl"),
        order=None,
    )
    assert "josé".encode() in body
    assert b", " not in body and b": " not in body


def _order_data(**changes: Any) -> OrderData:
    fields: dict[str, Any] = {
        "side": Side.BUY,
        "provider": Provider.KOYWE,
        "provider_order_id": "k-1",
        "fiat": Money(currency="CLP", amount=Decimal("100000")),
        "crypto": Crypto(asset="USDC", network="POLYGON", amount=Decimal("105.20")),
        "wallet_address": "0xabc",
        "references": References(user_email="ana@example.com", partner_customer_id="cus_42"),
        **changes,
    }
    return OrderData(**fields)


def test_summary_of_order_data_has_no_id() -> None:
    summary = OrderSummary.from_order(_order_data())
    assert summary == OrderSummary(
        side=Side.BUY,
        provider=Provider.KOYWE,
        fiat=Money(currency="CLP", amount=Decimal("100000")),
        crypto=Crypto(asset="USDC", network="POLYGON", amount=Decimal("105.20")),
        wallet_address="0xabc",
    )


def test_summary_of_an_order_has_its_id() -> None:
    data = _order_data()
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    order = Order(
        **fields,
        id="ord_01HZZZZZZZZZZZZZZZZZZZZZZZ",
        status=OrderStatus.CREATED,
        version=1,
        created_at=T0,
        updated_at=T0,
    )
    assert OrderSummary.from_order(order).order_id == "ord_01HZZZZZZZZZZZZZZZZZZZZZZZ"


def test_subject_from_order() -> None:
    assert Subject.from_order(_order_data()) == Subject(email="ana@example.com", reference="cus_42")
    with pytest.raises(ValueError, match="needs an email or a reference"):
        Subject.from_order(_order_data(references=References()))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "needs an email or a reference"),
        ({"email": "not-an-email"}, "email must be an address"),
        ({"email": "a b@c.d"}, "email must be an address"),
        ({"email": "a@b.c\n"}, "email must be an address"),
        ({"email": "a@" + "b" * 300}, "email must be an address"),
        ({"reference": ""}, "reference must be 1 to 256"),
        ({"reference": "  "}, "reference must be 1 to 256"),
        ({"reference": "x\ny"}, "reference must be 1 to 256"),
    ],
)
def test_invalid_subject(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Subject(**fields)


def test_subject_str() -> None:
    assert str(Subject(email="a@b.c", reference="r")) == "a@b.c"
    assert str(Subject(reference="cus_1")) == "ref:cus_1"
