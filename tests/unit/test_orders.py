"""The canonical order model: what it accepts, what it refuses, and the seed it must carry."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from rampwire.domain import serde
from rampwire.domain.orders import (
    PATCHABLE_FIELDS,
    Order,
    OrderData,
    OrderStatus,
    Provider,
    Side,
    order_of_fields,
    stepped,
)
from rampwire.domain.payments import PAYMENT_INSTRUCTION_TYPES
from rampwire.types import parse_decimal, require_utc

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
HOLDER = {"account_holder": {"name": "Ana Lima", "country": "BR"}}
ADDRESSES = {
    "IBAN": {**HOLDER, "iban": "GB82WEST12345698765432"},
    "SWIFT": {**HOLDER, "swift_code": "DEUTDEFF", "routing_number": "021000021"},
    "ACH": {
        **HOLDER,
        "bank_account_number": "123",
        "routing_number": "021",
        "account_type": "SAVINGS",
    },
    "WIRE": {
        **HOLDER,
        "bank_account_number": "123",
        "routing_number": "021",
        "bank_address": {"street_name": "Main", "country": "US"},
    },
    "SPEI": {**HOLDER, "bank_account_number": "012180001234567897"},
    "PIX": {**HOLDER, "pix_key": "ana@example.com", "key_type": "EMAIL", "bank_code": "260"},
    "LOCAL_BANK_TRANSFER": {**HOLDER, "account_number": "1", "bank_name": "B", "bank_code": "2"},
    "EUROPEAN_SEPA": {**HOLDER, "iban": "DE89370400440532013000", "bank_address": "Frankfurt"},
    "MOBILE_MONEY": {**HOLDER, "mobile_phone_number": "+254700000000", "provider": "MPESA"},
    "BLOCKCHAIN": {"address": "0xabc", "tag": "42"},
}


def test_all_ten_payment_instruction_types_round_trip() -> None:
    assert set(ADDRESSES) == set(PAYMENT_INSTRUCTION_TYPES)
    for kind, address in ADDRESSES.items():
        data = {"side": "sell", "payment": {"instructions": {"type": kind, "address": address}}}
        order = serde.load(OrderData, data)
        dumped = serde.dump(order)["payment"]["instructions"]
        assert dumped["type"] == kind
        assert {k: v for k, v in dumped["address"].items() if v is not None}.keys() >= {
            k for k, v in address.items() if v is not None
        }


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("IBAN", {**HOLDER}),  # no iban
        ("PIX", {**HOLDER, "pix_key": "x", "key_type": "FAX"}),
        ("MOBILE_MONEY", {**HOLDER, "mobile_phone_number": "1", "provider": "POSTAL"}),
        ("SWIFT", {**HOLDER, "iban": "GB82"}),  # an IBAN address under SWIFT
    ],
)
def test_payment_instructions_are_checked_against_their_type(kind: str, address: dict) -> None:
    with pytest.raises(ValidationError):
        serde.load(
            OrderData,
            {"side": "buy", "payment": {"instructions": {"type": kind, "address": address}}},
        )


def test_decimals_never_pass_through_float() -> None:
    assert parse_decimal("0.1") + parse_decimal("0.2") == Decimal("0.3")
    assert (
        serde.dump(serde.load(OrderData, {"side": "buy", "exchange_rate": "1E+2"}))["exchange_rate"]
        == "100"
    )
    for bad in (0.1, "1,5", "Infinity", "", True, None, "1" * 41):
        with pytest.raises(ValueError):
            parse_decimal(bad)


def test_naive_datetimes_are_refused_and_aware_ones_become_utc() -> None:
    with pytest.raises(ValueError):
        require_utc(datetime(2024, 1, 1))
    order = serde.load(OrderData, {"side": "buy", "expires_at": "2024-01-01T02:00:00+02:00"})
    assert (
        order.expires_at is not None and order.expires_at.isoformat() == "2024-01-01T00:00:00+00:00"
    )


def test_fireblocks_bps_fees_and_execution_rules() -> None:
    with pytest.raises(ValidationError):  # a QUOTE without its quote id
        serde.load(
            OrderData,
            {
                "side": "buy",
                "execution": {
                    "type": "QUOTE",
                    "side": "BUY",
                    "base_amount": "1",
                    "base_asset_id": "USD",
                    "quote_asset_id": "BTC",
                },
            },
        )
    with pytest.raises(ValidationError):
        serde.load(
            OrderData,
            {"side": "buy", "fees": [{"type": "network", "amount": "20000", "amount_type": "bps"}]},
        )


def test_order_json_round_trip_keeps_every_field() -> None:
    order = serde.load(
        Order,
        {
            "id": "ord_01HZZZZZZZZZZZZZZZZZZZZZZZ",
            "side": "buy",
            "status": "on_hold",
            "version": 3,
            "created_at": "2024-01-15T10:30:00Z",
            "updated_at": "2024-01-15T10:35:00Z",
            "amount_mismatch": {"received": "49.00", "expected": "850.00", "currency": "INR"},
            "payment": {"method": "upi_transfer", "bank_transaction_id": "utr-1"},
            "references": {"partner_order_id": "p-1", "partner_customer_id": "c-1"},
            "failure": {"reason": "payment_not_received", "provider_code": "ONRAMP_FAILED"},
            "metadata": {"cart": "42"},
        },
    )
    assert serde.order_from_json(serde.order_to_json(order)) == order
    assert order.status is OrderStatus.ON_HOLD


def test_metadata_is_bounded() -> None:
    with pytest.raises(ValidationError):
        serde.load(OrderData, {"side": "buy", "metadata": {str(i): "v" for i in range(51)}})


def test_evolve_is_dataclasses_replace() -> None:
    order = serde.load(
        Order,
        {
            "id": "ord_01HZZZZZZZZZZZZZZZZZZZZZZZ",
            "side": "sell",
            "provider": "transak",
            "provider_order_id": "t-1",
            "status": "created",
            "version": 1,
            "created_at": "2024-01-15T10:30:00Z",
            "updated_at": "2024-01-15T10:30:00Z",
            "metadata": {"cart": "42"},
        },
    )
    changes = {"status": OrderStatus.PROCESSING, "version": 2, "note": "n"}
    evolved = order.evolve(**changes)
    assert evolved == dataclasses.replace(order, **changes)
    assert type(evolved) is Order and evolved.metadata is order.metadata
    assert order.status is OrderStatus.CREATED  # the original is left as it was
    assert order.evolve() == order and order.evolve() is not order
    with pytest.raises(TypeError, match="no field 'nope'"):
        order.evolve(nope=1)
    with pytest.raises(ValueError, match="go together"):
        order.evolve(provider_order_id=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        evolved.version = 3  # type: ignore[misc]


def test_an_order_of_a_changes_fields_is_the_keyword_constructors() -> None:
    fields = {
        "note": "n",
        "fees": (),
        "metadata": {"cart": "42"},
        "side": "ignored: an identity field",
        "nope": "ignored: not a field",
    }
    own = {
        "side": Side.SELL,
        "provider": Provider.TRANSAK,
        "provider_order_id": "t-1",
        "id": "ord_01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "status": OrderStatus.CREATED,
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "partner_id": "ptn_1",
    }
    made = order_of_fields(fields, **own)
    given = {name: value for name, value in fields.items() if name in PATCHABLE_FIELDS}
    assert made == Order(**given, **own)  # type: ignore[arg-type]
    assert type(made) is Order and made.metadata is fields["metadata"]
    empty = order_of_fields({}, **own)
    assert empty == Order(**own)  # type: ignore[arg-type]
    other = order_of_fields({}, **own)
    assert empty.references is not other.references  # defaults made per order, as __init__
    assert empty.metadata is not other.metadata
    with pytest.raises(ValueError, match="go together"):
        order_of_fields({}, **{**own, "provider_order_id": None})
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.version = 3  # type: ignore[misc]


def test_a_stepped_order_is_the_evolved_one() -> None:
    order = order_of_fields(
        {"note": "n"},
        side=Side.BUY,
        provider=None,
        provider_order_id=None,
        id="ord_01HZZZZZZZZZZZZZZZZZZZZZZZ",
        status=OrderStatus.CREATED,
        version=1,
        created_at=NOW,
        updated_at=NOW,
        partner_id=None,
    )
    later = NOW.replace(minute=1)
    made = stepped(order, OrderStatus.PROCESSING, 2, later)
    assert made == order.evolve(status=OrderStatus.PROCESSING, version=2, updated_at=later)
    assert made.note is order.note and order.status is OrderStatus.CREATED
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.version = 3  # type: ignore[misc]
