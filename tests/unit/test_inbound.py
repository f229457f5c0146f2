"""The inbound log's de-duplication key: what was verified, whatever the bytes around it."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from rampwire.dialects import koywe as ky
from rampwire.dialects import transak as tk
from rampwire.dialects.base import DialectName, OutboundEvent
from rampwire.dialects.jsjson import stringify
from rampwire.dialects.samples import sample_order
from rampwire.dialects.wire import canonical
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.ingest.inbound import KEPT_HEADERS_EXCLUDED, dedupe_key, kept_headers
from rampwire.settings import Secret

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
SECRET = "inbound-secret-0123456789"
KOYWE = ky.credentials_from_secrets([SECRET])
TRANSAK = tk.credentials_from_secrets([SECRET])


def _koywe_body(event: str = "crypto_delivered") -> bytes:
    payload = {"eventName": event, "orderId": "po-1", "timeStamp": "2024-01-15T10:29:59.000Z"}
    return stringify({**payload, "signature": ky.signature(payload, Secret(SECRET))})


def _koywe_key(body: bytes) -> str:
    return dedupe_key(Provider.KOYWE, ky.decode({}, body, KOYWE, now=NOW), body)


def _transak_body() -> bytes:
    order = sample_order(DialectName.TRANSAK, OrderStatus.COMPLETED, Side.BUY, now=NOW)
    event = OutboundEvent(id="evt_1", type="order.completed", created_at=NOW)
    return tk.encode(event, order, TRANSAK, now=NOW).body


def _transak_key(body: bytes) -> str:
    return dedupe_key(Provider.TRANSAK, tk.decode({}, body, TRANSAK, now=NOW), body)


def test_whitespace_escapes_and_key_order_do_not_make_a_new_request() -> None:
    body = _koywe_body()
    variants = [
        body,
        body.replace(b",", b" ,\n\t"),
        b"  " + body + b"\r\n",
        body.replace(b"crypto_delivered", b"crypto\\u005fdelivered"),
        orjson.dumps(  # the signature moved first: the signed members keep their order
            {"signature": orjson.loads(body)["signature"]} | orjson.loads(body)
        ),
    ]
    assert len({_koywe_key(v) for v in variants}) == 1


def test_an_unsigned_outer_key_beside_the_jwt_does_not_make_a_new_request() -> None:
    body = _transak_body()
    token = orjson.loads(body)["data"]
    variants = [
        body,
        orjson.dumps({"data": token, "extra": 1}),
        orjson.dumps({"padding": "x" * 100, "data": token}),
        b'{ "data" : "' + token.encode() + b'" }',
    ]
    assert len({_transak_key(v) for v in variants}) == 1


def test_a_different_event_or_content_is_a_new_request() -> None:
    assert _koywe_key(_koywe_body()) != _koywe_key(_koywe_body("crypto_tx_failed"))
    other_time = _koywe_body().replace(b"10:29:59", b"10:29:58")
    payload = {k: v for k, v in orjson.loads(other_time).items() if k != "signature"}
    resigned = stringify({**payload, "signature": ky.signature(payload, Secret(SECRET))})
    assert _koywe_key(resigned) != _koywe_key(_koywe_body())


def test_a_dialects_kept_canonical_json_is_the_one_the_key_would_make() -> None:
    # Transak and Revolut keep the canonical JSON their parse wrote (raw_json); the key is the
    # one canonical(raw) gives, for one event and for several
    events = tk.decode({}, _transak_body(), TRANSAK, now=NOW)
    assert events[0].raw_json == canonical(events[0].raw)
    without = [dataclasses.replace(e, raw_json=None) for e in events]
    mixed = [*events, *without]  # some kept, some not
    for batch, plain in ((events, without), (events * 2, without * 2), (mixed, without * 2)):
        assert dedupe_key(Provider.TRANSAK, batch, b"") == dedupe_key(Provider.TRANSAK, plain, b"")
        content = canonical([e.raw for e in plain])
        assert dedupe_key(Provider.TRANSAK, batch, b"").endswith(
            hashlib.sha256(content).hexdigest()[:32]
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "application/json", "x-signature": "s", "authorization": "Bearer t"},
        {"Content-Type": "application/json", "Authorization": "t", "X-Api-Key": "k"},
        {"x-a": "1", "X-A": "2", "cookie": "c"},  # one name once lower-cased: the last value
        {"1-2": "digits only", "x-b": "b"},
        {"İ-header": "dotted capital I", "ǅ": "titlecase"},
        {"proxy-authorization": "p", "x-api-key": "k", "x-webhook-token": "t"},
    ],
)
def test_kept_headers_are_the_lower_cased_names_without_credentials(
    headers: dict[str, str],
) -> None:
    expected = {
        name.lower(): value
        for name, value in headers.items()
        if name.lower() not in KEPT_HEADERS_EXCLUDED
    }
    kept = kept_headers(headers)
    assert kept == expected
    assert list(kept) == list(expected)  # in the order received
    assert kept is not headers
