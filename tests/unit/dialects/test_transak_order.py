"""Transak's webhookData: every documented field, exact numbers, one total fee."""

from __future__ import annotations

from decimal import Decimal

import orjson

from rampwire.dialects import transak_order
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
