"""Currency codes and the scale of amounts: the rules an API caller's amounts must meet.

Fiat currencies are ISO 4217 codes (the ``iso4217`` package, which follows the maintenance
agency's list), each with the places its minor unit allows: EUR 2, JPY 0, BHD 3. Crypto assets and
rates allow :data:`CRYPTO_PLACES`. Every amount stays below :data:`MAX_AMOUNT`.

These rules hold where a caller writes an order (:func:`amount_errors`, at the API edge). What a
provider sends is kept as sent within :func:`rampwire.types.parse_decimal`'s bounds, and stored
rows are read with those bounds only, so a row written before a rule existed still loads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Context, Decimal
from functools import cache
from typing import Any

from iso4217 import Currency

from ..types import format_decimal
from .execution import ExecutionDetails, ExecutionStep, Receipt
from .money import Crypto, Fee, FeeAmountType, Money
from .orders import AmountMismatch, Payment

CRYPTO_PLACES = 18  # places after the point: ether's wei, the finest unit in common use
MAX_AMOUNT = Decimal(10) ** 15  # a quadrillion units: no order comes near; a typo does

Problem = tuple[str, str]  # (field, reason)

_CRYPTO = (CRYPTO_PLACES, "a crypto amount")
_EXACT = Context(prec=100)  # normalize() without rounding: amounts have at most 40 digits


@cache
def fiat_places(code: str) -> int:
    """The places an ISO 4217 currency's minor unit allows; ValueError for anything else,
    including codes with no minor unit (XAU, XDR, XXX: not a currency a ramp pays out)."""
    try:
        currency = Currency(code)
    except ValueError:
        raise ValueError(
            f"{code!r} is not an ISO 4217 currency code; write it like EUR, in capitals"
        ) from None
    if currency.exponent is None:
        raise ValueError(f"{code} has no minor unit in ISO 4217: it is not a fiat currency")
    return int(currency.exponent)


def asset_places(code: str | None) -> tuple[int, str]:
    """The places an amount of ``code`` allows, and what allows them: its ISO 4217 minor unit
    when it is a fiat currency, :data:`CRYPTO_PLACES` for anything else."""
    if code is not None:
        try:
            return fiat_places(code), code
        except ValueError:
            pass
    return CRYPTO_PLACES, "a crypto amount"


def amount_errors(values: Mapping[str, Any]) -> list[Problem]:
    """Every amount rule that the order fields in ``values`` (by name, as validated domain
    values: a new order's fields or a change's ``set``) break, as (field, reason)."""
    return list(_order_errors(values))


def _order_errors(values: Mapping[str, Any]) -> Iterator[Problem]:
    fiat = values.get("fiat")
    if isinstance(fiat, Money):
        yield from _money_errors(fiat, "fiat")
    crypto = values.get("crypto")
    if isinstance(crypto, Crypto) and crypto.amount is not None:
        yield from _amount_errors(crypto.amount, "crypto.amount", *_CRYPTO)
    rate = values.get("exchange_rate")
    if isinstance(rate, Decimal):
        yield from _amount_errors(rate, "exchange_rate", CRYPTO_PLACES, "a rate")
    for i, fee in enumerate(values.get("fees") or ()):
        yield from _fee_errors(fee, f"fees.{i}")
    payment = values.get("payment")
    if isinstance(payment, Payment) and payment.amount_paid is not None:
        paid_in = asset_places(fiat.currency if isinstance(fiat, Money) else None)
        yield from _amount_errors(payment.amount_paid, "payment.amount_paid", *paid_in)
    mismatch = values.get("amount_mismatch")
    if isinstance(mismatch, AmountMismatch):
        places = asset_places(mismatch.currency)
        for name in ("received", "expected"):
            amount = getattr(mismatch, name)
            if amount is not None:
                yield from _amount_errors(amount, f"amount_mismatch.{name}", *places)
    execution = values.get("execution")
    if isinstance(execution, ExecutionDetails):
        for name in ("base_amount", "quote_amount"):
            amount = getattr(execution, name)
            if amount is not None:
                yield from _amount_errors(amount, f"execution.{name}", *_CRYPTO)
    for i, step in enumerate(values.get("execution_steps") or ()):
        if isinstance(step, ExecutionStep) and step.fee is not None:
            yield from _fee_errors(step.fee, f"execution_steps.{i}.fee")
    receipt = values.get("receipt")
    if isinstance(receipt, Receipt):
        yield from _amount_errors(receipt.amount, "receipt.amount", *_CRYPTO)


def _money_errors(money: Money, where: str) -> Iterator[Problem]:
    try:
        places = fiat_places(money.currency)
    except ValueError as exc:
        yield f"{where}.currency", str(exc)
        return
    if money.amount is not None:
        yield from _amount_errors(money.amount, f"{where}.amount", places, money.currency)


def _fee_errors(fee: Fee, where: str) -> Iterator[Problem]:
    if fee.amount_type is FeeAmountType.BPS:  # its range is checked where the fee is built
        yield from _places_errors(fee.amount, f"{where}.amount", CRYPTO_PLACES, "basis points")
        return
    yield from _amount_errors(fee.amount, f"{where}.amount", *asset_places(fee.asset), signed=True)


def _amount_errors(
    amount: Decimal, where: str, places: int, unit: str, *, signed: bool = False
) -> Iterator[Problem]:
    """``signed``: a negative amount means something (a fee's rebate); elsewhere it does not."""
    if amount < 0 and not signed:
        yield where, "must not be negative"
    elif abs(amount) >= MAX_AMOUNT:
        yield where, f"must be below {format_decimal(MAX_AMOUNT)}"
    else:
        yield from _places_errors(amount, where, places, unit)


def _places_errors(amount: Decimal, where: str, places: int, unit: str) -> Iterator[Problem]:
    """Trailing zeros do not count: ``"10.500"`` euros are ten and a half."""
    exponent = amount.normalize(_EXACT).as_tuple().exponent
    given = max(-exponent, 0) if isinstance(exponent, int) else 0
    if given > places:
        yield where, f"has {given} significant digits after the point; {unit} allows {places}"
