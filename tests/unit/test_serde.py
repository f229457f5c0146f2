"""An order's JSON, made once by pydantic's ``to_json`` and reused, against the reference path
(``dump`` to JSON-ready values, then orjson): the webhook bodies are signed, so byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from tests.unit.dialects.strategies import standard

from rampwire.domain import serde
from rampwire.domain.events import Source, created_event, order_events
from rampwire.domain.lifecycle import Anomaly, Outcome, Stamps, StatusResult
from rampwire.domain.orders import (
    DATA_FIELDS,
    PATCHABLE_FIELDS,
    Order,
    OrderData,
    OrderStatus,
    Side,
)

NOW = datetime(2026, 12, 6, 11, 0, 0, 123456, tzinfo=UTC)

any_orders = st.sampled_from(list(Side)).flatmap(
    lambda side: st.sampled_from(list(OrderStatus)).flatmap(lambda status: standard(side, status))
)


def envelope_by_dump(event_id: str, event_type: str, order: Order, data: dict) -> bytes:
    """The envelope as it was built before the order's bytes were reused."""
    return serde.to_json(
        {
            "id": event_id,
            "type": event_type,
            "created_at": NOW,
            "data": {"order": serde.dump(order), **data},
        }
    )


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(any_orders)
def test_an_orders_json_is_its_dumped_values_serialised(order: Order) -> None:
    reference = serde.to_json(serde.dump(order))
    assert serde.order_to_json(order) == reference
    assert serde.order_to_json(order) == reference  # from the memo
    assert serde.order_to_json(order.evolve()) == reference  # a new record, serialised afresh


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(any_orders)
def test_an_orders_json_parsed_is_its_dumped_values(order: Order) -> None:
    """An API create's response (and idempotency record) is read from the order's JSON."""
    assert serde.from_json(serde.order_to_json(order)) == serde.dump(order)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(any_orders)
def test_an_orders_json_validated_is_the_order(order: Order) -> None:
    """What lets a body this process wrote read back as the record it wrote (``OrderBodies``)."""
    assert serde.order_from_json(serde.order_to_json(order)) == order


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(any_orders, st.sampled_from([None, "transak"]))
def test_event_payloads_are_byte_identical_to_the_dumped_envelope(
    order: Order, provider: str | None
) -> None:
    source = Source(
        provider=provider, provider_event=provider and "ORDER_COMPLETED", received_at=NOW
    )
    source_values = {"provider": provider, "provider_event": source.provider_event}
    created = created_event(order, source, now=NOW)
    assert created.payload == envelope_by_dump(
        created.id,
        f"order.{order.status.value}",
        order,
        {
            "previous_status": None,
            "sequence": order.version,
            "source": {**source_values, "received_at": NOW},
        },
    )
    changed = order.evolve(version=order.version + 1)
    outcome = Outcome(
        order=changed,
        previous_status=order.status,
        status_result=StatusResult.SAME,
        changed_fields=("note",),
        anomaly=Anomaly(code="terminal_conflict", detail="x", statuses=("completed", "failed")),
        stamps=Stamps(status_at=NOW),
    )
    updated, anomaly = order_events(outcome, source, now=NOW)
    sent_from = {**source_values, "received_at": NOW}
    assert updated.payload == envelope_by_dump(
        updated.id,
        "order.updated",
        order,  # the anomaly takes the last version: this one has the version before
        {"previous_status": order.status.value, "sequence": order.version, "source": sent_from},
    )
    assert anomaly.payload == envelope_by_dump(
        anomaly.id,
        "order.anomaly",
        changed,
        {
            "previous_status": order.status.value,
            "sequence": changed.version,
            "source": sent_from,
            "anomaly": {
                "code": "terminal_conflict",
                "detail": "x",
                "statuses": ["completed", "failed"],
            },
        },
    )


def test_the_memo_is_bounded_and_still_right_after_evictions() -> None:
    order = Order(
        id="ord_1",
        side=Side.BUY,
        status=OrderStatus.CREATED,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    made = [order.evolve(version=n) for n in range(serde.ORDER_JSON_KEPT + 10)]
    for each in made:
        assert serde.order_to_json(each) == serde.to_json(serde.dump(each))
    assert len(serde._ORDER_JSON) <= serde.ORDER_JSON_KEPT
    assert serde.order_to_json(made[0]) == serde.to_json(serde.dump(made[0]))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    any_orders,
    st.sampled_from(list(OrderStatus)),
    st.integers(min_value=1, max_value=2**40),
    st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC)),
    st.none() | st.text(),
)
def test_an_evolved_orders_json_made_from_its_parents_is_its_own(
    order: Order, status: OrderStatus, version: int, updated_at: datetime, partner: str | None
) -> None:
    """A change of status, version and time writes the end of the order's JSON anew
    (``serde.evolved``): the bytes pydantic writes for the new order."""
    order = order.evolve(partner_id=partner)
    new = order.evolve(status=status, version=version, updated_at=updated_at)
    serde.order_to_json(order)
    serde.evolved(order, new)
    assert id(new) in serde._ORDER_JSON  # made from the parent's, not serialised
    assert serde.order_to_json(new) == serde.to_json(serde.dump(new))
    changed = order.evolve(note="another", version=version)  # a data field: serialised afresh
    serde.evolved(order, changed)
    assert id(changed) not in serde._ORDER_JSON
    assert serde.order_to_json(changed) == serde.to_json(serde.dump(changed))


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(get_type_hints(OrderData, include_extras=True)[name])


def _patch_field_by_field(raw: dict[str, Any]) -> dict[str, Any] | list[tuple[str, str]]:
    """``load_patch`` as it was: each field by its own validator, errors in the patch's order."""
    errors: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in PATCHABLE_FIELDS:
            fixed = name in DATA_FIELDS
            errors.append(
                (name, "is fixed when the order is created" if fixed else "is not an order field")
            )
            continue
        try:
            values[name] = _field_adapter(name).validate_python(value)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in (name, *err["loc"]))
                errors.append((loc, serde.error_reason(err)))
    return errors or values


_DRIFTS = st.sampled_from(
    [
        ("fiat", {"currency": "", "amount": "1"}),
        ("fiat", {"currency": "EUR", "amount": 1.5}),
        ("crypto", {"asset": "ETH", "amount": "-1", "extra": 1}),
        ("fees", [{"type": "nope", "amount": "x"}]),
        ("expires_at", "2026-01-01T00:00:00"),
        ("exchange_rate", "NaN"),
        ("wallet_address", 7),
        ("side", "buy"),
        ("colour", "red"),
        ("metadata", {"k": 1}),
    ]
)


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(any_orders, st.randoms(use_true_random=False), st.lists(_DRIFTS, max_size=3))
def test_a_patch_is_read_as_field_by_field_validation_reads_it(
    order: Order, random: Any, drifts: list[tuple[str, Any]]
) -> None:
    """Each field by its validator, found by name: the same values, in the patch's order;
    a patch with a bad field gets the same errors, in the same order."""
    dumped = serde.dump(order)
    names = [name for name in PATCHABLE_FIELDS if random.random() < 0.6]
    random.shuffle(names)
    raw = {name: dumped[name] for name in names}
    raw.update(drifts)
    expected = _patch_field_by_field(raw)
    try:
        found: Any = serde.load_patch(raw)
    except serde.PatchError as exc:
        found = exc.errors
    assert found == expected
    if isinstance(found, dict):
        assert list(found) == list(raw)
        assert [type(v) for v in found.values()] == [type(v) for v in expected.values()]


def test_prepare_patches_builds_every_patch_validator_up_front(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server builds them all before its first request; until then a patch builds only its
    own fields' (a CLI command pays for none)."""
    monkeypatch.setattr(serde, "_FIELD_VALIDATORS", {})
    serde.load_patch({"wallet_address": "0xabc"})
    assert set(serde._FIELD_VALIDATORS) == {"wallet_address"}
    serde.prepare_patches()
    assert set(serde._FIELD_VALIDATORS) == set(PATCHABLE_FIELDS)
    assert serde.load_patch({"wallet_address": "0xdef"}) == {"wallet_address": "0xdef"}
