"""Transak's webhookData: every documented field, exact numbers, one total fee."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.dialects import transak_order
from rampwire.dialects.wire import compact
from rampwire.domain.money import Fee, FeeAmountType, FeeType, Money
from rampwire.domain.orders import OrderStatus, Provider, Side

from .strategies import plain_order

DOCUMENTED = [
    "id",
    "walletAddress",
    "createdAt",
    "status",
    "fiatCurrency",
    "cryptoCurrency",
    "isBuyOrSell",
    "fiatAmount",
    "amountPaid",
    "cryptoAmount",
    "conversionPrice",
    "totalFeeInFiat",
    "network",
    "paymentOptionId",
    "partnerOrderId",
    "partnerCustomerId",
    "quoteId",
    "transactionHash",
    "transactionLink",
    "autoExpiresAt",
]


def test_every_documented_field_is_present() -> None:
    order = plain_order(Side.SELL, OrderStatus.CREATED, Provider.TRANSAK)
    data = transak_order.webhook_data(order, "AWAITING_PAYMENT_FROM_USER")
    assert list(data) == DOCUMENTED
    assert (data["id"], data["isBuyOrSell"], data["createdAt"]) == (
        "po-sell",
        "SELL",
        "2024-01-15T10:25:00.123Z",
    )


def test_the_total_fee_is_the_total_or_the_fiat_fixed_fees() -> None:
    fiat = Money(currency="EUR", amount=Decimal(100))
    fees = (
        Fee(type=FeeType.ORDER, amount=Decimal("1.50"), asset="EUR"),
        Fee(type=FeeType.NETWORK, amount=Decimal("0.25")),
        Fee(type=FeeType.NETWORK, amount=Decimal("0.001"), asset="ETH"),
        Fee(type=FeeType.SPREAD, amount=Decimal(50), amount_type=FeeAmountType.BPS),
    )
    order = plain_order(Side.BUY, OrderStatus.CREATED, Provider.TRANSAK, fiat=fiat, fees=fees)
    assert transak_order.total_fee(order) == Decimal("1.75")
    total = order.evolve(fees=(*fees, Fee(type=FeeType.TOTAL, amount=Decimal(9), asset="EUR")))
    assert transak_order.total_fee(total) == Decimal(9)
    assert transak_order.total_fee(order.evolve(fees=())) is None


def test_amounts_are_exact_json_numbers() -> None:
    order = plain_order(
        Side.BUY,
        OrderStatus.CREATED,
        Provider.TRANSAK,
        fiat=Money(currency="EUR", amount=Decimal("0.30")),
        exchange_rate=Decimal("3150.1200"),
    )
    body = orjson.dumps(transak_order.webhook_data(order, "X"))
    assert b'"fiatAmount":0.30,' in body and b'"conversionPrice":3150.1200,' in body


def _order_patch_with_compact(data: dict[str, Any]) -> dict[str, Any]:
    """order_patch as it was written with wire.compact, which it now spells out."""
    fiat_currency, crypto_currency = data.get("fiatCurrency"), data.get("cryptoCurrency")
    fee = data.get("totalFeeInFiat")
    payment = compact(
        [("option_id", data.get("paymentOptionId")), ("amount_paid", data.get("amountPaid"))]
    )
    references = compact(
        [
            ("partner_order_id", data.get("partnerOrderId")),
            ("partner_customer_id", data.get("partnerCustomerId")),
            ("quote_id", data.get("quoteId")),
        ]
    )
    return {
        "fiat": None
        if fiat_currency is None
        else {"currency": fiat_currency, "amount": data.get("fiatAmount")},
        "crypto": None
        if crypto_currency is None
        else {
            "asset": crypto_currency,
            "network": data.get("network"),
            "amount": data.get("cryptoAmount"),
        },
        "wallet_address": data.get("walletAddress"),
        "exchange_rate": data.get("conversionPrice"),
        "fees": None if fee is None else [{"type": "total", "amount": fee, "asset": fiat_currency}],
        "payment": payment or None,
        "references": references or None,
        "transaction_hash": data.get("transactionHash"),
        "transaction_link": data.get("transactionLink"),
        "expires_at": data.get("autoExpiresAt"),
    }


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(DOCUMENTED),
        st.none() | st.text(max_size=4) | st.integers() | st.decimals(allow_nan=False),
    )
)
def test_order_patch_is_what_compact_made(data: dict[str, Any]) -> None:
    patch = transak_order.order_patch(data)
    expected = _order_patch_with_compact(data)
    assert patch == expected
    assert list(patch) == list(expected)
    for name in ("payment", "references"):
        if patch[name] is not None:
            assert list(patch[name]) == list(expected[name])
