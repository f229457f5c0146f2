"""How an order is executed and settled: execution details and steps, receipt, settlement, via.

These follow Fireblocks' ``orderDetails``, the richest schema of the five providers, in
snake_case. Fees live in :mod:`rampwire.money` because every provider has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict

from ..types import Amount
from .money import Fee

_FORBID = ConfigDict(extra="forbid")


class ExecutionType(StrEnum):
    QUOTE = "QUOTE"
    MARKET = "MARKET"


class TradeSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class StepType(StrEnum):
    APPROVE = "APPROVE"
    DELIVERY = "DELIVERY"
    EXECUTE = "EXECUTE"
    SETTLEMENT = "SETTLEMENT"


class StepStatus(StrEnum):
    WAITING = "WAITING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class ReceiptType(StrEnum):
    BLOCKCHAIN = "BLOCKCHAIN"
    FIAT = "FIAT"


class SettlementType(StrEnum):
    PREFUNDED = "PREFUNDED"
    DVP = "DVP"


class AccountType(StrEnum):
    VAULT_ACCOUNT = "VAULT_ACCOUNT"
    EXCHANGE_ACCOUNT = "EXCHANGE_ACCOUNT"
    UNMANAGED_WALLET = "UNMANAGED_WALLET"
    FIAT_ACCOUNT = "FIAT_ACCOUNT"
    CONNECTED_ACCOUNT = "CONNECTED_ACCOUNT"
    ONE_TIME_ADDRESS = "ONE_TIME_ADDRESS"


class SourceAccountType(StrEnum):
    EXTERNAL = "EXTERNAL"
    VAULT_ACCOUNT = "VAULT_ACCOUNT"
    EXCHANGE_ACCOUNT = "EXCHANGE_ACCOUNT"
    CONNECTED_ACCOUNT = "CONNECTED_ACCOUNT"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionDetails:
    """What was asked of the market: a quote or a market order, and its assets and rails."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: ExecutionType
    side: TradeSide
    base_amount: Amount
    base_asset_id: str
    quote_asset_id: str
    quote_id: str | None = None
    requote: bool | None = None
    quote_amount: Amount | None = None
    base_asset_rail: str | None = None  # FIAT or BLOCKCHAIN in practice
    quote_asset_rail: str | None = None

    def __post_init__(self) -> None:
        if self.type is ExecutionType.QUOTE and (self.quote_id is None or self.requote is None):
            raise ValueError("a QUOTE execution needs quote_id and requote")


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionStep:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: StepType
    status: StepStatus
    fee: Fee | None = None
    tx_id: str | None = None
    tx_hash: str | None = None
    error: str | None = None  # INTERNAL_ERROR in Fireblocks' documentation


@dataclass(frozen=True, kw_only=True, slots=True)
class Receipt:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: ReceiptType
    amount: Amount
    tx_hash: str | None = None
    reference_id: str | None = None

    def __post_init__(self) -> None:
        if self.type is ReceiptType.BLOCKCHAIN and not self.tx_hash:
            raise ValueError("a BLOCKCHAIN receipt needs tx_hash")


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountReference:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: AccountType
    account_id: str | None = None
    address: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        if self.type is AccountType.ONE_TIME_ADDRESS:
            if not self.address:
                raise ValueError("a ONE_TIME_ADDRESS account needs address")
        elif not self.account_id:
            raise ValueError(f"a {self.type.value} account needs account_id")


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceAccount:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: SourceAccountType
    account_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Settlement:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: SettlementType
    destination_account: AccountReference
    source_account: SourceAccount | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Via:
    """The account the order was executed through (Fireblocks: a provider account)."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: str  # PROVIDER_ACCOUNT
    account_id: str
    provider_id: str | None = None
