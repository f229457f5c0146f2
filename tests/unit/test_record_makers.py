"""The publishers' records made through their slots (``types.record_maker``, ``new_order``)
equal the ones the keyword constructors make, field by field: a value in the wrong place of a
maker's tuple fails here."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.dialects.strategies import standard

from rampwire.dialects import base as dialects_base
from rampwire.dialects.base import DecodedEvent, DialectName
from rampwire.domain.events import Event, Source, created_event, order_events
from rampwire.domain.fold import ChangeResult, HeldOrder, ProviderUpdate, fold
from rampwire.domain.lifecycle import Change, Outcome, Stamps, merge, stamps_of
from rampwire.domain.orders import (
    DATA_FIELDS,
    AmountMismatch,
    Order,
    OrderData,
    OrderStatus,
    Provider,
    Side,
    new_order,
)
from rampwire.domain.timeline import EntryKind, TimelineEntry, change_entry, created_entry
from rampwire.ingest.inbound import InboundOutcome, InboundRecord, InboundRequest, kept_headers
from rampwire.repository import inbound, provider_orders
from rampwire.repository import orders as repository

NOW = datetime(2026, 12, 6, 11, 0, 0, 123456, tzinfo=UTC)
LATER = NOW + timedelta(seconds=5)
SOURCE = Source(provider="transak", provider_event="e1", received_at=NOW)

any_orders = st.sampled_from(list(Side)).flatmap(
    lambda side: st.sampled_from(list(OrderStatus)).flatmap(lambda status: standard(side, status))
)


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def _same(made: Any, expected: Any) -> None:
    """Equal, of the same type, and every field the same object or an equal one."""
    assert type(made) is type(expected)
    assert _fields(made) == _fields(expected)
    assert made == expected


@given(any_orders, st.sampled_from(list(OrderStatus)), st.none() | st.just("pt_1"))
@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
def test_new_order_is_the_keyword_constructors(
    order: Order, status: OrderStatus, partner: str | None
) -> None:
    data = OrderData(**{name: getattr(order, name) for name in DATA_FIELDS})
    made = new_order(
        data,
        id="ord_x",
        status=status,
        version=3,
        created_at=NOW,
        updated_at=LATER,
        partner_id=partner,
    )
    expected = Order(
        **{name: getattr(data, name) for name in DATA_FIELDS},
        id="ord_x",
        status=status,
        version=3,
        created_at=NOW,
        updated_at=LATER,
        partner_id=partner,
    )
    _same(made, expected)
    assert all(getattr(made, name) is getattr(data, name) for name in DATA_FIELDS)


def test_new_order_runs_the_orders_checks() -> None:
    data = OrderData(side=Side.BUY, provider=Provider.SABER, provider_order_id="s1")
    object.__setattr__(data, "provider_order_id", None)  # past OrderData's own check
    with pytest.raises(ValueError, match="go together"):
        new_order(
            data,
            id="ord_x",
            status=OrderStatus.CREATED,
            version=1,
            created_at=NOW,
            updated_at=NOW,
            partner_id=None,
        )


def _order() -> Order:
    return Order(
        side=Side.BUY,
        note="n",
        id="ord_1",
        status=OrderStatus.PROCESSING,
        version=4,
        created_at=NOW,
        updated_at=NOW,
        partner_id="pt_1",
    )


def test_a_created_event_and_entry_are_the_keyword_constructors() -> None:
    order = _order()
    event = created_event(order, SOURCE, now=LATER)
    _same(
        event,
        Event(
            id=event.id,
            type="order.processing",
            created_at=LATER,
            order_id="ord_1",
            sequence=4,
            payload=event.payload,
        ),
    )
    entry = created_entry(order, LATER, event, SOURCE, actor="key_1")
    _same(
        entry,
        TimelineEntry(
            order_id="ord_1",
            seq=1,
            kind=EntryKind.CREATED,
            recorded_at=NOW,
            occurred_at=LATER,
            status="processing",
            from_status="processing",
            to_status="processing",
            version=4,
            changed_fields=(),
            event_ids=(event.id,),
            source=SOURCE,
            actor="key_1",
        ),
    )


@pytest.mark.parametrize("with_fields", [False, True])
def test_a_merge_and_its_entry_are_the_keyword_constructors(with_fields: bool) -> None:
    order = _order()
    stamps = Stamps(
        status_at=NOW, fields={"note": NOW, "wallet_tag": NOW}, ranks={"wallet_tag": (3, 1)}
    )
    mismatch = AmountMismatch(received=Decimal("1.5"))  # an anomaly as well
    patch = {"note": "m", "amount_mismatch": mismatch} if with_fields else {}
    change = Change(occurred_at=LATER, status=OrderStatus.DELIVERY_SENT, patch=patch)
    outcome = merge(order, stamps, change, strict=True, now=LATER)
    changed = ("amount_mismatch", "note") if with_fields else ()
    new = order.evolve(
        **{name: patch[name] for name in changed},
        status=OrderStatus.DELIVERY_SENT,
        version=6 if with_fields else 5,
        updated_at=LATER,
    )
    fields = (
        {"note": LATER, "wallet_tag": NOW, "amount_mismatch": LATER}
        if with_fields
        else stamps.fields
    )
    _same(
        outcome,
        Outcome(
            order=new,
            stamps=Stamps(status_at=LATER, fields=fields, ranks={"wallet_tag": (3, 1)}),
            previous_status=OrderStatus.PROCESSING,
            status_result=outcome.status_result,
            changed_fields=changed,
            anomaly=outcome.anomaly,
        ),
    )
    assert (outcome.anomaly is not None) is with_fields
    events = order_events(outcome, SOURCE, now=LATER)
    entry = change_entry(outcome, change, events, SOURCE, LATER, seq=7, actor="a", note="n2")
    _same(
        entry,
        TimelineEntry(
            order_id="ord_1",
            seq=7,
            kind=EntryKind.APPLIED,
            recorded_at=LATER,
            occurred_at=LATER,
            status="delivery_sent",
            from_status="processing",
            to_status="delivery_sent",
            version=new.version,
            changed_fields=changed,
            event_ids=tuple(e.id for e in events),
            source=SOURCE,
            anomaly=None
            if outcome.anomaly is None
            else {
                "code": "amount_mismatch",
                "detail": outcome.anomaly.detail,
                "statuses": ["amount_mismatch"],
            },
            actor="a",
            note="n2",
        ),
    )
    held = HeldOrder(order=order, stamps=stamps, seq=6)
    result = fold(held, change, source=SOURCE, strict=True, now=LATER)
    _same(
        result,
        ChangeResult(
            order=held.order, outcome=result.outcome, events=result.events, entry=result.entry
        ),
    )
    assert result.order == new


def test_stamps_of_is_the_keyword_constructors() -> None:
    _same(
        stamps_of((NOW, {"a": NOW}, {"a": (1, 0)})),
        Stamps(status_at=NOW, fields={"a": NOW}, ranks={"a": (1, 0)}),
    )


@pytest.mark.parametrize(
    ("maker", "cls"),
    [
        (repository._create_result, repository.CreateResult),
        (repository._create_job, repository._CreateJob),
        (repository._change_job, repository._ChangeJob),
    ],
)
def test_the_repositorys_makers_put_each_value_in_its_field(maker: Any, cls: type) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    values = tuple(object() for _ in names)
    made = maker(values)
    assert all(getattr(made, name) is value for name, value in zip(names, values, strict=True))


@pytest.mark.parametrize(
    ("maker", "cls"),
    [
        (inbound._record, InboundRecord),
        (inbound._result, inbound.IngestResult),
        (inbound._source, Source),
        (inbound._update, ProviderUpdate),
        (provider_orders._provider_change, provider_orders.ProviderChange),
        (dialects_base._change, Change),
    ],
)
def test_ingests_makers_put_each_value_in_its_field(maker: Any, cls: type) -> None:
    test_the_repositorys_makers_put_each_value_in_its_field(maker, cls)


def test_a_decoded_events_change_is_the_keyword_constructors() -> None:
    event = DecodedEvent(
        dialect=DialectName.SABER,
        provider=Provider.SABER,
        provider_event="ONRAMP_COMPLETED",
        provider_order_id="s1",
        dedupe_key="e1",
        side=Side.BUY,
        occurred_at=NOW,
        status=OrderStatus.COMPLETED,
        patch={"note": "x"},
        raw={},
        timed=False,
    )
    made = event.change()
    _same(
        made,
        Change(occurred_at=NOW, status=OrderStatus.COMPLETED, patch={"note": "x"}, timed=False),
    )
    assert made.patch is not event.patch


def test_a_new_log_record_is_the_keyword_constructors() -> None:
    source = SimpleNamespace(id="src_1", provider=Provider.SABER)
    request = InboundRequest(
        headers={"X-Saber": "a", "Authorization": "secret"},
        body=b"{}",
        received_at=NOW,
        peer_ip="10.0.0.1",
    )
    event = DecodedEvent(
        dialect=DialectName.SABER,
        provider=Provider.SABER,
        provider_event="ONRAMP_COMPLETED",
        provider_order_id="s1",
        dedupe_key="e1",
        side=Side.BUY,
        occurred_at=NOW,
        status=OrderStatus.COMPLETED,
        patch={},
        raw={},
    )
    job = inbound._Job(
        source=source,  # type: ignore[arg-type]
        request=request,
        events=[event],
        now=LATER,
        key=("src_1", "k1"),
        trace=None,
    )
    applied = inbound._Applied(order_id="ord_1")
    applied.outcomes.append(InboundOutcome.APPLIED)
    applied.details.append("d")
    made = inbound._new_record(job, applied)
    _same(
        made,
        InboundRecord(
            id=made.id,
            source_id="src_1",
            provider=Provider.SABER,
            dedupe_key="k1",
            received_at=NOW,
            processed_at=LATER,
            outcome=InboundOutcome.APPLIED,
            detail="d",
            provider_order_id="s1",
            order_id="ord_1",
            provider_event="ONRAMP_COMPLETED",
            event_ids=(),
            headers=kept_headers(request.headers),
            body="{}",
            peer_ip="10.0.0.1",
            attempts=1,
        ),
    )
