"""Saber's four payload shapes and the canonical order, both ways.

- ``CRYPTO_BUY`` (on-ramp): the seed's snake_case order with ``status``.
- ``SELL`` (off-ramp): ``transaction_status``, ``transaction_id``, ``transfer_type``,
  ``bank_reference_id``, ``usd_amount``, ``fiat_amount``, ``invested_at``.
- ``deposit`` / ``withdraw`` (off-ramp crypto in / out): ``transaction_type``, ``status``,
  ``amount``, ``usd_value``, ``created_at``, ``updated_at``, ``txn_hash``; rampwire adds ``id``,
  ``crypto_symbol`` and ``network`` [I], which the seed elides (``...``), to tie them to an order.

Amounts and rates are decimal strings with 8 places (USD values with 2), written with more only
when 8 would lose digits; times are epoch milliseconds. Saber is an INR ramp: a SELL's fiat
amount is in INR.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from ..domain.orders import FailureReason, Order, OrderStatus, Provider
from .base import wire_order_id
from .wire import fixed_places, to_ms

FIAT_CURRENCY: Final = "INR"
USD_STABLECOINS: Final = frozenset({"USDT", "USDC"})  # whose amount is also a USD value
ONRAMP_FAILED: Final = "ONRAMP_FAILED"

CRYPTO_BUY, SELL, DEPOSIT, WITHDRAW = "CRYPTO_BUY", "SELL", "deposit", "withdraw"
MISMATCH_STATUSES = frozenset({"ONRAMP_INCONSISTENT", "REFUND_COMPLETED"})
"""Statuses whose amounts are those of the payment found, not the order's."""

_REASON_OF_CODE = {ONRAMP_FAILED: FailureReason.PAYMENT_NOT_RECEIVED}
_CODE_OF_REASON = {reason: code for code, reason in _REASON_OF_CODE.items()}


def amount8(value: Decimal | None) -> str | None:
    return None if value is None else fixed_places(value, 8)


def _usd(order: Order) -> str | None:
    crypto = order.crypto
    if crypto is None or crypto.amount is None or crypto.asset not in USD_STABLECOINS:
        return None
    return fixed_places(crypto.amount, 2)


def crypto_buy(order: Order, status: str) -> dict[str, Any]:
    fiat, crypto, payment, failure = order.fiat, order.crypto, order.payment, order.failure
    fiat_amount = fiat.amount if fiat else None
    if status in MISMATCH_STATUSES and order.amount_mismatch is not None:
        fiat_amount = order.amount_mismatch.received
    failure_code = None
    if failure is not None:
        failure_code = failure.provider_code or _CODE_OF_REASON.get(
            failure.reason, failure.reason.value.upper()
        )
    elif status == "FAILED":
        failure_code = ONRAMP_FAILED  # Saber always names one
    body: dict[str, Any] = {
        "id": wire_order_id(order, Provider.SABER),
        "user_id": order.references.user_id,
        "source_id": order.references.source_id,
        "tag": order.wallet_tag,
        "network": crypto.network if crypto else None,
        "crypto_symbol": crypto.asset if crypto else None,
        "crypto_amount": amount8(crypto.amount if crypto else None),
        "fiat_symbol": fiat.currency if fiat else None,
        "fiat_amount": amount8(fiat_amount),
        "exchange_rate": amount8(order.exchange_rate),
        "payment_method": payment.method if payment else None,
        "crypto_wallet_address": order.wallet_address,
        "failure_code": failure_code,
        "failure_desc": failure.description if failure else None,
        "created_at": to_ms(order.created_at),
        "status": status,
        "event": CRYPTO_BUY,
    }
    bank_transaction_id = payment.bank_transaction_id if payment else None
    if bank_transaction_id is not None:  # the seed shows it from ONRAMP_COMPLETED on
        body["bank_transaction_id"] = bank_transaction_id
    if order.transaction_hash is not None:  # the seed shows it on COMPLETED
        body["txn_hash"] = order.transaction_hash
    return body


def sell(order: Order, status: str) -> dict[str, Any]:
    payment = order.payment
    return {
        "event": SELL,
        "transaction_status": status,
        "transaction_id": wire_order_id(order, Provider.SABER),
        "transfer_type": payment.method if payment else None,
        "bank_reference_id": payment.bank_reference_id if payment else None,
        "usd_amount": _usd(order),
        "fiat_amount": amount8(order.fiat.amount if order.fiat else None),
        "invested_at": order.created_at.strftime("%Y-%m-%dT%H:%M:%S"),  # Saber's zone-less form
    }


def transfer(order: Order, event: str, status: str, *, updated_at_ms: int) -> dict[str, Any]:
    """A ``deposit`` (the user's crypto arrives) or a ``withdraw`` (crypto leaves)."""
    crypto = order.crypto
    return {
        "transaction_type": event.upper(),
        "status": status,
        "event": event,
        "id": wire_order_id(order, Provider.SABER),
        "crypto_symbol": crypto.asset if crypto else None,
        "network": crypto.network if crypto else None,
        "amount": amount8(crypto.amount if crypto else None),
        "usd_value": _usd(order),
        "created_at": to_ms(order.created_at),
        "updated_at": updated_at_ms,
        "txn_hash": order.transaction_hash,
    }


def _compact(**values: Any) -> dict[str, Any] | None:
    kept = {key: value for key, value in values.items() if value is not None}
    return kept or None


def buy_patch(raw: dict[str, Any], status: str) -> dict[str, Any]:
    """Canonical values (unvalidated) from a CRYPTO_BUY payload."""
    get = raw.get
    code = get("failure_code")
    failure = None
    if code is not None:
        reason = _REASON_OF_CODE.get(code) if isinstance(code, str) else None
        if reason is None and isinstance(code, str) and code.lower() in set(FailureReason):
            reason = FailureReason(code.lower())
        failure = {
            "reason": reason or FailureReason.UNKNOWN_REASON,
            "description": get("failure_desc"),
            "provider_code": code,
        }
    patch: dict[str, Any] = {
        "wallet_address": get("crypto_wallet_address"),
        "wallet_tag": get("tag"),
        "exchange_rate": get("exchange_rate"),
        "payment": _compact(
            method=get("payment_method"), bank_transaction_id=get("bank_transaction_id")
        ),
        "references": _compact(user_id=get("user_id"), source_id=get("source_id")),
        "transaction_hash": get("txn_hash"),
        "failure": failure,
    }
    if status == "ONRAMP_INCONSISTENT":
        patch["amount_mismatch"] = _compact(
            received=get("fiat_amount"),
            currency=get("fiat_symbol"),
            bank_transaction_id=get("bank_transaction_id"),
        )
    if status not in MISMATCH_STATUSES:
        if get("fiat_symbol") is not None:
            patch["fiat"] = {"currency": get("fiat_symbol"), "amount": get("fiat_amount")}
        if get("crypto_symbol") is not None:
            patch["crypto"] = {
                "asset": get("crypto_symbol"),
                "network": get("network"),
                "amount": get("crypto_amount"),
            }
    return patch


def sell_patch(raw: dict[str, Any]) -> dict[str, Any]:
    fiat_amount = raw.get("fiat_amount")
    return {
        "fiat": None if fiat_amount is None else {"currency": FIAT_CURRENCY, "amount": fiat_amount},
        "payment": _compact(
            method=raw.get("transfer_type"), bank_reference_id=raw.get("bank_reference_id")
        ),
    }


def deposit_patch(raw: dict[str, Any]) -> dict[str, Any]:
    symbol = raw.get("crypto_symbol")
    return {
        "crypto": (
            None
            if symbol is None
            else {"asset": symbol, "network": raw.get("network"), "amount": raw.get("amount")}
        ),
        "transaction_hash": raw.get("txn_hash"),
    }


BUY_FIELDS = frozenset(
    {
        "fiat",
        "crypto",
        "wallet_address",
        "wallet_tag",
        "exchange_rate",
        "payment",
        "references",
        "transaction_hash",
        "failure",
    }
)


def buy_fields(status: OrderStatus) -> frozenset[str]:
    if status is OrderStatus.AMOUNT_MISMATCH:
        return (BUY_FIELDS - {"fiat", "crypto"}) | {"amount_mismatch"}
    if status is OrderStatus.REFUNDED:
        return BUY_FIELDS - {"fiat", "crypto"}
    return BUY_FIELDS
