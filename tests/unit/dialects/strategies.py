"""Hypothesis strategies: orders whose contents each dialect can carry without loss.

:func:`record` builds any domain record from its type hints (every optional field sometimes set,
sometimes not), which is how the ten payment-instruction types, steps, receipts and settlements
of Fireblocks get exercised without a hand-written strategy per type.
"""

from __future__ import annotations

import dataclasses
import string
import types
import typing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from hypothesis import strategies as st

from rampwire.domain import payments
from rampwire.domain.execution import (
    AccountReference,
    AccountType,
    ExecutionDetails,
    ExecutionStep,
    ExecutionType,
    Receipt,
    ReceiptType,
    Settlement,
    SourceAccount,
    TradeSide,
    Via,
)
from rampwire.domain.money import Crypto, Fee, FeeAmountType, FeeType, Money
from rampwire.domain.orders import (
    AmountMismatch,
    Failure,
    FailureReason,
    Order,
    OrderStatus,
    Payment,
    Provider,
    References,
    Side,
)

from .support import NOW

# any text JSON can carry: every code point but unpaired surrogates
texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
ids = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=24)
codes = st.text(string.ascii_uppercase, min_size=3, max_size=6)
amounts = st.decimals(min_value=0, max_value=10**12, places=8, allow_nan=False)
rates = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False)
times = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))  # wire times carry ms
statuses = st.sampled_from(list(OrderStatus))

FIREBLOCKS_REASONS = list(FailureReason)[:17]


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _for_hint(hint: Any) -> st.SearchStrategy[Any]:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    options = typing.get_args(hint) if union else (hint,)
    present = [o for o in options if o is not type(None)]
    inner = present[0]
    if typing.get_origin(inner) is typing.Annotated:
        base = typing.get_args(inner)[0]
        inner = Decimal if base is Decimal else base
    if typing.get_origin(inner) is typing.Literal:
        strategy: st.SearchStrategy[Any] = st.sampled_from(typing.get_args(inner))
    elif isinstance(inner, type) and issubclass(inner, Enum):
        strategy = st.sampled_from(list(inner))
    elif inner is Decimal:
        strategy = amounts
    elif inner is datetime:
        strategy = times
    elif inner is bool:
        strategy = st.booleans()
    elif inner is dict or typing.get_origin(inner) is dict:
        strategy = st.dictionaries(ids, texts, max_size=2)
    elif isinstance(inner, type) and dataclasses.is_dataclass(inner):
        strategy = record(inner)
    else:
        strategy = texts
    return optional(strategy) if len(present) < len(options) else strategy


def _build(cls: type[Any], values: dict[str, Any]) -> Any:
    try:
        return cls(**values)
    except ValueError:
        return None


def record(cls: type[Any], **overrides: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Any valid ``cls`` record: each field from its type hint unless overridden."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {
        f.name: overrides[f.name] if f.name in overrides else _for_hint(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.init
    }
    return (
        st.fixed_dictionaries(fields)
        .map(lambda values: _build(cls, values))
        .filter(lambda built: built is not None)
    )


def plain_order(side: Side, status: OrderStatus, provider: Provider | None, **fields: Any) -> Order:
    """An order with fixed identity and times and the given fields."""
    return Order(
        id="ord_01HMB3K2Y5Z7QF0000000000AB",
        side=side,
        provider=provider,
        provider_order_id=None if provider is None else "po-" + side.value,
        status=status,
        version=3,
        created_at=NOW - timedelta(minutes=5),
        updated_at=NOW,
        **fields,
    )


def orders(
    provider: Provider | None, side: Side, status: OrderStatus, **fields: st.SearchStrategy[Any]
) -> st.SearchStrategy[Order]:
    return st.fixed_dictionaries(fields).map(
        lambda values: plain_order(side, status, provider, **values)
    )


# --- per dialect: contents each format carries -----------------------------------------------


def revolut(side: Side, status: OrderStatus) -> st.SearchStrategy[Order]:
    return orders(Provider.REVOLUT, side, status, wallet_address=optional(ids))


def koywe(side: Side, status: OrderStatus) -> st.SearchStrategy[Order]:
    return orders(Provider.KOYWE, side, status, wallet_address=optional(texts))


def transak(side: Side, status: OrderStatus) -> st.SearchStrategy[Order]:
    def build(values: dict[str, Any]) -> Order:
        fiat = values.pop("fiat")
        fee = values.pop("fee")
        fees = (
            ()
            if fee is None
            else (Fee(type=FeeType.TOTAL, amount=fee, asset=fiat.currency if fiat else None),)
        )
        return plain_order(side, status, Provider.TRANSAK, fiat=fiat, fees=fees, **values)

    return st.fixed_dictionaries(
        {
            "fiat": optional(st.builds(Money, currency=codes, amount=optional(amounts))),
            "crypto": optional(
                st.builds(Crypto, asset=codes, network=optional(ids), amount=optional(amounts))
            ),
            "wallet_address": optional(ids),
            "exchange_rate": optional(rates),
            "fee": optional(amounts),
            "payment": optional(st.builds(Payment, option_id=ids, amount_paid=optional(amounts))),
            "references": st.builds(
                References,
                partner_order_id=optional(texts),
                partner_customer_id=optional(texts),
                quote_id=optional(ids),
            ),
            "transaction_hash": optional(ids),
            "transaction_link": optional(texts),
            "expires_at": optional(times),
        }
    ).map(build)


def saber(side: Side, status: OrderStatus) -> st.SearchStrategy[Order]:
    if side is Side.SELL:
        return orders(
            Provider.SABER,
            side,
            status,
            fiat=optional(st.builds(Money, currency=st.just("INR"), amount=amounts)),
            crypto=optional(st.builds(Crypto, asset=codes, network=optional(ids), amount=amounts)),
            payment=optional(st.builds(Payment, method=ids, bank_reference_id=optional(ids))),
            transaction_hash=optional(ids),
        )

    def build(values: dict[str, Any]) -> Order:
        fiat, payment = values["fiat"], values["payment"]
        if status is OrderStatus.AMOUNT_MISMATCH:
            values["amount_mismatch"] = AmountMismatch(
                received=values.pop("received"),
                currency=fiat.currency if fiat else None,
                bank_transaction_id=payment.bank_transaction_id if payment else None,
            )
        else:
            values.pop("received")
        return plain_order(side, status, Provider.SABER, **values)

    failures = st.builds(
        Failure,
        reason=st.just(FailureReason.PAYMENT_NOT_RECEIVED),
        description=optional(texts),
        provider_code=st.just("ONRAMP_FAILED"),
    ) | st.sampled_from(list(FailureReason)).map(
        lambda r: Failure(reason=r, provider_code=r.value.upper())
    )
    return st.fixed_dictionaries(
        {
            "fiat": optional(st.builds(Money, currency=codes, amount=optional(amounts))),
            "crypto": optional(
                st.builds(Crypto, asset=codes, network=optional(ids), amount=optional(amounts))
            ),
            "wallet_address": optional(ids),
            "wallet_tag": optional(ids),
            "exchange_rate": optional(amounts),
            "payment": optional(st.builds(Payment, method=ids, bank_transaction_id=optional(ids))),
            "references": st.builds(References, user_id=optional(ids), source_id=optional(ids)),
            "transaction_hash": optional(ids),
            "failure": optional(failures),
            "received": amounts,
        }
    ).map(build)


def _fireblocks_fee() -> st.SearchStrategy[Fee]:
    fixed = st.builds(
        Fee,
        type=st.sampled_from([FeeType.ORDER, FeeType.NETWORK, FeeType.SPREAD, FeeType.REBATE]),
        amount=amounts,
        asset=optional(codes),
        amount_type=st.just(FeeAmountType.FIXED),
    )
    bps = st.builds(
        Fee,
        type=st.sampled_from([FeeType.ORDER, FeeType.NETWORK]),
        amount=st.decimals(min_value=-10_000, max_value=10_000, places=2),
        asset=optional(codes),
        amount_type=st.just(FeeAmountType.BPS),
    )
    return fixed | bps


def fireblocks(side: Side, status: OrderStatus) -> st.SearchStrategy[Order]:
    buy = side is Side.BUY

    def build(values: dict[str, Any]) -> Order:
        fiat_code, crypto_code = values.pop("fiat_code"), values.pop("crypto_code")
        base_amount, quote_amount = values.pop("base_amount"), values.pop("quote_amount")
        execution = ExecutionDetails(
            type=values.pop("execution_type"),
            side=TradeSide.BUY if buy else TradeSide.SELL,
            base_amount=base_amount,
            quote_amount=quote_amount,
            base_asset_id=fiat_code if buy else crypto_code,
            quote_asset_id=crypto_code if buy else fiat_code,
            quote_id=values.pop("quote_id"),
            requote=values.pop("requote"),
            base_asset_rail="FIAT" if buy else "BLOCKCHAIN",
            quote_asset_rail="BLOCKCHAIN" if buy else "FIAT",
        )
        fiat_amount, crypto_amount = (
            (base_amount, quote_amount) if buy else (quote_amount, base_amount)
        )
        return plain_order(
            side,
            status,
            Provider.FIREBLOCKS,
            execution=execution,
            fiat=Money(currency=fiat_code, amount=fiat_amount),
            crypto=Crypto(asset=crypto_code, amount=crypto_amount),
            **values,
        )

    instructions = st.one_of(
        *(record(cls) for cls in typing.get_args(typing.get_args(payments.PaymentInstructions)[0]))
    )
    return st.fixed_dictionaries(
        {
            "fiat_code": codes,
            "crypto_code": codes,
            "base_amount": amounts,
            "quote_amount": optional(amounts),
            "execution_type": st.sampled_from(list(ExecutionType)),
            "quote_id": ids,
            "requote": st.booleans(),
            "execution_steps": st.lists(
                record(ExecutionStep, fee=optional(_fireblocks_fee())), max_size=3
            ).map(tuple),
            "payment": optional(st.builds(Payment, instructions=instructions)),
            "receipt": optional(
                record(Receipt, type=st.sampled_from(list(ReceiptType)), tx_hash=ids)
            ),
            "settlement": optional(
                record(
                    Settlement,
                    destination_account=record(
                        AccountReference,
                        type=st.sampled_from(list(AccountType)),
                        account_id=ids,
                        address=ids,
                    ),
                    source_account=optional(record(SourceAccount)),
                )
            ),
            "via": optional(record(Via)),
            "references": st.builds(
                References,
                customer_internal_reference_id=optional(texts),
                created_by=optional(ids),
            ),
            "note": optional(texts),
            "expires_at": optional(times),
            "failure": optional(
                st.builds(
                    Failure,
                    reason=st.sampled_from(FIREBLOCKS_REASONS),
                    info=st.dictionaries(ids, texts, max_size=2),
                )
            ),
            "fees": st.lists(_fireblocks_fee(), max_size=3).map(tuple),
        }
    ).map(build)


def standard(side: Side, status: OrderStatus) -> st.SearchStrategy[Order]:
    """Anything at all: the standard format carries the whole order."""
    return fireblocks(side, status).flatmap(
        lambda order: st.fixed_dictionaries(
            {
                "wallet_address": optional(texts),
                "wallet_tag": optional(texts),
                "exchange_rate": optional(rates),
                "transaction_hash": optional(ids),
                "transaction_link": optional(texts),
                "amount_mismatch": optional(record(AmountMismatch)),
                "references": record(References),
                "metadata": st.dictionaries(ids, texts, max_size=3),
                "failure": optional(record(Failure)),
            }
        ).map(lambda extra: order.evolve(provider=None, provider_order_id=None, **extra))
    )


STRATEGIES = {
    "standard": standard,
    "revolut": revolut,
    "saber": saber,
    "fireblocks": fireblocks,
    "koywe": koywe,
    "transak": transak,
}


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str)
    | st.text(st.characters(codec="utf-8"), max_size=6)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
"""Arbitrary JSON-ready values (for bodies that are authentic but make no sense)."""
