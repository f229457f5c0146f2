"""The standard dialect: canonical envelope, Standard Webhooks signatures."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from rampwire.dialects import (
    DialectName,
    InvalidCredentials,
    MalformedHeader,
    MissingHeader,
    OutboundEvent,
    SignatureMismatch,
    TimestampOutOfWindow,
)
from rampwire.dialects import standard as std
from rampwire.domain import serde
from rampwire.domain.events import Source, created_event
from rampwire.domain.orders import Order, OrderStatus, Side
from rampwire.settings import Secret
from rampwire.types import utcnow

from . import strategies
from .support import NOW, STANDARD_SECRET, check_round_trip, decode_or_dialect_error

CREDS = std.credentials_from_secrets([STANDARD_SECRET])
ORDER_EXAMPLE = strategies.standard(Side.BUY, OrderStatus.PROCESSING)


def _order() -> Order:
    from rampwire.dialects.samples import sample_order

    return sample_order(DialectName.STANDARD, OrderStatus.PROCESSING, Side.BUY, now=NOW)


def _event(order: Order) -> OutboundEvent:
    return OutboundEvent(
        id="evt_01HMB3K2Y5Z7QF0000000000EV", type="order.processing", created_at=NOW
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), side=st.sampled_from(list(Side)), status=strategies.statuses)
def test_round_trip_carries_the_whole_order(data: Any, side: Side, status: OrderStatus) -> None:
    order = data.draw(strategies.standard(side, status).map(lambda o: o.evolve(status=status)))
    decoded = check_round_trip(DialectName.STANDARD, order, status)
    assert decoded.patch == order.data()
    assert decoded.status is status
    assert decoded.provider is None


def test_the_standardwebhooks_package_verifies_what_we_sign() -> None:
    order = _order()
    now = utcnow()  # the package checks against the real clock
    request = std.encode(_event(order), order, CREDS, now=now)
    payload = Webhook(STANDARD_SECRET).verify(request.body, request.headers)
    assert payload["id"] == "evt_01HMB3K2Y5Z7QF0000000000EV"
    assert serde.load(Order, payload["data"]["order"]) == order


def test_we_verify_what_the_standardwebhooks_package_signs() -> None:
    body = std.envelope(_event(_order()), _order())
    now = utcnow()
    signature = Webhook(STANDARD_SECRET).sign("msg_1", now, body.decode())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    [decoded] = std.decode(headers, body, CREDS, now=now)
    assert decoded.dedupe_key == "msg_1"


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    old, new = std.generate_secret(), std.generate_secret()
    both = std.credentials_from_secrets([new, old])
    order, now = _order(), utcnow()
    request = std.encode(_event(order), order, both, now=now)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(request.body, request.headers)
        std.decode(request.headers, request.body, std.credentials_from_secrets([secret]), now=now)


def test_a_stored_payload_is_sent_verbatim_on_every_attempt() -> None:
    order = _order()
    stored = created_event(order, Source(received_at=NOW), now=NOW)
    first = std.encode(stored, order, CREDS, now=NOW)
    later = std.encode(stored, order, CREDS, now=NOW + timedelta(hours=2))
    assert first.body == later.body == stored.payload
    assert first.headers["webhook-id"] == later.headers["webhook-id"] == stored.id
    assert first.headers["webhook-signature"] != later.headers["webhook-signature"]
    assert std.sign(stored.id, stored.payload, CREDS, now=NOW) == first
    event, snapshot = std.stored_event(stored.payload)
    assert snapshot == order
    assert (event.id, event.type, event.created_at, event.payload) == (
        stored.id,
        stored.type,
        stored.created_at,
        stored.payload,
    )


def test_non_order_events_decode_to_nothing() -> None:
    body = orjson.dumps(
        {
            "id": "evt_x",
            "type": "endpoint.disabled",
            "created_at": "2024-01-15T10:30:00Z",
            "data": {"endpoint_id": "ep_1"},
        }
    )
    request = std.sign("evt_x", body, CREDS, now=NOW)
    assert std.decode(request.headers, request.body, CREDS, now=NOW) == []


def _signed() -> tuple[dict[str, str], bytes]:
    order = _order()
    request = std.encode(_event(order), order, CREDS, now=NOW)
    return request.headers, request.body


def _flip(body: bytes) -> bytes:
    return body[:10] + bytes([body[10] ^ 1]) + body[11:]


TAMPERING: list[tuple[str, Any, type[Exception]]] = [
    ("body byte flipped", lambda h, b: (h, _flip(b)), SignatureMismatch),
    ("missing webhook-id", lambda h, b: ({**h, "webhook-id": ""}, b), MissingHeader),
    (
        "missing timestamp",
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-timestamp"}, b),
        MissingHeader,
    ),
    (
        "missing signature",
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        MissingHeader,
    ),
    ("other message id", lambda h, b: ({**h, "webhook-id": "evt_other"}, b), SignatureMismatch),
    (
        "stale timestamp",
        lambda h, b: ({**h, "webhook-timestamp": str(int(NOW.timestamp()) - 301)}, b),
        TimestampOutOfWindow,
    ),
    (
        "future timestamp",
        lambda h, b: ({**h, "webhook-timestamp": str(int(NOW.timestamp()) + 301)}, b),
        TimestampOutOfWindow,
    ),
    (
        "huge timestamp",
        lambda h, b: ({**h, "webhook-timestamp": "9" * 16}, b),
        TimestampOutOfWindow,
    ),
    (
        "exotic digits",
        lambda h, b: ({**h, "webhook-timestamp": "\uff11\uff17\uff10\uff15"}, b),
        MalformedHeader,
    ),
    ("negative timestamp", lambda h, b: ({**h, "webhook-timestamp": "-1"}, b), MalformedHeader),
    ("no comma", lambda h, b: ({**h, "webhook-signature": "v1"}, b), MalformedHeader),
    (
        "only v2",
        lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b),
        SignatureMismatch,
    ),
    (
        "truncated",
        lambda h, b: ({**h, "webhook-signature": h["webhook-signature"][:-6]}, b),
        SignatureMismatch,
    ),
    (
        "timestamp replaced",
        lambda h, b: ({**h, "webhook-timestamp": str(int(NOW.timestamp()) - 1)}, b),
        SignatureMismatch,
    ),
]


@pytest.mark.parametrize(("case", "tamper", "error"), TAMPERING, ids=[c[0] for c in TAMPERING])
def test_tampering_is_refused(case: str, tamper: Any, error: type[Exception]) -> None:
    headers, body = tamper(*_signed())
    with pytest.raises(error):
        std.decode(headers, body, CREDS, now=NOW)


def test_the_wrong_secret_is_refused() -> None:
    headers, body = _signed()
    other = std.credentials_from_secrets([std.generate_secret()])
    with pytest.raises(SignatureMismatch):
        std.decode(headers, body, other, now=NOW)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", ""])
def test_unusable_secrets_are_refused_up_front(secret: str) -> None:
    with pytest.raises(InvalidCredentials):
        std.credentials_from_secrets([secret])


def test_secrets_without_prefix_or_padding_are_accepted() -> None:
    key = base64.b64encode(b"k" * 24).decode().rstrip("=")
    assert std.credentials_from_secrets([key]).keys == (b"k" * 24,)


@settings(max_examples=60, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "x"]),
        st.text(max_size=40),
    ),
    body=st.binary(max_size=200),
)
def test_random_requests_raise_only_dialect_errors(headers: dict[str, str], body: bytes) -> None:
    decode_or_dialect_error(DialectName.STANDARD, headers, body)


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=200)
    | strategies.json_values.map(
        lambda v: orjson.dumps({"id": "e", "type": "order.created", "data": {"order": v}})
    )
)
def test_authentic_garbage_raises_only_dialect_errors(body: bytes) -> None:
    request = std.sign("evt_1", body, CREDS, now=NOW)
    decode_or_dialect_error(DialectName.STANDARD, request.headers, request.body)


@given(st.text(alphabet="ABCabc019+/=-_ \né", max_size=48))
@example("0" * 5)
def test_secret_keys_decode_as_b64decode_validate_does(value: str) -> None:
    """``_key`` decodes as ``base64.b64decode(validate=True)`` does, calling binascii itself:
    the same keys, the same refusals (an empty key is refused too)."""
    padded = value + "=" * (-len(value) % 4)
    expected: bytes | None
    try:
        expected = base64.b64decode(padded, validate=True) or None
    except ValueError:  # binascii.Error is one
        expected = None
    got: bytes | None
    try:
        got = std._key(Secret(std.SECRET_PREFIX + value))
    except std.InvalidCredentials:
        got = None
    assert got == expected


@given(st.lists(st.text(alphabet="ABCabc019+/=-_", max_size=24), max_size=3))
@example([])
@example(["", "AAAA"])
def test_hmac_credentials_are_what_the_keyword_constructor_makes(values: list[str]) -> None:
    """``hmac_credentials`` (through the slots) makes what ``StandardCredentials(secrets=)``
    makes, keys and defaults included, and refuses what it refuses, with the same error."""
    secrets = tuple(Secret(std.SECRET_PREFIX + value) for value in values)
    expected: std.StandardCredentials | str
    try:
        expected = std.StandardCredentials(secrets=secrets)
    except std.InvalidCredentials as exc:
        expected = str(exc)
    got: std.StandardCredentials | str
    try:
        got = std.hmac_credentials(secrets)
    except std.InvalidCredentials as exc:
        got = str(exc)
    assert got == expected
    if isinstance(got, std.StandardCredentials) and isinstance(expected, std.StandardCredentials):
        assert got.keys == expected.keys
        assert (got.ed25519_key, got.hmac_signatures) == (None, True)
