"""The API's amount rules, and how far they reach: not into providers' patches."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rampwire.dialects.base import build_patch
from rampwire.domain.currencies import CRYPTO_PLACES, amount_errors, asset_places, fiat_places
from rampwire.domain.money import Crypto, Fee, FeeType, Money


@pytest.mark.parametrize(("code", "places"), [("EUR", 2), ("JPY", 0), ("BHD", 3), ("CLF", 4)])
def test_fiat_places_are_iso_4217_minor_units(code: str, places: int) -> None:
    assert fiat_places(code) == places


@pytest.mark.parametrize("code", ["XYZ", "eur", "EURO", "BTC", "XAU", ""])
def test_anything_else_is_not_fiat(code: str) -> None:
    with pytest.raises(ValueError, match=r"ISO 4217|not a fiat currency"):
        fiat_places(code)


def test_a_fee_asset_that_is_not_fiat_allows_crypto_places() -> None:
    assert asset_places("USDC") == (CRYPTO_PLACES, "a crypto amount")
    assert asset_places("JPY") == (0, "JPY")


def test_amount_errors_name_each_field() -> None:
    values = {
        "fiat": Money(currency="JPY", amount=Decimal("1.5")),
        "crypto": Crypto(asset="ETH", amount=Decimal("1E-19")),
        "fees": (Fee(type=FeeType.ORDER, asset="EUR", amount=Decimal("-1.001")),),
        "exchange_rate": Decimal("1E+15"),
    }
    assert [field for field, _ in amount_errors(values)] == [
        "fiat.amount",
        "crypto.amount",
        "exchange_rate",
        "fees.0.amount",
    ]
    assert amount_errors({"fiat": Money(currency="EUR", amount=Decimal("10.500"))}) == []


def test_a_providers_amount_beyond_the_bounds_is_left_out_not_fatal() -> None:
    patch, issues = build_patch(
        {
            "fiat": {"currency": "EUR", "amount": "1e999999"},
            "crypto": {"asset": "USDC", "amount": "1.1234567890123456789"},  # 19 places: kept
            "wallet_address": "0xabc",
        }
    )
    assert set(patch) == {"crypto", "wallet_address"}
    assert patch["crypto"].amount == Decimal("1.1234567890123456789")
    assert len(issues) == 1 and issues[0].startswith("fiat.amount")
