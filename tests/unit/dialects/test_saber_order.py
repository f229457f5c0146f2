"""Saber's payload shapes: amounts with 8 places, the payment found, failure codes."""

from __future__ import annotations

from decimal import Decimal

from rampwire.dialects import saber_order as shapes
from rampwire.domain.money import Crypto, Money
from rampwire.domain.orders import (
    AmountMismatch,
    Failure,
    FailureReason,
    OrderStatus,
    Provider,
    Side,
)

from .strategies import plain_order

S = OrderStatus


def test_amounts_have_eight_places_unless_that_would_lose_digits() -> None:
    assert shapes.amount8(Decimal("850")) == "850.00000000"
    assert shapes.amount8(Decimal("0.000000001")) == "0.000000001"
    assert shapes.amount8(None) is None


def test_an_inconsistent_payment_reports_the_amount_found() -> None:
    order = plain_order(
        Side.BUY,
        S.AMOUNT_MISMATCH,
        Provider.SABER,
        fiat=Money(currency="INR", amount=Decimal("850")),
        amount_mismatch=AmountMismatch(received=Decimal("49"), currency="INR"),
    )
    assert shapes.crypto_buy(order, "ONRAMP_INCONSISTENT")["fiat_amount"] == "49.00000000"
    assert shapes.crypto_buy(order, "ONRAMP_INITIATED")["fiat_amount"] == "850.00000000"


def test_failure_codes_keep_the_providers_code_or_name_the_reason() -> None:
    with_code = plain_order(
        Side.BUY,
        S.FAILED,
        Provider.SABER,
        failure=Failure(reason=FailureReason.UNKNOWN_REASON, provider_code="BANK_DOWN"),
    )
    assert shapes.crypto_buy(with_code, "FAILED")["failure_code"] == "BANK_DOWN"
    not_received = plain_order(
        Side.BUY,
        S.FAILED,
        Provider.SABER,
        failure=Failure(reason=FailureReason.PAYMENT_NOT_RECEIVED),
    )
    assert shapes.crypto_buy(not_received, "FAILED")["failure_code"] == "ONRAMP_FAILED"
    declined = plain_order(
        Side.BUY, S.FAILED, Provider.SABER, failure=Failure(reason=FailureReason.PAYMENT_DECLINED)
    )
    assert shapes.crypto_buy(declined, "FAILED")["failure_code"] == "PAYMENT_DECLINED"
    assert (
        shapes.crypto_buy(plain_order(Side.BUY, S.FAILED, Provider.SABER), "FAILED")["failure_code"]
        == "ONRAMP_FAILED"
    )
    patch = shapes.buy_patch({"failure_code": "BANK_DOWN", "failure_desc": "d"}, "FAILED")
    assert patch["failure"]["reason"] is FailureReason.UNKNOWN_REASON


def test_usd_values_are_given_for_dollar_stablecoins_only() -> None:
    usdt = plain_order(
        Side.SELL, S.COMPLETED, Provider.SABER, crypto=Crypto(asset="USDT", amount=Decimal("10"))
    )
    btc = plain_order(
        Side.SELL, S.COMPLETED, Provider.SABER, crypto=Crypto(asset="BTC", amount=Decimal("1"))
    )
    assert shapes.sell(usdt, "COMPLETED")["usd_amount"] == "10.00"
    assert shapes.sell(btc, "COMPLETED")["usd_amount"] is None
    assert shapes.sell(btc, "COMPLETED")["invested_at"] == "2024-01-15T10:25:00"


def test_a_withdraw_has_the_deposit_shape() -> None:
    order = plain_order(Side.SELL, S.REFUNDED, Provider.SABER)
    body = shapes.transfer(order, shapes.WITHDRAW, "COMPLETED", updated_at_ms=5)
    assert (body["transaction_type"], body["event"], body["updated_at"]) == (
        "WITHDRAW",
        "withdraw",
        5,
    )
