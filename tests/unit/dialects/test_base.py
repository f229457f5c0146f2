"""The shared interface: errors, records, the delivery policy, status tables, helpers."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from rampwire.dialects import errors as dialect_errors
from rampwire.dialects.base import (
    STANDARD_RETRY_DELAYS,
    DecodedEvent,
    DeliveryPolicy,
    DialectName,
    OutboundEvent,
    ProviderEvent,
    StatusTable,
    announced_status,
    build_patch,
    decoded_event,
    wire_order_id,
)
from rampwire.dialects.errors import (
    DialectError,
    MalformedPayload,
    SignatureMismatch,
    UnsupportedEvent,
    VerificationError,
    translate_errors,
)
from rampwire.domain.lifecycle import Change
from rampwire.domain.money import Money
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.errors import ClientError

from .strategies import plain_order
from .support import NOW

S = OrderStatus


def test_every_error_is_a_dialect_error_with_its_docstring_as_message() -> None:
    errors = [
        cls
        for _, cls in inspect.getmembers(dialect_errors, inspect.isclass)
        if issubclass(cls, DialectError)
    ]
    assert len(errors) >= 14
    for cls in errors:
        assert issubclass(cls, ClientError)
        assert cls.__doc__ and str(cls()) == cls.__doc__.strip()
        assert cls.__name__ in (
            dialect_errors.__doc__ or ""
        )  # the hierarchy is drawn in the docstring
    assert VerificationError.status == 401 and issubclass(SignatureMismatch, VerificationError)
    assert MalformedPayload.status == 400 and UnsupportedEvent.status == 422


def test_errors_say_what_failed_and_keep_details() -> None:
    error = dialect_errors.MissingHeader("the X header is missing", header="X")
    assert str(error) == "the X header is missing" and error.extensions == {"header": "X"}


@pytest.mark.parametrize(
    "stray",
    [
        ValueError("v"),
        KeyError("k"),
        TypeError("t"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
        RecursionError(),
        ArithmeticError(),
    ],
)
def test_stray_errors_become_malformed_payload_with_their_cause(stray: Exception) -> None:
    with pytest.raises(MalformedPayload) as caught, translate_errors("Test webhook"):
        raise stray
    assert caught.value.__cause__ is stray
    assert str(caught.value).startswith("Test webhook: ")


def test_dialect_errors_and_unexpected_errors_pass_through() -> None:
    with pytest.raises(SignatureMismatch), translate_errors("x"):
        raise SignatureMismatch()
    with pytest.raises(RuntimeError), translate_errors("x"):
        raise RuntimeError("a bug is a bug")


def test_the_standard_policy_is_the_standard_webhooks_ladder() -> None:
    policy = DeliveryPolicy(retry_delays=STANDARD_RETRY_DELAYS, jitter=0.2)
    assert policy.max_attempts == 10
    assert [policy.delay(n) for n in range(1, 10)] == [
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        50400,
        72000,
        86400,
    ]
    assert policy.delay(0) is None and policy.delay(10) is None
    assert policy.delay(2, spread=1.0) == pytest.approx(360)
    assert policy.delay(2, spread=-5) == pytest.approx(240)  # spread is clamped to [-1, 1]
    assert [policy.should_retry(c) for c in (None, 200, 204, 301, 400, 410, 429, 500)] == [
        True,
        False,
        False,
        True,
        True,
        True,
        True,
        True,
    ]


def test_a_policy_can_refuse_4xx_but_some() -> None:
    policy = DeliveryPolicy(
        retry_delays=(1,), retry_client_errors=False, retried_client_errors=frozenset({429})
    )
    assert [policy.should_retry(c) for c in (400, 429, 499, 500)] == [False, True, False, True]
    with pytest.raises(ValueError):
        DeliveryPolicy(retry_delays=(1,), jitter=1.5)
    with pytest.raises(ValueError):
        DeliveryPolicy(retry_delays=(-1,))


def test_a_status_table_must_cover_every_status_and_read_what_it_sends() -> None:
    event = ProviderEvent(name="X")
    with pytest.raises(ValueError, match="no event"):
        StatusTable(
            provider=Provider.KOYWE,
            outbound={Side.BUY: {S.CREATED: event}},
            inbound={event: S.CREATED},
        )
    with pytest.raises(ValueError, match="cannot read"):
        StatusTable(
            provider=Provider.KOYWE, outbound={Side.BUY: dict.fromkeys(S, event)}, inbound={}
        )
    table = StatusTable(
        provider=Provider.KOYWE,
        outbound={Side.BUY: dict.fromkeys(S, event)},
        inbound={event: S.CREATED, ProviderEvent(name="Y"): S.FAILED},
    )
    assert table.sides == frozenset({Side.BUY})
    assert table.provider_events(Side.BUY) == (event, ProviderEvent(name="Y"))
    with pytest.raises(UnsupportedEvent):
        table.to_provider(S.CREATED, Side.SELL)


def _tables() -> list[StatusTable]:
    from rampwire.dialects import fireblocks, koywe, revolut, saber, transak

    return [module.TABLE for module in (revolut, transak, saber, fireblocks, koywe)]


@pytest.mark.parametrize("table", _tables(), ids=lambda t: t.provider.value)
def test_status_of_is_from_provider_without_the_event(table: StatusTable) -> None:
    names = {e.name for e in table.inbound} | {"UNKNOWN", ""}
    statuses = {e.status for e in table.inbound} | {None, "UNKNOWN", ""}
    for name in names:
        for status in statuses:
            event = ProviderEvent(name=name, status=status)
            assert table.status_of(name, status) is table.from_provider(event), event


def test_provider_events_print_as_name_or_name_and_status() -> None:
    assert str(ProviderEvent(name="ORDER_FAILED", status="EXPIRED")) == "ORDER_FAILED/EXPIRED"
    assert str(ProviderEvent(name="crypto_delivered")) == "crypto_delivered"


def test_the_announced_status_comes_from_the_event_type() -> None:
    order = plain_order(Side.BUY, S.PROCESSING, None)
    event = OutboundEvent(id="evt_1", type="order.completed", created_at=NOW)
    assert announced_status(event, order) is S.COMPLETED
    updated = OutboundEvent(id="evt_1", type="order.updated", created_at=NOW)
    assert announced_status(updated, order) is S.PROCESSING
    for other in ("order.anomaly", "order.stuck", "endpoint.disabled", "completed"):
        with pytest.raises(UnsupportedEvent):
            announced_status(OutboundEvent(id="e", type=other, created_at=NOW), order)


def test_provider_dialects_encode_order_states_only() -> None:
    from rampwire.dialects import get_dialect

    assert get_dialect("standard").can_encode("endpoint.disabled")
    assert get_dialect("koywe").can_encode("order.updated")
    assert not get_dialect("koywe").can_encode("order.anomaly")


def test_the_wire_order_id_is_the_providers_only_for_its_own_orders() -> None:
    order = plain_order(Side.BUY, S.CREATED, Provider.KOYWE)
    assert wire_order_id(order, Provider.KOYWE) == "po-buy"
    assert wire_order_id(order, Provider.TRANSAK) == order.id


def test_build_patch_validates_and_reports_instead_of_failing() -> None:
    patch, issues = build_patch(
        {
            "fiat": {"currency": "EUR", "amount": "1.50"},
            "crypto": {"asset": "", "amount": "x"},
            "note": None,
            "exchange_rate": 1.5,  # a float is never money
        }
    )
    assert patch == {"fiat": Money(currency="EUR", amount=Decimal("1.50"))}
    assert {i.split(":")[0].split(".")[0] for i in issues} == {"crypto", "exchange_rate"}


def test_a_decoded_event_is_a_lifecycle_change() -> None:
    decoded = DecodedEvent(
        dialect=DialectName.KOYWE,
        provider=Provider.KOYWE,
        provider_event="fiat_sent",
        provider_order_id="o",
        dedupe_key="o:fiat_sent",
        occurred_at=NOW,
        side=Side.SELL,
        status=S.DELIVERY_SENT,
        patch={"note": "n"},
        raw={},
    )
    assert decoded.change() == Change(occurred_at=NOW, status=S.DELIVERY_SENT, patch={"note": "n"})
    with pytest.raises(ValueError):
        DecodedEvent(
            dialect=DialectName.KOYWE,
            provider=None,
            provider_event="x",
            provider_order_id="o",
            dedupe_key="k",
            occurred_at=datetime(2024, 1, 1),
            side=None,
            status=None,
            patch={},
            raw={},
        )


def test_the_decoded_event_maker_is_the_keyword_constructor() -> None:
    """``decoded_event`` takes the same keywords and defaults, and runs ``__post_init__``."""
    values: dict[str, Any] = {
        "dialect": DialectName.TRANSAK,
        "provider": Provider.TRANSAK,
        "provider_event": "ORDER_COMPLETED/COMPLETED",
        "provider_order_id": "o",
        "dedupe_key": "o:COMPLETED",
        "occurred_at": NOW.astimezone(timezone(timedelta(hours=5))),  # made UTC by both
        "side": Side.BUY,
        "status": S.COMPLETED,
        "patch": {"note": "n"},
        "raw": {"a": 1},
    }
    extra: dict[str, Any] = {"issues": ("x: bad",), "timed": False, "raw_json": b"{}"}
    for given in (values, {**values, **extra}):
        made, expected = decoded_event(**given), DecodedEvent(**given)
        assert type(made) is DecodedEvent
        assert {f.name: getattr(made, f.name) for f in dataclasses.fields(DecodedEvent)} == {
            f.name: getattr(expected, f.name) for f in dataclasses.fields(DecodedEvent)
        }
        assert made.occurred_at.tzinfo is UTC
    with pytest.raises(ValueError):
        decoded_event(**{**values, "occurred_at": datetime(2024, 1, 1)})
    with pytest.raises(TypeError):
        decoded_event(**{**values, "colour": "red"})
    with pytest.raises(TypeError):
        decoded_event(**{k: v for k, v in values.items() if k != "raw"})
