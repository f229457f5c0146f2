"""Transak's ``webhookData`` order and the canonical order, both ways.

Amounts are JSON numbers on Transak's wire: written exactly from Decimal (never through a float)
and read back as Decimal. Transak reports one fee, ``totalFeeInFiat``: it becomes a single
``total`` fee in the fiat currency, and is written from a ``total`` fee, or else the sum of the
fixed fees charged in the fiat currency.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from ..domain.money import FeeAmountType, FeeType
from ..domain.orders import Order, Provider, Side
from .base import wire_order_id
from .wire import iso_ms, number

SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_TOTAL = FeeType.TOTAL.value


def _number(value: Decimal | None) -> orjson.Fragment | None:
    return None if value is None else number(value)


def total_fee(order: Order) -> Decimal | None:
    """The fee Transak would report: a ``total`` fee, else the fiat-denominated fixed fees."""
    for fee in order.fees:
        if fee.type is FeeType.TOTAL:
            return fee.amount
    currency = order.fiat.currency if order.fiat else None
    fixed = [
        fee.amount
        for fee in order.fees
        if fee.amount_type is FeeAmountType.FIXED and fee.asset in (None, currency)
    ]
    return sum(fixed, Decimal(0)) if fixed else None


def webhook_data(order: Order, status: str) -> dict[str, Any]:
    """``webhookData`` for an order, every documented field present (null when unknown)."""
    fiat, crypto, payment, refs = order.fiat, order.crypto, order.payment, order.references
    return {
        "id": wire_order_id(order, Provider.TRANSAK),
        "walletAddress": order.wallet_address,
        "createdAt": iso_ms(order.created_at),
        "status": status,
        "fiatCurrency": fiat.currency if fiat else None,
        "cryptoCurrency": crypto.asset if crypto else None,
        "isBuyOrSell": "BUY" if order.side is Side.BUY else "SELL",
        "fiatAmount": _number(fiat.amount if fiat else None),
        "amountPaid": _number(payment.amount_paid if payment else None),
        "cryptoAmount": _number(crypto.amount if crypto else None),
        "conversionPrice": _number(order.exchange_rate),
        "totalFeeInFiat": _number(total_fee(order)),
        "network": crypto.network if crypto else None,
        "paymentOptionId": payment.option_id if payment else None,
        "partnerOrderId": refs.partner_order_id,
        "partnerCustomerId": refs.partner_customer_id,
        "quoteId": refs.quote_id,
        "transactionHash": order.transaction_hash,
        "transactionLink": order.transaction_link,
        "autoExpiresAt": iso_ms(order.expires_at) if order.expires_at else None,
    }


def order_patch(data: dict[str, Any]) -> dict[str, Any]:
    """Canonical field values (unvalidated) from ``webhookData``; a field that does not validate
    is left out of the patch and reported, not fatal (``base.build_patch``)."""
    get = data.get
    fiat_currency = get("fiatCurrency")
    crypto_currency = get("cryptoCurrency")
    fee = get("totalFeeInFiat")
    # wire.compact's dicts, written out: no function and comprehension of its own per request
    payment = {}
    if (option_id := get("paymentOptionId")) is not None:
        payment["option_id"] = option_id
    if (amount_paid := get("amountPaid")) is not None:
        payment["amount_paid"] = amount_paid
    references = {}
    if (partner_order_id := get("partnerOrderId")) is not None:
        references["partner_order_id"] = partner_order_id
    if (partner_customer_id := get("partnerCustomerId")) is not None:
        references["partner_customer_id"] = partner_customer_id
    if (quote_id := get("quoteId")) is not None:
        references["quote_id"] = quote_id
    return {
        "fiat": (
            None
            if fiat_currency is None
            else {"currency": fiat_currency, "amount": get("fiatAmount")}
        ),
        "crypto": (
            None
            if crypto_currency is None
            else {
                "asset": crypto_currency,
                "network": get("network"),
                "amount": get("cryptoAmount"),
            }
        ),
        "wallet_address": get("walletAddress"),
        "exchange_rate": get("conversionPrice"),
        "fees": (
            None if fee is None else [{"type": _TOTAL, "amount": fee, "asset": fiat_currency}]
        ),
        "payment": payment or None,
        "references": references or None,
        "transaction_hash": get("transactionHash"),
        "transaction_link": get("transactionLink"),
        "expires_at": get("autoExpiresAt"),
    }
