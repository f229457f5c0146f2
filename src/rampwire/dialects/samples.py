"""Realistic orders in each provider's style, at any status: for the trigger and the simulator.

Amounts, assets, ids and payment methods follow each seed (Saber: INR and USDT over UPI;
Fireblocks: a USD/BTC quote with IBAN instructions and execution steps; ...). What depends on the
status is filled in as the lifecycle would have it: transaction hashes once crypto moved, a
failure for failed orders, the payment found for an amount mismatch.
"""

from __future__ import annotations

import random
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..domain.execution import (
    AccountReference,
    AccountType,
    ExecutionDetails,
    ExecutionStep,
    ExecutionType,
    Receipt,
    ReceiptType,
    Settlement,
    SettlementType,
    SourceAccount,
    SourceAccountType,
    StepStatus,
    StepType,
    TradeSide,
    Via,
)
from ..domain.lifecycle import RANK
from ..domain.money import Crypto, Fee, FeeAmountType, FeeType, Money
from ..domain.orders import (
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
from ..domain.payments import (
    AccountHolder,
    BlockchainAddress,
    BlockchainInstructions,
    IbanAddress,
    IbanInstructions,
)
from ..ids import id_from, new_id
from ..types import require_utc
from .base import DialectName

S = OrderStatus
D = Decimal
WALLET = "0x96e2B7Bf479f84e7A0a94f0620290B7D3E08f5EF"  # the Revolut seed's wallet


class _Draw:
    """Random ids and hashes: from ``secrets``, or from a seeded generator (the simulator's
    ``--seed``), so a seeded run builds the same orders byte for byte."""

    def __init__(self, rng: random.Random | None) -> None:
        self.rng = rng

    def hex(self, nbytes: int) -> str:
        if self.rng is None:
            return secrets.token_hex(nbytes)
        return self.rng.randbytes(nbytes).hex()

    def uuid(self) -> str:
        if self.rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def id(self, prefix: str, now: datetime) -> str:
        if self.rng is None:
            return new_id(prefix)
        return id_from(prefix, int(now.timestamp() * 1000), self.rng.getrandbits(80))

    def tx_hash(self) -> str:
        return "0x" + self.hex(32)


def _moved(status: OrderStatus) -> bool:
    """Whether crypto has moved on-chain: delivery for buys, the user's deposit for sells."""
    return status in (S.DELIVERY_SENT, S.COMPLETED)


def _paid(status: OrderStatus) -> bool:
    return RANK[status] >= RANK[S.PAYMENT_RECEIVED] and status not in (S.CANCELLED, S.EXPIRED)


_STYLE: dict[DialectName, tuple[str, Decimal, str, str | None, Decimal]] = {
    # fiat currency and amount, crypto asset, network and amount
    DialectName.STANDARD: ("EUR", D("100.00"), "USDC", "POLYGON", D("107.5")),
    DialectName.REVOLUT: ("EUR", D("100.00"), "ETH", "ETHEREUM", D("0.03125")),
    DialectName.SABER: ("INR", D("850.00"), "USDT", "BSC", D("10.00")),
    DialectName.FIREBLOCKS: ("USD", D("1000.00"), "BTC", None, D("0.025")),
    DialectName.KOYWE: ("CLP", D("100000"), "USDC", "POLYGON", D("106.83")),
    DialectName.TRANSAK: ("EUR", D("250.00"), "ETH", "ethereum", D("0.0781")),
}


def _provider_order_id(dialect: DialectName, draw: _Draw) -> str | None:
    if dialect is DialectName.STANDARD:
        return None
    if dialect is DialectName.FIREBLOCKS:
        return "ramp-" + draw.hex(6)
    if dialect is DialectName.SABER:
        return draw.hex(12)
    return draw.uuid()


def sample_order(
    dialect: DialectName,
    status: OrderStatus,
    side: Side,
    *,
    now: datetime,
    rng: random.Random | None = None,
) -> Order:
    """One order as that provider would describe it, at ``status``; updated ``now``.

    ``rng``: draw ids and hashes from this generator instead of ``secrets`` (reproducible).
    """
    now = require_utc(now)
    draw = _Draw(rng)
    currency, fiat_amount, asset, network, crypto_amount = _STYLE[dialect]
    provider = None if dialect is DialectName.STANDARD else Provider(dialect.value)
    failed = status is S.FAILED
    fields: dict[str, Any] = {
        "fiat": Money(currency=currency, amount=fiat_amount),
        "crypto": Crypto(asset=asset, network=network, amount=crypto_amount),
        "wallet_address": WALLET,
        "exchange_rate": (fiat_amount / crypto_amount).quantize(D("0.01")),
        "fees": (
            Fee(type=FeeType.ORDER, amount=fiat_amount * D("0.0099"), asset=currency),
            Fee(type=FeeType.NETWORK, amount=D("0.50"), asset=currency),
        ),
        "payment": Payment(method="card" if side is Side.BUY else "bank_transfer"),
        "transaction_hash": draw.tx_hash()
        if _moved(status) or (side is Side.SELL and _paid(status))
        else None,
        "failure": (
            Failure(reason=FailureReason.PAYMENT_DECLINED, description="Card declined")
            if failed
            else None
        ),
        "expires_at": now + timedelta(minutes=30),
    }
    if status is S.AMOUNT_MISMATCH:
        fields["amount_mismatch"] = AmountMismatch(
            received=(fiat_amount * D("0.9")).quantize(D("0.01")), currency=currency
        )
    fields.update(_provider_fields(dialect, status, side, fields, draw))
    return Order(
        id=draw.id("ord", now),
        side=side,
        provider=provider,
        provider_order_id=_provider_order_id(dialect, draw),
        status=status,
        version=RANK[status] + 1,
        created_at=now - timedelta(minutes=10),
        updated_at=now,
        **fields,
    )


def _provider_fields(
    dialect: DialectName, status: OrderStatus, side: Side, base: dict[str, Any], draw: _Draw
) -> dict[str, Any]:
    paid = _paid(status)
    if dialect is DialectName.SABER:
        method = "upi_transfer" if side is Side.BUY else "bank_transfer"
        return {
            "payment": Payment(
                method=method,
                bank_transaction_id=draw.hex(6) if side is Side.BUY and paid else None,
                bank_reference_id=(
                    draw.hex(6) if side is Side.SELL and status is S.COMPLETED else None
                ),
            ),
            "references": References(user_id=draw.hex(6), source_id="saber-partner"),
            "failure": (
                Failure(
                    reason=FailureReason.PAYMENT_NOT_RECEIVED,
                    description="Payment not received from the user",
                    provider_code="ONRAMP_FAILED",
                )
                if status is S.FAILED
                else None
            ),
        }
    if dialect is DialectName.TRANSAK:
        fiat_amount = base["fiat"].amount
        return {
            "fees": (Fee(type=FeeType.TOTAL, amount=D("3.49"), asset=base["fiat"].currency),),
            "payment": Payment(
                method="card" if side is Side.BUY else "sepa_bank_transfer",
                option_id="credit_debit_card" if side is Side.BUY else "sepa_bank_transfer",
                amount_paid=fiat_amount if paid else None,
            ),
            "references": References(
                partner_order_id="partner-" + draw.hex(4),
                partner_customer_id="customer-" + draw.hex(4),
                quote_id=draw.uuid(),
            ),
            "transaction_link": (
                f"https://etherscan.io/tx/{base['transaction_hash']}"
                if base["transaction_hash"]
                else None
            ),
        }
    if dialect is DialectName.KOYWE:
        return {"references": References(user_email="ana.perez@example.cl")}
    if dialect is DialectName.FIREBLOCKS:
        return _fireblocks_fields(status, side, base, draw)
    return {}


def _fireblocks_fields(
    status: OrderStatus, side: Side, base: dict[str, Any], draw: _Draw
) -> dict[str, Any]:
    fiat, crypto = base["fiat"], base["crypto"]
    buy = side is Side.BUY
    rank = RANK[status]
    terminal_bad = status in (S.FAILED, S.CANCELLED, S.EXPIRED, S.REFUNDED)

    def step(kind: StepType, done_at: OrderStatus, started_at: OrderStatus) -> ExecutionStep:
        if terminal_bad and rank >= RANK[started_at]:
            state = StepStatus.FAILED if status is S.FAILED else StepStatus.CANCELLED
        elif status is S.COMPLETED or rank > RANK[done_at]:
            state = StepStatus.COMPLETED
        elif rank >= RANK[started_at]:
            state = StepStatus.PROCESSING
        else:
            state = StepStatus.WAITING
        tx = "tx-" + kind.value.lower() if state is not StepStatus.WAITING else None
        return ExecutionStep(type=kind, status=state, tx_id=tx)

    instructions = (
        IbanInstructions(
            reference_id="ref-" + draw.hex(3),
            address=IbanAddress(
                account_holder=AccountHolder(
                    name="John Doe", city="New York", country="US", postal_code="10001"
                ),
                iban="GB82WEST12345698765432",
            ),
        )
        if buy
        else BlockchainInstructions(address=BlockchainAddress(address=WALLET, network="BTC"))
    )
    delivered = status in (S.DELIVERY_SENT, S.COMPLETED)
    return {
        "fees": (
            Fee(type=FeeType.ORDER, amount=D("10.00"), asset=fiat.currency),
            Fee(
                type=FeeType.NETWORK,
                amount=D("50"),
                asset=crypto.asset,
                amount_type=FeeAmountType.BPS,
            ),
        ),
        "payment": Payment(instructions=instructions),
        "execution": ExecutionDetails(
            type=ExecutionType.QUOTE,
            side=TradeSide.BUY if buy else TradeSide.SELL,
            quote_id="quote-" + draw.hex(4),
            requote=False,
            base_amount=fiat.amount if buy else crypto.amount,
            quote_amount=crypto.amount if buy else fiat.amount,
            base_asset_id=fiat.currency if buy else crypto.asset,
            quote_asset_id=crypto.asset if buy else fiat.currency,
            base_asset_rail="FIAT" if buy else "BLOCKCHAIN",
            quote_asset_rail="BLOCKCHAIN" if buy else "FIAT",
        ),
        "execution_steps": (
            step(StepType.APPROVE, S.PENDING_USER_ACTION, S.CREATED),
            step(StepType.EXECUTE, S.PROCESSING, S.PAYMENT_RECEIVED),
            step(StepType.SETTLEMENT, S.DELIVERY_SENT, S.DELIVERY_SENT),
        ),
        "receipt": (
            Receipt(
                type=ReceiptType.BLOCKCHAIN, tx_hash=base["transaction_hash"], amount=crypto.amount
            )
            if buy and delivered and base["transaction_hash"]
            else Receipt(type=ReceiptType.FIAT, amount=fiat.amount, reference_id="wire-001")
            if not buy and delivered
            else None
        ),
        "settlement": Settlement(
            type=SettlementType.DVP,
            source_account=SourceAccount(
                type=SourceAccountType.VAULT_ACCOUNT, account_id="vault-account-123"
            ),
            destination_account=AccountReference(
                type=AccountType.EXCHANGE_ACCOUNT, account_id="exchange-account-456"
            ),
        ),
        "via": Via(
            type="PROVIDER_ACCOUNT",
            account_id="provider-account-789",
            provider_id="provider-coinbase",
        ),
        "references": References(
            customer_internal_reference_id="customer-ref-001", created_by="user-12345"
        ),
        "note": "Monthly crypto purchase" if buy else "Treasury sale",
    }
