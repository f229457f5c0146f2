"""The fan-out rule with partners (``repository.outbox.fan_out``, no database): an event of a
partner's order reaches that partner's matching endpoints and the operator endpoints that
subscribe to all partners or list it, never another partner's; an operator order's event
reaches the operator's endpoints only; the deliveries come in the order of the events, and of
the endpoints for each. A property over random partners, endpoints, event-type filters and
events."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.delivery.endpoints import matches
from rampwire.domain.events import Event
from rampwire.repository.outbox import Subscriber, fan_out
from rampwire.storage.database import Writes

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PARTNERS = ["ptn_a", "ptn_b", "ptn_c"]
TYPES = ["order.created", "order.completed", "order.failed"]
FILTERS = [("*",), ("order.*",), ("order.completed",), ("order.failed", "order.created")]

owners = st.sampled_from([None, *PARTNERS])  # None: the operator


@st.composite
def endpoints(draw: st.DrawFn) -> list[Subscriber]:
    found = []
    for index in range(draw(st.integers(0, 8))):
        owner = draw(owners)
        partners: list[str] = []
        if owner is None:
            partners = draw(
                st.one_of(st.just(["*"]), st.lists(st.sampled_from(PARTNERS), unique=True))
            )
        found.append(
            Subscriber.of(
                f"ep_{index}", list(draw(st.sampled_from(FILTERS))), "none", "standard", owner,
                partners,
            )
        )  # fmt: skip
    return found


@st.composite
def events(draw: st.DrawFn) -> tuple[list[Event], dict[str, str | None]]:
    found, whose = [], {}
    for index in range(draw(st.integers(1, 6))):
        order_id = f"ord_{index}"
        whose[order_id] = draw(owners)
        found.append(
            Event(
                id=f"evt_{index}",
                type=draw(st.sampled_from(TYPES)),
                created_at=NOW,
                order_id=order_id,
                sequence=1,
                payload=b"{}",
            )
        )
    return found, whose


def _deliveries(writes: Writes) -> set[tuple[str, str, str | None]]:
    """(endpoint, event, partner) of every delivery the fan-out wrote."""
    (write,) = writes._writes  # the one insert of deliveries
    return {(row[1], row[2], row[-1]) for row in write.rows}


@settings(max_examples=300)
@given(endpoints(), events())
def test_an_event_reaches_its_partners_endpoints_and_the_subscribed_operator_ones(
    subscribers: list[Subscriber], drawn: tuple[list[Event], dict[str, str | None]]
) -> None:
    batch, whose = drawn
    writes = Writes("sqlite")
    made = fan_out(writes, batch, subscribers, now=NOW, owners=whose)
    got = _deliveries(writes)
    assert made == len(got)
    for event in batch:
        partner = whose[event.order_id or ""]
        for endpoint in subscribers:
            wanted = matches(endpoint.event_types, event.type)
            if endpoint.owner is not None:  # a partner's endpoint: its own orders only
                wanted = wanted and endpoint.owner == partner
            elif partner is not None:  # an operator endpoint, a partner's order
                wanted = wanted and ("*" in endpoint.partners or partner in endpoint.partners)
            assert ((endpoint.id, event.id, partner) in got) == wanted, (endpoint, event, partner)
    for endpoint_id, _, partner in got:  # never another partner's endpoint
        owner = next(e.owner for e in subscribers if e.id == endpoint_id)
        assert owner is None or owner == partner
    # in the order of the events, and of the endpoints for each event
    (write,) = writes._writes
    in_order = [
        (endpoint.id, event.id)
        for event in batch
        for endpoint in subscribers
        if (endpoint.id, event.id, whose[event.order_id or ""]) in got
    ]
    assert [(row[1], row[2]) for row in write.rows] == in_order


def test_an_order_not_in_owners_is_the_operators() -> None:
    mine = Subscriber.of("ep_1", ["*"], "none", "standard", "ptn_a", None)
    operator = Subscriber.of("ep_2", ["*"], "none", "standard", None, None)
    event = Event(
        id="evt_1", type="order.created", created_at=NOW, order_id="ord_1", sequence=1,
        payload=b"{}",
    )  # fmt: skip
    writes = Writes("sqlite")
    assert fan_out(writes, [event], [mine, operator], now=NOW) == 1
    assert _deliveries(writes) == {("ep_2", "evt_1", None)}
