"""Amounts of money: fiat, crypto and fees. Every amount is a Decimal, a string on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict

from ..types import Amount

_FORBID = ConfigDict(extra="forbid")


@dataclass(frozen=True, kw_only=True, slots=True)
class Money:
    """A fiat amount: ``{"currency": "EUR", "amount": "100.00"}``."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    currency: str
    amount: Amount | None = None

    def __post_init__(self) -> None:
        _check_code(self.currency, "currency")
        if self.amount is not None and self.amount < 0:
            raise ValueError("amount must not be negative")


@dataclass(frozen=True, kw_only=True, slots=True)
class Crypto:
    """A crypto amount: ``{"asset": "USDT", "network": "MATIC", "amount": "27.05"}``."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    asset: str
    network: str | None = None
    amount: Amount | None = None

    def __post_init__(self) -> None:
        _check_code(self.asset, "asset")
        if self.amount is not None and self.amount < 0:
            raise ValueError("amount must not be negative")


class FeeType(StrEnum):
    ORDER = "order"  # the ramp's own fee for the order
    NETWORK = "network"  # blockchain gas or network fee
    SPREAD = "spread"
    REBATE = "rebate"
    PARTNER = "partner"  # the integrating partner's markup
    TOTAL = "total"  # a provider that reports only the sum (Transak totalFeeInFiat)


class FeeAmountType(StrEnum):
    FIXED = "fixed"  # an amount of ``asset``
    BPS = "bps"  # basis points: 1 = 0.01 %, 10,000 = 100 %


@dataclass(frozen=True, kw_only=True, slots=True)
class Fee:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: FeeType
    amount: Amount
    asset: str | None = None
    amount_type: FeeAmountType = FeeAmountType.FIXED

    def __post_init__(self) -> None:
        if self.amount_type is FeeAmountType.BPS and not (
            Decimal(-10_000) <= self.amount <= Decimal(10_000)
        ):
            raise ValueError("a bps fee must lie between -10000 and 10000")


def _check_code(value: str, name: str) -> None:
    if not value or len(value) > 32 or not value.strip() == value:
        raise ValueError(f"{name} must be a non-empty code of at most 32 characters")
