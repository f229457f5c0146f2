"""Fireblocks orderDetails: the full seed schema, both ways."""

from __future__ import annotations

import dataclasses
import types
import typing
from decimal import Decimal
from typing import Any, cast

import orjson
import pytest

from rampwire.dialects import DialectName
from rampwire.dialects import fireblocks_order as details
from rampwire.dialects.base import build_patch
from rampwire.domain import payments
from rampwire.domain.money import Crypto, Fee, FeeAmountType, FeeType, Money
from rampwire.domain.orders import Failure, FailureReason, OrderStatus, Payment, Provider, Side

from . import strategies
from .support import encode

S = OrderStatus

# The seed's documented fields of each payment instruction's address (seed 002)
ADDRESS_FIELDS = {
    "IBAN": {"accountHolder", "iban"},
    "SWIFT": {"accountHolder", "swiftCode", "routingNumber"},
    "ACH": {"accountHolder", "bankName", "bankAccountNumber", "routingNumber", "accountType"},
    "WIRE": {"accountHolder", "bankName", "bankAccountNumber", "routingNumber", "bankAddress"},
    "SPEI": {"accountHolder", "bankName", "bankAccountNumber"},
    "PIX": {"accountHolder", "pixKey", "keyType", "bankName", "bankCode"},
    "LOCAL_BANK_TRANSFER": {"accountHolder", "accountNumber", "bankName", "bankCode"},
    "EUROPEAN_SEPA": {
        "accountHolder",
        "iban",
        "bic",
        "bankName",
        "bankBranch",
        "bankAddress",
        "purposeCode",
        "taxId",
    },
    "MOBILE_MONEY": {
        "accountHolder",
        "mobilePhoneNumber",
        "provider",
        "beneficiaryDocumentId",
        "beneficiaryRelationship",
    },
    "BLOCKCHAIN": {"address", "tag", "network"},  # rampwire's own: the seed documents none
}
HOLDER_FIELDS = {"name", "address", "city", "country", "subdivision", "postalCode"}
BANK_ADDRESS_FIELDS = {
    "streetName",
    "buildingNumber",
    "postalCode",
    "city",
    "subdivision",
    "district",
    "country",
}
ORDER_DETAILS_FIELDS = [
    "id",
    "status",
    "createdAt",
    "updatedAt",
    "executionResponseDetails",
    "executionSteps",
    "paymentInstructions",
    "receipt",
    "settlement",
    "via",
    "customerInternalReferenceId",
    "note",
    "expiresAt",
    "failure",
    "createdBy",
    "generalFees",
]


def _full(cls: type[Any]) -> Any:
    """A record with every field set, nested records too."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        hint = hints[item.name]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        kind = next(o for o in typing.get_args(hint) if o is not type(None)) if union else hint
        if typing.get_origin(kind) is typing.Literal:
            values[item.name] = typing.get_args(kind)[0]
        elif isinstance(kind, type) and dataclasses.is_dataclass(kind):
            values[item.name] = _full(kind)
        elif isinstance(kind, type) and issubclass(kind, str) and kind is not str:
            values[item.name] = next(iter(cast(Any, kind)))  # an enum
        else:
            values[item.name] = f"{item.name}-value"
    return cls(**values)


INSTRUCTION_TYPES = typing.get_args(typing.get_args(payments.PaymentInstructions)[0])


@pytest.mark.parametrize("cls", INSTRUCTION_TYPES, ids=lambda c: c.__name__)
def test_each_instruction_type_carries_its_documented_fields(cls: type[Any]) -> None:
    instructions = _full(cls)
    out = details.instructions_out(instructions)
    assert out["type"] == instructions.type and out["referenceId"] == "reference_id-value"
    assert set(out["address"]) == ADDRESS_FIELDS[instructions.type]
    if "accountHolder" in out["address"]:
        assert set(out["address"]["accountHolder"]) == HOLDER_FIELDS
    if isinstance(out["address"].get("bankAddress"), dict):
        assert set(out["address"]["bankAddress"]) == BANK_ADDRESS_FIELDS
    patch, issues = build_patch({"payment": {"instructions": details._instructions_in(out)}})
    assert issues == ()
    assert patch["payment"] == Payment(instructions=instructions)


def test_order_details_follow_the_seed_field_order() -> None:
    order = strategies.plain_order(
        Side.BUY,
        S.FAILED,
        Provider.FIREBLOCKS,
        fiat=Money(currency="USD", amount=Decimal(1)),
        crypto=Crypto(asset="BTC"),
        failure=Failure(reason=FailureReason.BAD_REQUEST),
        note="n",
        expires_at=strategies.plain_order(Side.BUY, S.FAILED, None).created_at,
        payment=Payment(instructions=_full(payments.IbanInstructions)),
    )
    data = details.order_details(order, "FAILED", failure_reason=None)
    assert [key for key in ORDER_DETAILS_FIELDS if key in data] == list(data)
    assert data["failure"] == {"reason": "BAD_REQUEST"}
    assert data["executionSteps"] == [] and data["generalFees"] == []


def test_fixed_fees_travel_as_strings_and_bps_fees_as_numbers() -> None:
    order = strategies.plain_order(
        Side.BUY,
        S.CREATED,
        Provider.FIREBLOCKS,
        fees=(
            Fee(type=FeeType.ORDER, amount=Decimal("10.00"), asset="USD"),
            Fee(
                type=FeeType.NETWORK,
                amount=Decimal("12.5"),
                asset="BTC",
                amount_type=FeeAmountType.BPS,
            ),
            Fee(type=FeeType.PARTNER, amount=Decimal("1"), asset="USD"),
        ),
    )
    body = encode(DialectName.FIREBLOCKS, order, S.CREATED).body
    assert (
        b'{"feeType":"ORDER","assetId":"USD","amountType":"FIXED","amount":"10.00"},'
        b'{"feeType":"NETWORK","assetId":"BTC","amountType":"BPS","amount":12.5},'
        b'{"feeType":"ORDER","assetId":"USD","amountType":"FIXED","amount":"1"}'
    ) in body


@pytest.mark.parametrize("reason", list(FailureReason))
def test_failure_reasons_go_out_as_fireblocks_ones(reason: FailureReason) -> None:
    order = strategies.plain_order(
        Side.SELL,
        S.FAILED,
        Provider.FIREBLOCKS,
        failure=Failure(reason=reason, info={"code": "42"}),
    )
    out = details.failure_out(order, None)
    assert out is not None and out["reason"] in details.FIREBLOCKS_REASONS
    back = build_patch({"failure": details._failure_in(out)})[0]["failure"]
    expected = {
        FailureReason.PAYMENT_NOT_RECEIVED: FailureReason.ORDER_EXPIRED,
        FailureReason.PAYMENT_DECLINED: FailureReason.TRANSACTION_REJECTED,
        FailureReason.CRYPTO_WITHDRAWAL_FAILED: FailureReason.TRANSACTION_FAILED,
    }.get(reason, reason)
    assert back == Failure(reason=expected, info={"code": "42"})


def test_an_unknown_failure_reason_is_kept_verbatim() -> None:
    raw = details._failure_in({"reason": "NEW_REASON", "failureInfo": {"n": 1, "s": "x"}})
    [failure] = build_patch({"failure": raw})[0].values()
    assert failure == Failure(
        reason=FailureReason.UNKNOWN_REASON, provider_code="NEW_REASON", info={"n": "1", "s": "x"}
    )


@pytest.mark.parametrize(
    ("side", "base", "quote"), [(Side.BUY, "USD", "BTC"), (Side.SELL, "BTC", "USD")]
)
def test_an_execution_is_derived_when_the_order_has_none(side: Side, base: str, quote: str) -> None:
    order = strategies.plain_order(
        side,
        S.CREATED,
        Provider.FIREBLOCKS,
        fiat=Money(currency="USD", amount=Decimal(100)),
        crypto=Crypto(asset="BTC", amount=Decimal("0.001")),
    )
    execution = details.execution_out(order)
    assert execution is not None
    assert (
        execution["type"],
        execution["side"],
        execution["baseAssetId"],
        execution["quoteAssetId"],
    ) == ("MARKET", side.value.upper(), base, quote)
    bare = strategies.plain_order(side, S.CREATED, Provider.FIREBLOCKS)
    assert details.execution_out(bare) is None


def test_unknown_fields_are_ignored_and_a_bad_object_is_reported_not_fatal() -> None:
    data = orjson.loads(
        orjson.dumps(
            {
                "id": "o1",
                "status": "PROCESSING",
                "newTopLevel": {"x": 1},
                "via": {"type": "PROVIDER_ACCOUNT", "accountId": "a", "newField": True},
                "receipt": {"type": "CARRIER_PIGEON", "amount": "1"},
                "generalFees": [{"feeType": "ORDER", "amountType": "FIXED", "amount": 1.5}],
            }
        )
    )
    patch, issues = build_patch(details.order_patch(data))
    assert patch["via"].account_id == "a"
    assert "receipt" not in patch and "fees" not in patch  # a float is never money
    assert any(i.startswith("receipt") for i in issues)
    assert any(i.startswith("fees") for i in issues)
