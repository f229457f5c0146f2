"""Fireblocks' ``orderDetails`` and the canonical order, both ways.

The canonical records keep Fireblocks' fields in snake_case (:mod:`rampwire.execution`,
:mod:`rampwire.payments`), so most objects convert by renaming keys, driven by each record's own
fields: on the way in, keys a record does not know are ignored, so a new Fireblocks field never
breaks ingest. Three objects need more than renaming:

- fees (``generalFees`` and a step's ``fee``): ``amountType`` FIXED carries the amount as a
  string, BPS as a JSON number; fee types PARTNER and TOTAL, which Fireblocks lacks, go out as
  ORDER;
- ``executionResponseDetails``: ``reQuote``; when the order has none, a MARKET execution is
  derived from its fiat and crypto, so the side always reaches the receiver;
- ``failure``: the 17 reasons travel upper-case; rampwire's three other reasons go out as the
  nearest Fireblocks one (PAYMENT_NOT_RECEIVED as ORDER_EXPIRED, PAYMENT_DECLINED as
  TRANSACTION_REJECTED, CRYPTO_WITHDRAWAL_FAILED as TRANSACTION_FAILED).

On the way in, fiat and crypto are read from the execution details when their rails say which
side is FIAT and which BLOCKCHAIN.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import orjson

from ..domain import payments, serde
from ..domain.execution import ExecutionDetails, ExecutionStep, Receipt, Settlement, Via
from ..domain.money import Fee, FeeAmountType, FeeType
from ..domain.orders import FailureReason, Order, Provider, Side
from ..domain.payments import PaymentInstructions
from ..types import format_decimal
from .base import wire_order_id
from .wire import compact, iso_ms, number

FIREBLOCKS_REASONS: tuple[str, ...] = tuple(r.value.upper() for r in FailureReason)[:17]
_REASON_OUT = {
    FailureReason.PAYMENT_NOT_RECEIVED: "ORDER_EXPIRED",
    FailureReason.PAYMENT_DECLINED: "TRANSACTION_REJECTED",
    FailureReason.CRYPTO_WITHDRAWAL_FAILED: "TRANSACTION_FAILED",
}
_FEE_TYPE_OUT = {FeeType.PARTNER: "ORDER", FeeType.TOTAL: "ORDER"}
_INSTRUCTIONS: dict[str, type[Any]] = {
    cls.type: cls
    for cls in (
        payments.IbanInstructions,
        payments.SwiftInstructions,
        payments.AchInstructions,
        payments.WireInstructions,
        payments.SpeiInstructions,
        payments.PixInstructions,
        payments.LocalBankTransferInstructions,
        payments.SepaInstructions,
        payments.MobileMoneyInstructions,
        payments.BlockchainInstructions,
    )
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camelize(value: Any) -> Any:
    """JSON-ready snake_case data as camelCase, leaving out nulls."""
    if isinstance(value, dict):
        return {camel(k): camelize(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [camelize(item) for item in value]
    return value


# --- out ----------------------------------------------------------------------------------------


def fee_out(fee: Fee) -> dict[str, Any]:
    bps = fee.amount_type is FeeAmountType.BPS
    return compact(
        [
            ("feeType", _FEE_TYPE_OUT.get(fee.type, fee.type.value.upper())),
            ("assetId", fee.asset),
            ("amountType", fee.amount_type.value.upper()),
            ("amount", number(fee.amount) if bps else format_decimal(fee.amount)),
        ]
    )


def _amount(value: Any) -> str | None:
    return None if value is None else format_decimal(value)


def execution_out(order: Order) -> dict[str, Any] | None:
    ex = order.execution
    if ex is not None:
        return compact(
            [
                ("type", ex.type.value),
                ("quoteId", ex.quote_id),
                ("reQuote", ex.requote),
                ("side", ex.side.value),
                ("baseAmount", format_decimal(ex.base_amount)),
                ("quoteAmount", _amount(ex.quote_amount)),
                ("baseAssetId", ex.base_asset_id),
                ("quoteAssetId", ex.quote_asset_id),
                ("baseAssetRail", ex.base_asset_rail),
                ("quoteAssetRail", ex.quote_asset_rail),
            ]
        )
    if order.fiat is None or order.crypto is None:
        return None
    fiat = ("FIAT", order.fiat.currency, order.fiat.amount)
    crypto = ("BLOCKCHAIN", order.crypto.asset, order.crypto.amount)
    base, quote = (fiat, crypto) if order.side is Side.BUY else (crypto, fiat)
    if base[2] is None:
        return None
    return compact(
        [
            ("type", "MARKET"),
            ("side", "BUY" if order.side is Side.BUY else "SELL"),
            ("baseAmount", format_decimal(base[2])),
            ("quoteAmount", _amount(quote[2])),
            ("baseAssetId", base[1]),
            ("quoteAssetId", quote[1]),
            ("baseAssetRail", base[0]),
            ("quoteAssetRail", quote[0]),
        ]
    )


def step_out(step: ExecutionStep) -> dict[str, Any]:
    fee = fee_out(step.fee) if step.fee else None
    return compact(
        [
            ("type", step.type.value),
            ("status", step.status.value),
            ("fee", fee),
            ("txId", step.tx_id),
            ("txHash", step.tx_hash),
            ("error", step.error),
        ]
    )


def instructions_out(instructions: PaymentInstructions) -> dict[str, Any]:
    dumped = serde.dump(instructions)
    return compact(
        [
            ("type", dumped["type"]),
            ("referenceId", dumped.get("reference_id")),
            ("address", camelize(dumped["address"])),
        ]
    )


def failure_out(order: Order, reason: str | None) -> dict[str, Any] | None:
    """The failure object; ``reason`` overrides the order's (expired and refunded orders)."""
    failure = order.failure
    if failure is None and reason is None:
        return None
    if reason is None and failure is not None:
        reason = _REASON_OUT.get(failure.reason, failure.reason.value.upper())
    info = dict(failure.info) if failure else {}
    return compact([("reason", reason), ("failureInfo", info or None)])


def order_details(order: Order, status: str, *, failure_reason: str | None) -> dict[str, Any]:
    """``orderDetails`` in the seed's field order; optional fields are left out when unknown."""
    refs = order.references
    pay = order.payment.instructions if order.payment else None
    return compact(
        [
            ("id", wire_order_id(order, Provider.FIREBLOCKS)),
            ("status", status),
            ("createdAt", iso_ms(order.created_at)),
            ("updatedAt", iso_ms(order.updated_at)),
            ("executionResponseDetails", execution_out(order)),
            ("executionSteps", [step_out(step) for step in order.execution_steps]),
            ("paymentInstructions", instructions_out(pay) if pay else None),
            ("receipt", camelize(serde.dump(order.receipt)) if order.receipt else None),
            ("settlement", camelize(serde.dump(order.settlement)) if order.settlement else None),
            ("via", camelize(serde.dump(order.via)) if order.via else None),
            ("customerInternalReferenceId", refs.customer_internal_reference_id),
            ("note", order.note),
            ("expiresAt", iso_ms(order.expires_at) if order.expires_at else None),
            ("failure", failure_out(order, failure_reason)),
            ("createdBy", refs.created_by),
            ("generalFees", [fee_out(fee) for fee in order.fees]),
        ]
    )


# --- in -----------------------------------------------------------------------------------------


_NESTED: dict[type[Any], dict[str, type[Any] | None]] = {}  # filled once per record type


def _nested(cls: type[Any]) -> dict[str, type[Any] | None]:
    """Each field of a record, with the record type it holds if any (``X | None`` -> X)."""
    if cls in _NESTED:
        return _NESTED[cls]
    hints = typing.get_type_hints(cls)
    result: dict[str, type[Any] | None] = {}
    for item in dataclasses.fields(cls):
        hint = hints[item.name]
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        records = [o for o in options if isinstance(o, type) and dataclasses.is_dataclass(o)]
        result[item.name] = records[0] if records else None
    _NESTED[cls] = result
    return result


def pick(data: Any, cls: type[Any]) -> Any:
    """The fields of record ``cls`` found (camelCase) in ``data``, recursively; others ignored."""
    if not isinstance(data, dict):
        return data  # let validation say what is wrong
    picked: dict[str, Any] = {}
    for name, record in _nested(cls).items():
        value = data.get(camel(name))
        if value is not None:
            picked[name] = pick(value, record) if record else value
    return picked


def fee_in(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    fee_type, amount_type = data.get("feeType"), data.get("amountType")
    return {
        "type": fee_type.lower() if isinstance(fee_type, str) else fee_type,
        "asset": data.get("assetId"),
        "amount_type": amount_type.lower() if isinstance(amount_type, str) else amount_type,
        "amount": data.get("amount"),
    }


def _step_in(data: Any) -> Any:
    picked = pick(data, ExecutionStep)
    if isinstance(picked, dict) and isinstance(data, dict) and data.get("fee") is not None:
        picked["fee"] = fee_in(data["fee"])
    return picked


def _instructions_in(data: Any) -> Any:
    if not isinstance(data, dict) or data.get("type") not in _INSTRUCTIONS:
        return data
    address_cls = _nested(_INSTRUCTIONS[data["type"]])["address"]
    address = data.get("address")
    return {
        "type": data["type"],
        "reference_id": data.get("referenceId"),
        "address": pick(address, address_cls) if address_cls else address,
    }


def _failure_in(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    reason, info = data.get("reason"), data.get("failureInfo") or {}
    known = isinstance(reason, str) and reason in FIREBLOCKS_REASONS
    if isinstance(info, dict):
        info = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in info.items()}
    return compact(
        [
            ("reason", reason.lower() if known and isinstance(reason, str) else "unknown_reason"),
            ("provider_code", None if known else reason),
            ("info", info),
        ]
    )


def _list(value: Any, convert: Any) -> Any:
    return [convert(item) for item in value] if isinstance(value, list) else value


def order_patch(data: dict[str, Any]) -> dict[str, Any]:
    """Canonical values (unvalidated) from ``orderDetails``."""
    execution = data.get("executionResponseDetails")
    instructions = data.get("paymentInstructions")
    refs = compact(
        [
            ("customer_internal_reference_id", data.get("customerInternalReferenceId")),
            ("created_by", data.get("createdBy")),
        ]
    )
    patch: dict[str, Any] = {
        "execution": None if execution is None else _execution_in(execution),
        "execution_steps": _list(data.get("executionSteps"), _step_in),
        "payment": (
            None if instructions is None else {"instructions": _instructions_in(instructions)}
        ),
        "receipt": pick(data.get("receipt"), Receipt) if data.get("receipt") else None,
        "settlement": pick(data["settlement"], Settlement) if data.get("settlement") else None,
        "via": pick(data["via"], Via) if data.get("via") else None,
        "references": refs or None,
        "note": data.get("note"),
        "expires_at": data.get("expiresAt"),
        "failure": None if data.get("failure") is None else _failure_in(data["failure"]),
        "fees": _list(data.get("generalFees"), fee_in),
    }
    if isinstance(execution, dict):
        for prefix in ("base", "quote"):
            rail = execution.get(f"{prefix}AssetRail")
            asset, amount = execution.get(f"{prefix}AssetId"), execution.get(f"{prefix}Amount")
            if rail == "FIAT":
                patch["fiat"] = {"currency": asset, "amount": amount}
            elif rail == "BLOCKCHAIN":
                patch["crypto"] = {"asset": asset, "amount": amount}
    return patch


def _execution_in(data: Any) -> Any:
    picked = pick(data, ExecutionDetails)
    if isinstance(picked, dict) and isinstance(data, dict) and "reQuote" in data:
        picked["requote"] = data["reQuote"]
    return picked


def side_of(data: dict[str, Any]) -> Side | None:
    execution = data.get("executionResponseDetails")
    side = execution.get("side") if isinstance(execution, dict) else None
    return {"BUY": Side.BUY, "SELL": Side.SELL}.get(side) if isinstance(side, str) else None


def failure_reason(data: dict[str, Any]) -> str | None:
    failure = data.get("failure")
    reason = failure.get("reason") if isinstance(failure, dict) else None
    return reason if isinstance(reason, str) else None
