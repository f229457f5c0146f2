"""A body that names a JSON key twice is refused by every dialect, even when it is signed.

Parsers disagree on which of two values wins (most keep the last, some the first), so the value
a verifier checked and the value a reader of the raw log sees could differ (issue 16, item 3).
Each case below is authentic under the last-wins reading, so only the duplicate check refuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import orjson
import pytest

from rampwire.dialects import DIALECTS, DialectName, MalformedPayload, wire
from rampwire.dialects import koywe as ky
from rampwire.dialects import revolut as rv
from rampwire.dialects import saber as sb
from rampwire.dialects import standard as sd
from rampwire.dialects import transak as tk
from rampwire.dialects.base import OutboundEvent
from rampwire.dialects.errors import DuplicateKey
from rampwire.dialects.jose import b64url_encode
from rampwire.dialects.jsjson import stringify
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.settings import Secret

from . import strategies
from .support import ACCESS_TOKEN, NOW, SECRET, credentials_for, encode
from .test_fireblocks import signed as fireblocks_headers

S = OrderStatus
ORDERS = {
    DialectName.STANDARD: None,
    DialectName.REVOLUT: Provider.REVOLUT,
    DialectName.SABER: Provider.SABER,
    DialectName.FIREBLOCKS: Provider.FIREBLOCKS,
    DialectName.KOYWE: Provider.KOYWE,
    DialectName.TRANSAK: Provider.TRANSAK,
}


def _with_first_member(body: bytes, key: str, value: object) -> bytes:
    """``body`` with ``"key": value`` added as its first member (so the original one wins)."""
    return b"{" + orjson.dumps(key) + b":" + orjson.dumps(value) + b"," + body[1:]


def _revolut(body: bytes) -> dict[str, str]:
    ms = str(wire.to_ms(NOW))
    mac = wire.hmac_sha256(SECRET.encode(), f"v1.{ms}.".encode() + body).hex()
    return {
        "content-type": "application/json",
        rv.TIMESTAMP_HEADER: ms,
        rv.SIGNATURE_HEADER: f"v1={mac}",
    }


def _saber(body: bytes) -> dict[str, str]:
    ms = str(wire.to_ms(NOW))
    mac = wire.hmac_sha256(SECRET.encode(), f"{ms}.".encode() + body).hex()
    return {"content-type": "application/json", sb.TIMESTAMP_HEADER: ms, sb.SIGNATURE_HEADER: mac}


def _standard(body: bytes) -> dict[str, str]:
    credentials = credentials_for(DialectName.STANDARD)
    return sd.sign("msg_1", body, credentials, now=NOW).headers


def _fireblocks(body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", **fireblocks_headers(body)}


HEADER_SIGNED: dict[DialectName, tuple[str, Callable[[bytes], dict[str, str]]]] = {
    DialectName.STANDARD: ("type", _standard),
    DialectName.REVOLUT: ("event", _revolut),
    DialectName.SABER: ("status", _saber),
    DialectName.FIREBLOCKS: ("eventType", _fireblocks),
}


@pytest.mark.parametrize("name", list(HEADER_SIGNED), ids=str)
def test_a_signed_body_with_a_repeated_key_is_refused(name: DialectName) -> None:
    key, sign = HEADER_SIGNED[name]
    order = strategies.plain_order(Side.BUY, S.COMPLETED, ORDERS[name])
    body = encode(name, order, S.COMPLETED).body
    assert key in orjson.loads(body)
    doubled = _with_first_member(body, key, "something else")
    decode = DIALECTS[name].decode
    assert decode(sign(body), body, credentials_for(name), now=NOW)  # the signer is right
    with pytest.raises(DuplicateKey) as caught:
        decode(sign(doubled), doubled, credentials_for(name), now=NOW)
    assert caught.value.status == 400
    assert caught.value.extensions == {"key": key}
    assert repr(key) in caught.value.message


def test_a_koywe_body_with_a_repeated_key_is_refused() -> None:
    payload = {
        "eventName": "crypto_delivered",
        "orderId": "po-1",
        "timeStamp": wire.iso_ms(NOW),
    }
    signature = ky.signature(payload, Secret(SECRET))
    body = b'{"eventName":"payment_created",' + stringify(payload)[1:-1]
    body += b',"signature":"' + signature.encode() + b'"}'
    with pytest.raises(DuplicateKey, match="eventName"):
        ky.decode({}, body, ky.credentials_from_secrets([SECRET]), now=NOW)


def test_a_transak_body_with_an_unsigned_token_before_a_valid_one_is_refused() -> None:
    order = strategies.plain_order(Side.BUY, S.COMPLETED, Provider.TRANSAK)
    event = tk.encode(_event(), order, tk.credentials_from_secrets([ACCESS_TOKEN]), now=NOW).body
    valid = orjson.loads(event)["data"]
    claims = valid.split(".")[1]
    unsigned = f"{b64url_encode(orjson.dumps({'alg': 'none', 'typ': 'JWT'}))}.{claims}."
    body = orjson.dumps({"data": unsigned})[:-1] + b',"data":' + orjson.dumps(valid) + b"}"
    with pytest.raises(DuplicateKey, match="data"):
        tk.decode({}, body, tk.credentials_from_secrets([ACCESS_TOKEN]), now=NOW)


def test_a_repeated_key_in_a_jwt_header_is_refused() -> None:
    token = tk.sign_jwt(b'{"eventID":"x"}', Secret(ACCESS_TOKEN))
    header = b64url_encode(b'{"alg":"none","alg":"HS256","typ":"JWT"}')
    forged = orjson.dumps({"data": header + token[token.index(".") :]})
    with pytest.raises(MalformedPayload):
        tk.decode({}, forged, tk.credentials_from_secrets([ACCESS_TOKEN]), now=NOW)


@pytest.mark.parametrize("decimals", [True, False])
@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"a":1,"a":1}', "a"),
        (b'{"a":{"b":[{"c":1,"d":2,"c":3}]}}', "c"),
        (b'{"\\u0061":1,"a":2}', "a"),  # the same key, spelled with an escape
        (b'{"x":1,"' + b"k" * 200 + b'":1,"' + b"k" * 200 + b'":2}', "k" * 80 + "..."),
    ],
)
def test_the_parser_names_the_repeated_key_at_any_depth(
    body: bytes, key: str, decimals: bool
) -> None:
    with pytest.raises(DuplicateKey) as caught:
        wire.parse_object(body, decimals=decimals)
    assert caught.value.extensions == {"key": key}


def test_distinct_keys_at_different_depths_are_not_duplicates() -> None:
    value = wire.parse_object(b'{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}')
    assert value == {"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}


def _event() -> OutboundEvent:
    return OutboundEvent(id="evt_1", type="order.completed", created_at=NOW - timedelta(seconds=7))
