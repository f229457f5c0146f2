"""The Transak dialect: the order in an HS256 JWT keyed with the access token."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import jwt
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.dialects import (
    DialectName,
    InvalidCredentials,
    MalformedHeader,
    MalformedPayload,
    MissingSignature,
    MissingTimestamp,
    ProviderEvent,
    SignatureMismatch,
    TimestampOutOfWindow,
    TokenExpired,
    UnsupportedAlgorithm,
)
from rampwire.dialects import transak as tk
from rampwire.dialects.jose import b64url_encode, private_key_pem, public_key_pem
from rampwire.dialects.wire import iso_ms
from rampwire.domain.money import Crypto, Fee, FeeType, Money
from rampwire.domain.orders import OrderStatus, Payment, Provider, References, Side
from rampwire.settings import Secret

from . import strategies
from .support import (
    ACCESS_TOKEN,
    NOW,
    OLD_ACCESS_TOKEN,
    check_round_trip,
    decode_or_dialect_error,
    encode,
    signing_key,
)

S = OrderStatus
CREDS = tk.credentials_from_secrets([ACCESS_TOKEN, OLD_ACCESS_TOKEN])
WEBHOOK_DATA = (
    b'{"id":"37969614-900e-4032-af62-c1e558137f4e","walletAddress":"0xAb5801a7D398351b8bE11C439e05'
    b'C5B3259aeC9B","createdAt":"2024-01-15T10:00:00.000Z","status":"AWAITING_PAYMENT_FROM_USER",'
    b'"fiatCurrency":"EUR","cryptoCurrency":"ETH","isBuyOrSell":"BUY","fiatAmount":250.50,'
    b'"amountPaid":0,"cryptoAmount":0.0781234567890123456789,"conversionPrice":3150.12,'
    b'"totalFeeInFiat":3.49,"network":"ethereum","paymentOptionId":"credit_debit_card",'
    b'"partnerOrderId":"partner-42","partnerCustomerId":"customer-7","quoteId":"q-1",'
    b'"transactionHash":null,"transactionLink":null,"autoExpiresAt":"2024-01-15T11:00:00.000Z"}'
)


def claims(event_id: str = "ORDER_CREATED", data: bytes = WEBHOOK_DATA, **extra: Any) -> bytes:
    head = b'{"eventID":"' + event_id.encode() + b'","createdAt":"2024-01-15T10:29:00.000Z",'
    tail = b"".join(b',"' + k.encode() + b'":' + orjson.dumps(v) for k, v in extra.items())
    return head + b'"webhookData":' + data + tail + b"}"


def pyjwt_body(payload: bytes, key: Any = ACCESS_TOKEN, algorithm: str = "HS256") -> bytes:
    """A body signed by PyJWT, an independent implementation."""
    return orjson.dumps({"data": jwt.api_jws.encode(payload, key, algorithm=algorithm)})


def test_the_seed_shape_decodes_field_by_field() -> None:
    [event] = tk.decode({}, pyjwt_body(claims()), CREDS, now=NOW)
    assert event.provider_order_id == "37969614-900e-4032-af62-c1e558137f4e"
    assert event.provider_event == "ORDER_CREATED/AWAITING_PAYMENT_FROM_USER"
    assert event.status is S.AWAITING_PAYMENT
    assert event.side is Side.BUY
    assert event.occurred_at.isoformat() == "2024-01-15T10:29:00+00:00"
    assert event.dedupe_key == "37969614-900e-4032-af62-c1e558137f4e:AWAITING_PAYMENT_FROM_USER"
    assert event.issues == ()
    patch = event.patch
    assert patch["fiat"] == Money(currency="EUR", amount=Decimal("250.50"))
    assert patch["crypto"].amount == Decimal("0.0781234567890123456789")  # not a float
    assert patch["crypto"] == Crypto(
        asset="ETH", network="ethereum", amount=Decimal("0.0781234567890123456789")
    )
    assert patch["exchange_rate"] == Decimal("3150.12")
    assert patch["fees"] == (Fee(type=FeeType.TOTAL, amount=Decimal("3.49"), asset="EUR"),)
    assert patch["payment"] == Payment(option_id="credit_debit_card", amount_paid=Decimal(0))
    assert patch["references"] == References(
        partner_order_id="partner-42", partner_customer_id="customer-7", quote_id="q-1"
    )
    assert patch["wallet_address"] == "0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B"
    assert patch["expires_at"].isoformat() == "2024-01-15T11:00:00+00:00"
    assert "transaction_hash" not in patch


@pytest.mark.parametrize("event_id", ["ORDER_EXPIRED", "ORDER_FAILED"])
def test_expired_reads_under_either_event_id(event_id: str) -> None:
    data = WEBHOOK_DATA.replace(b"AWAITING_PAYMENT_FROM_USER", b"EXPIRED")
    [event] = tk.decode({}, pyjwt_body(claims(event_id, data)), CREDS, now=NOW)
    assert event.status is S.EXPIRED


def test_expired_is_sent_under_order_failed() -> None:
    order = strategies.plain_order(Side.SELL, S.EXPIRED, Provider.TRANSAK)
    token = orjson.loads(encode(DialectName.TRANSAK, order, S.EXPIRED, CREDS).body)["data"]
    payload = jwt.decode(token, ACCESS_TOKEN, algorithms=["HS256"])
    assert (payload["eventID"], payload["webhookData"]["status"]) == ("ORDER_FAILED", "EXPIRED")
    assert payload["webhookData"]["isBuyOrSell"] == "SELL"


def test_pyjwt_verifies_what_we_sign_and_money_stays_exact() -> None:
    order = strategies.plain_order(
        Side.BUY,
        S.COMPLETED,
        Provider.TRANSAK,
        fiat=Money(currency="EUR", amount=Decimal("0.10")),
        crypto=Crypto(asset="ETH", amount=Decimal("12345678901234567890.123456789")),
    )
    token = orjson.loads(encode(DialectName.TRANSAK, order, S.COMPLETED, CREDS).body)["data"]
    verified = jwt.api_jws.decode_complete(token, ACCESS_TOKEN, algorithms=["HS256"])
    assert verified["header"] == {"alg": "HS256", "typ": "JWT"}
    payload = json.loads(verified["payload"], parse_float=Decimal)
    assert payload["eventID"] == "ORDER_COMPLETED"
    assert payload["createdAt"] == "2024-01-15T10:29:53.123Z"
    assert payload["webhookData"]["fiatAmount"] == Decimal("0.10")
    assert payload["webhookData"]["cryptoAmount"] == Decimal("12345678901234567890.123456789")
    assert b'"fiatAmount":0.10,' in verified["payload"]  # a JSON number, written exactly
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, OLD_ACCESS_TOKEN, algorithms=["HS256"])


def test_the_previous_access_token_still_verifies() -> None:
    [event] = tk.decode({}, pyjwt_body(claims(), key=OLD_ACCESS_TOKEN), CREDS, now=NOW)
    assert event.status is S.AWAITING_PAYMENT
    only_new = tk.credentials_from_secrets([ACCESS_TOKEN])
    with pytest.raises(SignatureMismatch):
        tk.decode({}, pyjwt_body(claims(), key=OLD_ACCESS_TOKEN), only_new, now=NOW)


def test_an_unexpired_token_passes() -> None:
    exp = int((NOW + timedelta(minutes=1)).timestamp())
    assert tk.decode({}, pyjwt_body(claims(exp=exp)), CREDS, now=NOW)


def _raw_token(header: dict[str, Any], payload: bytes, signature: bytes = b"") -> bytes:
    token = f"{b64url_encode(orjson.dumps(header))}.{b64url_encode(payload)}."
    return orjson.dumps({"data": token + b64url_encode(signature)})


def _tampered_payload() -> bytes:
    token = orjson.loads(pyjwt_body(claims()))["data"]
    header, _, signature = token.split(".")
    forged = b64url_encode(claims().replace(b"250.50", b"2.50"))
    return orjson.dumps({"data": f"{header}.{forged}.{signature}"})


def _rs256() -> bytes:
    return pyjwt_body(claims(), key=private_key_pem(signing_key()), algorithm="RS256")


def _hs256_with_public_key() -> bytes:
    # the HS/RS confusion attack: the public key's PEM used as an HMAC secret
    token = jwt.api_jws.encode(claims(), ACCESS_TOKEN, algorithm="HS256")
    header, payload, _ = token.split(".")
    mac = hmac.new(public_key_pem(signing_key()), f"{header}.{payload}".encode(), hashlib.sha256)
    return orjson.dumps({"data": f"{header}.{payload}.{b64url_encode(mac.digest())}"})


def _claims_at(created: datetime | None, **extra: Any) -> bytes:
    """The seed's claims signed at ``created`` (None: without a createdAt claim)."""
    value = orjson.loads(claims(**extra))
    if created is None:
        del value["createdAt"]
    else:
        value["createdAt"] = iso_ms(created)
    return orjson.dumps(value)


TAMPERING: list[tuple[str, Any, type[Exception]]] = [
    ("alg none", lambda: _raw_token({"alg": "none"}, claims()), UnsupportedAlgorithm),
    ("alg None", lambda: _raw_token({"alg": "None", "typ": "JWT"}, claims()), UnsupportedAlgorithm),
    ("alg missing", lambda: _raw_token({"typ": "JWT"}, claims(), b"x"), UnsupportedAlgorithm),
    ("RS256", _rs256, UnsupportedAlgorithm),
    ("HS512", lambda: pyjwt_body(claims(), algorithm="HS512"), UnsupportedAlgorithm),
    ("HS/RS confusion", _hs256_with_public_key, SignatureMismatch),
    (
        "crit header",
        lambda: _raw_token({"alg": "HS256", "crit": ["x"]}, claims(), b"x"),
        UnsupportedAlgorithm,
    ),
    ("payload tampered", _tampered_payload, SignatureMismatch),
    ("wrong token", lambda: pyjwt_body(claims(), key="t" * 40), SignatureMismatch),
    ("truncated signature", lambda: pyjwt_body(claims())[:-6] + b'"}', SignatureMismatch),
    ("impossible length", lambda: pyjwt_body(claims())[:-8] + b'"}', MalformedHeader),
    ("empty signature", lambda: _raw_token({"alg": "HS256"}, claims()), SignatureMismatch),
    ("expired", lambda: pyjwt_body(claims(exp=int(NOW.timestamp()) - 1)), TokenExpired),
    (
        "not yet valid",
        lambda: pyjwt_body(claims(nbf=int(NOW.timestamp()) + 60)),
        TimestampOutOfWindow,
    ),
    ("exp not a number", lambda: pyjwt_body(claims(exp="tomorrow")), MalformedPayload),
    ("no data", lambda: b'{"jwt":"x"}', MissingSignature),
    ("two parts", lambda: b'{"data":"a.b"}', MalformedHeader),
    ("padded base64", lambda: pyjwt_body(claims()).replace(b".", b"=.", 1), MalformedHeader),
    ("claims not an object", lambda: pyjwt_body(b"[1,2]"), MalformedPayload),
    (
        "no webhookData",
        lambda: pyjwt_body(b'{"eventID":"ORDER_CREATED","createdAt":"2024-01-15T10:29:00Z"}'),
        MalformedPayload,
    ),
    (
        "signed 30 days ago",
        lambda: pyjwt_body(_claims_at(NOW - timedelta(days=30))),
        TimestampOutOfWindow,
    ),
    (
        "signed 6 minutes ahead",
        lambda: pyjwt_body(_claims_at(NOW + timedelta(minutes=6))),
        TimestampOutOfWindow,
    ),
    ("no createdAt and no exp", lambda: pyjwt_body(_claims_at(None)), MissingTimestamp),
    ("body not JSON", lambda: b"data=eyJ", MalformedPayload),
]


def test_the_signed_time_is_checked_against_the_sources_tolerance() -> None:
    edge = _claims_at(NOW - timedelta(minutes=5))
    assert tk.decode({}, pyjwt_body(edge), CREDS, now=NOW)
    with pytest.raises(TimestampOutOfWindow) as caught:
        tk.decode({}, pyjwt_body(_claims_at(NOW - timedelta(days=30))), CREDS, now=NOW)
    assert "too old" in caught.value.message
    assert caught.value.extensions == {"reason": "too_old"}
    wide = tk.TransakCredentials(access_tokens=CREDS.access_tokens, tolerance=timedelta(minutes=20))
    assert tk.decode({}, pyjwt_body(_claims_at(NOW + timedelta(minutes=19))), wide, now=NOW)


def test_a_token_with_only_exp_is_bounded_by_exp() -> None:
    exp = int((NOW + timedelta(minutes=1)).timestamp())
    [event] = tk.decode({}, pyjwt_body(_claims_at(None, exp=exp)), CREDS, now=NOW)
    assert event.timed is False


@pytest.mark.parametrize(("case", "make", "error"), TAMPERING, ids=[c[0] for c in TAMPERING])
def test_tampering_is_refused(case: str, make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        tk.decode({}, make(), CREDS, now=NOW)


INBOUND = {
    ("ORDER_CREATED", "AWAITING_PAYMENT_FROM_USER"): S.AWAITING_PAYMENT,
    ("ORDER_PAYMENT_VERIFYING", "PAYMENT_DONE_MARKED_BY_USER"): S.PAYMENT_SUBMITTED,
    ("ORDER_PROCESSING", "PROCESSING"): S.PAYMENT_RECEIVED,
    ("ORDER_PROCESSING", "PENDING_DELIVERY_FROM_TRANSAK"): S.PROCESSING,
    ("ORDER_PROCESSING", "ON_HOLD_PENDING_DELIVERY_FROM_TRANSAK"): S.ON_HOLD,
    ("ORDER_COMPLETED", "COMPLETED"): S.COMPLETED,
    ("ORDER_FAILED", "FAILED"): S.FAILED,
    ("ORDER_FAILED", "CANCELLED"): S.CANCELLED,
    ("ORDER_FAILED", "EXPIRED"): S.EXPIRED,
    ("ORDER_EXPIRED", "EXPIRED"): S.EXPIRED,
    ("ORDER_REFUNDED", "REFUNDED"): S.REFUNDED,
    ("ORDER_COMPLETED", "SOMETHING_NEW"): S.COMPLETED,  # an unknown status: by its event id
    ("ORDER_UNKNOWN", "REFUNDED"): S.REFUNDED,  # an unknown event id: by its status
    ("ORDER_UNKNOWN", "UNKNOWN"): None,
}


@pytest.mark.parametrize(("pair", "status"), INBOUND.items())
def test_every_transak_pair_reads_as_a_status(pair: tuple[str, str], status: Any) -> None:
    assert tk.TABLE.from_provider(ProviderEvent(name=pair[0], status=pair[1])) == status


def test_on_hold_is_sent_for_off_ramp_orders_only() -> None:
    on_hold = tk.TABLE.to_provider(S.ON_HOLD, Side.SELL)
    assert on_hold.status == "ON_HOLD_PENDING_DELIVERY_FROM_TRANSAK"
    assert tk.TABLE.to_provider(S.ON_HOLD, Side.BUY).status == "PENDING_DELIVERY_FROM_TRANSAK"
    assert tk.TABLE.to_provider(S.PAYMENT_RECEIVED, Side.BUY).status == "PROCESSING"


def test_credentials_need_a_token() -> None:
    with pytest.raises(InvalidCredentials):
        tk.TransakCredentials(access_tokens=(Secret(""),))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), side=st.sampled_from(list(Side)), status=strategies.statuses)
def test_round_trip(data: Any, side: Side, status: OrderStatus) -> None:
    check_round_trip(DialectName.TRANSAK, data.draw(strategies.transak(side, status)), status)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=150) | st.text(max_size=60).map(lambda t: orjson.dumps({"data": t})))
def test_random_bodies_raise_only_dialect_errors(body: bytes) -> None:
    decode_or_dialect_error(DialectName.TRANSAK, {}, body)


@settings(max_examples=80, deadline=None)
@given(data=strategies.json_values, event_id=strategies.json_values)
def test_authentic_garbage_raises_only_dialect_errors(data: Any, event_id: Any) -> None:
    payload = orjson.dumps({"eventID": event_id, "webhookData": data})
    decode_or_dialect_error(DialectName.TRANSAK, {}, pyjwt_body(payload))


# --- the plain body's path, against the general one ----------------------------------------------


def _outcome(body: bytes, *, general: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """What decode makes of ``body``: its events, or its error's type and message."""
    with monkeypatch.context() as patched:
        if general:
            patched.setattr(tk, "verify_plain_body", lambda *args, **kwargs: None)
        try:
            return tk.decode({}, body, CREDS, now=NOW)
        except Exception as exc:  # the type and the message are what must agree
            return (type(exc), str(exc), getattr(exc, "status", None))


def _same_either_way(body: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    plain = _outcome(body, general=False, monkeypatch=monkeypatch)
    assert plain == _outcome(body, general=True, monkeypatch=monkeypatch)
    return plain


def _signed(token_text: str, key: str = ACCESS_TOKEN) -> str:
    """``header.payload`` with its HS256 signature."""
    mac = hmac.new(key.encode(), token_text.encode(), hashlib.sha256).digest()
    return f"{token_text}.{b64url_encode(mac)}"


_HEADER = b64url_encode(b'{"alg":"HS256","typ":"JWT"}')
_PAYLOAD = b64url_encode(claims())


def test_the_plain_path_reads_transaks_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    body = pyjwt_body(claims())
    assert tk.verify_plain_body(body, CREDS, now=NOW) is not None
    events = _same_either_way(body, monkeypatch)
    assert isinstance(events, list)
    assert events[0].provider_order_id == "37969614-900e-4032-af62-c1e558137f4e"
    by_old_token = pyjwt_body(claims(), key=OLD_ACCESS_TOKEN)  # the second token verifies too
    assert tk.verify_plain_body(by_old_token, CREDS, now=NOW) is not None
    assert _same_either_way(by_old_token, monkeypatch) == events
    only_old = tk.credentials_from_secrets([OLD_ACCESS_TOKEN])
    assert tk.verify_plain_body(body, only_old, now=NOW) is None


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}")}),
        orjson.dumps({"data": " " + _signed(f"{_HEADER}.{_PAYLOAD}")}),  # stripped, then read
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}") + "\n"}),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}") + "\u001f"}),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}") + ".x"}),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}", key="t" * 40)}),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}")[:-1]}),
        orjson.dumps({"data": _signed(f"{_HEADER}.")}),  # an empty payload
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}=")}),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD[:-1]}")}),
        orjson.dumps({"data": _signed(f"{_HEADER}.{b64url_encode(b'[1]')}")}),
        orjson.dumps({"data": f"{_HEADER}.{_PAYLOAD}."}),
        orjson.dumps({"data": f"{_HEADER}.{_PAYLOAD}"}),
        orjson.dumps({"data": f"{_HEADER}."}),
        orjson.dumps({"data": f"{_HEADER}"}),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}"), "data2": 1}),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}")}).replace(b".", b"\\u002e", 1),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}")}).replace(b":", b": ", 1),
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}")}) + b"\n",
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}")}) + b'{"data":"x"}',
        orjson.dumps({"data": _signed(f"{_HEADER}.{_PAYLOAD}")})[:-2] + b'","data":"x"}',
        b'{"data":"' + _HEADER.encode() + b'.\xff.x"}',
        b'{"data":"' + _HEADER.encode() + b'.a.\xc3\xa9"}',
        b'{"data":"' + _HEADER.encode() + b'."}',
        b'{"data":"' + _HEADER.encode() + b'.a"b.c"}',
    ],
)
def test_the_plain_path_and_the_general_agree(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    _same_either_way(body, monkeypatch)


_PIECES = st.sampled_from(
    [b'"', b"\\", b"\\u0041", b".", b"-", b"_", b"=", b" ", b"\n", b"\x00", b"\xff", b"A", b"}"]
)


@settings(max_examples=200, deadline=None)
@given(at=st.integers(min_value=0), cut=st.integers(0, 3), piece=_PIECES | st.just(b""))
def test_a_changed_body_is_read_alike_either_way(at: int, cut: int, piece: bytes) -> None:
    body = pyjwt_body(claims())
    at %= len(body) + 1
    changed = body[:at] + piece + body[at + cut :]
    with pytest.MonkeyPatch.context() as monkeypatch:
        _same_either_way(changed, monkeypatch)


@settings(max_examples=100, deadline=None)
@given(data=strategies.json_values, event_id=strategies.json_values)
def test_authentic_garbage_is_read_alike_either_way(data: Any, event_id: Any) -> None:
    payload = orjson.dumps({"eventID": event_id, "createdAt": iso_ms(NOW), "webhookData": data})
    with pytest.MonkeyPatch.context() as monkeypatch:
        _same_either_way(pyjwt_body(payload), monkeypatch)
