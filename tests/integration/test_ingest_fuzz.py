"""Hostile requests to ``POST /ingest/{source}``, for every provider, on both back-ends.

Each example builds a fresh, correctly signed request and breaks it every way a stranger (or a
broken proxy) could: random bytes, a truncated body, a body over the limit (declared and
streamed), a wrong content type, a missing or garbled signature, a body changed after signing,
another provider's headers, a request signed long ago or in the future (a replay), a body that
names a key twice. Every answer must be a 4xx problem document, and nothing may be written:
orders, events, timeline, inbound log and deliveries keep their counts. A captured authentic
request sent again, as it was or re-serialised, is a duplicate (200, nothing written); an
``X-Forwarded-For`` header from a peer that is no trusted proxy does not pass an IP allow-list.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from tests.support.apps import api_client
from tests.support.ingest_kit import KITS, make_source, webhook

from rampwire.dialects import get_dialect
from rampwire.dialects.base import DialectName, WireRequest
from rampwire.dialects.errors import DialectError
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.ingest.sources import build_credentials
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow

S = OrderStatus
SIDES = {
    Provider.REVOLUT: Side.BUY,
    Provider.SABER: Side.BUY,
    Provider.FIREBLOCKS: Side.BUY,
    Provider.KOYWE: Side.BUY,
    Provider.TRANSAK: Side.SELL,
}
BODY_SIGNED = {Provider.KOYWE: "signature", Provider.TRANSAK: "data"}  # the signature's JSON key
FIREBLOCKS_JWS = "Fireblocks-Webhook-Signature"  # its legacy header is not accepted by default
TABLES = ("orders", "events", "timeline", "inbound", "deliveries")
MAX_EXAMPLES = 10  # per provider and back-end; every example sends each kind of attack
SIGNED_TIMES = {Provider.REVOLUT, Provider.SABER, Provider.KOYWE, Provider.TRANSAK}  # windowed
OUT_OF_WINDOW_S = (-30 * 86400, -3600, -(5 * 60 + 30), 5 * 60 + 30, 86400)  # from now
ALLOWED = "203.0.113.0/24"  # the ip_allowlist source's network
STATUSES = (S.PROCESSING, S.COMPLETED, S.FAILED)
WRONG_TYPES = (
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "application/jsonp",
    "json",
    "application/json-seq",
    "*/*",
)
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=120
)


@dataclass(frozen=True, kw_only=True)
class Attack:
    kind: str
    headers: dict[str, str]
    body: bytes | Callable[[], AsyncIterator[bytes]]


async def counts(db: Database) -> dict[str, int]:
    found = {}
    async with db.connection() as conn:
        for table in TABLES:
            found[table] = int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
    return found


def valid(provider: Provider, status: OrderStatus, **at: float) -> WireRequest:
    now = utcnow() + timedelta(**at)
    order = sample_order(DialectName(provider.value), S.CREATED, SIDES[provider], now=now)
    return webhook(provider, order, status, now=now)


def _content_type(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() == "content-type"}


def _without_content_type(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != "content-type"}


def _signature_slots(provider: Provider, request: WireRequest) -> list[str]:
    """What carries the proof: header names, or the body's signature key."""
    if provider in BODY_SIGNED:
        return [BODY_SIGNED[provider]]
    if provider is Provider.FIREBLOCKS:  # the legacy header alone must not be enough
        return [FIREBLOCKS_JWS]
    return sorted(_without_content_type(request.headers))


def _with_slot(
    provider: Provider, request: WireRequest, slot: str, value: str | None
) -> tuple[dict[str, str], bytes]:
    """The request with the signature slot removed (``value`` None) or replaced."""
    if provider in BODY_SIGNED:
        payload = orjson.loads(request.body)
        if value is None:
            payload.pop(slot, None)
        else:
            payload[slot] = value
        return dict(request.headers), orjson.dumps(payload)
    headers = {k: v for k, v in request.headers.items() if k != slot}
    if value is not None:
        headers[slot] = value
    return headers, request.body


def _still_verifies(provider: Provider, request: WireRequest, body: bytes) -> bool:
    """Whether ``body`` under the request's headers verifies and reads as the same events:
    a change that leaves the signed content as it was (never the case for the header-signed
    providers, whose signature covers the bytes). A change that verifies and reads differently
    is a forgery: the test fails on it."""
    dialect = get_dialect(provider.value)
    credentials = build_credentials(provider, KITS[provider].source_credentials, {})
    now = utcnow()
    try:
        changed = dialect.decode(request.headers, body, credentials, now=now)
    except DialectError:
        return False
    original = dialect.decode(request.headers, request.body, credentials, now=now)
    same = [(e.provider_order_id, e.provider_event, e.status, dict(e.patch)) for e in changed] == [
        (e.provider_order_id, e.provider_event, e.status, dict(e.patch)) for e in original
    ]
    assert same, f"{provider.value}: a body changed after signing still verifies: {body!r}"
    return True


@st.composite
def attacks(draw: st.DrawFn, provider: Provider, max_body: int) -> list[Attack]:
    """One of every kind, each on a freshly signed request (signed times are checked)."""
    found: list[Attack] = []

    def fresh() -> WireRequest:
        return valid(provider, draw(st.sampled_from(STATUSES)))

    request = fresh()
    json_type = _content_type(request.headers)
    found.append(Attack(kind="random bytes", headers=dict(request.headers), body=draw(st.binary())))

    cut = draw(st.integers(min_value=0, max_value=len(request.body) - 1))
    found.append(Attack(kind="truncated", headers=dict(request.headers), body=request.body[:cut]))

    size = max_body + draw(st.integers(min_value=1, max_value=4096))
    huge = b'{"pad":"' + b"x" * size + b'"}'
    found.append(Attack(kind="too large", headers=dict(request.headers), body=huge))

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    found.append(Attack(kind="too large, streamed", headers=dict(request.headers), body=streamed))

    wrong = draw(st.sampled_from(WRONG_TYPES))
    typed = _without_content_type(request.headers) | (
        {} if wrong is None else {"content-type": wrong}
    )
    found.append(Attack(kind=f"content type {wrong}", headers=typed, body=request.body))

    request = fresh()
    slot = draw(st.sampled_from(_signature_slots(provider, request)))
    headers, body = _with_slot(provider, request, slot, None)
    found.append(Attack(kind=f"no {slot}", headers=headers, body=body))

    request = fresh()
    slot = draw(st.sampled_from(_signature_slots(provider, request)))
    garbage = draw(st.one_of(HEADER_TEXT, st.sampled_from(["v1=", "t=0,v1=00", "..", "a.b.c"])))
    headers, body = _with_slot(provider, request, slot, garbage)
    found.append(Attack(kind=f"garbled {slot}", headers=headers, body=body))

    request = fresh()
    body = bytearray(request.body)
    at = draw(st.integers(min_value=0, max_value=len(body) - 1))
    how = draw(st.sampled_from(["replace", "insert", "delete", "append"]))
    byte = draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != body[at]))
    if how == "replace":
        body[at] = byte
    elif how == "insert":
        body.insert(at, byte)
    elif how == "delete":
        del body[at]
    else:
        body += draw(st.binary(min_size=1, max_size=64))
    if not _still_verifies(provider, request, bytes(body)):
        found.append(
            Attack(kind=f"body {how}d after signing", headers=request.headers, body=bytes(body))
        )

    if provider in SIGNED_TIMES:
        skew = draw(st.sampled_from(OUT_OF_WINDOW_S))
        old = valid(provider, draw(st.sampled_from(STATUSES)), seconds=skew)
        found.append(Attack(kind=f"signed {skew} s from now", headers=old.headers, body=old.body))

    request = fresh()
    keys = list(orjson.loads(request.body))
    key = draw(st.sampled_from(keys))
    value = draw(st.one_of(st.sampled_from([orjson.loads(request.body)[key]]), HEADER_TEXT))
    doubled = b"{" + orjson.dumps(key) + b":" + orjson.dumps(value) + b"," + request.body[1:]
    found.append(Attack(kind=f"key {key} twice", headers=request.headers, body=doubled))

    other = draw(st.sampled_from([p for p in Provider if p is not provider]))
    foreign = valid(other, draw(st.sampled_from(STATUSES)))
    found.append(Attack(kind=f"{other.value} request", headers=foreign.headers, body=foreign.body))
    if provider not in BODY_SIGNED:  # a body-signed request stays authentic whatever headers
        request = fresh()
        headers = _without_content_type(foreign.headers) | json_type
        found.append(Attack(kind=f"{other.value} headers", headers=headers, body=request.body))
    return found


async def post(api: httpx.AsyncClient, source_id: str, attack: Attack) -> httpx.Response:
    content: Any = attack.body() if callable(attack.body) else attack.body
    # no API key: the inbound route takes none, and a stranger has none
    return await api.post(
        f"/ingest/{source_id}",
        content=content,
        headers={"authorization": ""} | attack.headers,
    )


@pytest.mark.parametrize("provider", list(Provider))
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_hostile_requests_are_4xx_problems_and_write_nothing(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    provider: Provider,
    data: st.DataObject,
) -> None:
    source = await make_source(api, provider)
    control = await api.post(
        f"/ingest/{source['id']}",
        content=(request := valid(provider, S.PROCESSING)).body,
        headers=request.headers,
    )
    assert control.status_code == 200, control.text  # the source accepts what is authentic
    before = await counts(db)
    for attack in data.draw(attacks(provider, settings.max_body_bytes)):
        response = await post(api, source["id"], attack)
        shown = f"{provider.value}, {attack.kind}: {response.status_code} {response.text[:300]}"
        assert 400 <= response.status_code < 500, shown
        assert response.headers["content-type"] == "application/problem+json", shown
        problem = response.json()
        assert problem["status"] == response.status_code, shown
        assert "Traceback" not in response.text, shown
        assert await counts(db) == before, shown
    for kind, body in _replays(provider, request.body, data):
        response = await api.post(f"/ingest/{source['id']}", content=body, headers=request.headers)
        shown = f"{provider.value}, {kind}: {response.status_code} {response.text[:300]}"
        assert response.json() == {"received": True, "duplicate": True}, shown
        assert await counts(db) == before, shown


def _replays(provider: Provider, body: bytes, data: st.DataObject) -> list[tuple[str, bytes]]:
    """The control request again: as captured, and (where the signature survives it, the
    body-signed providers) re-serialised with other whitespace or an extra outer key."""
    found = [("replayed as captured", body)]
    if provider in BODY_SIGNED:
        space = data.draw(st.sampled_from([b" ", b"\n", b"\t", b"\r\n  "]))
        found.append(("replayed with whitespace", space + body.replace(b",", b"," + space) + space))
    if provider is Provider.TRANSAK:  # the JWT's envelope is not signed
        extra = data.draw(st.dictionaries(HEADER_TEXT.filter(lambda k: k != "data"), HEADER_TEXT))
        found.append(("replayed with outer keys", orjson.dumps(extra | orjson.loads(body))))
    return found


@asynccontextmanager
async def app_client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app built with ``settings`` (the ``api`` fixture's, changed)."""
    async with api_client(settings, db, name="fuzz") as client:
        yield client


@pytest.mark.parametrize("trusted", [False, True], ids=["no proxies", "another proxy trusted"])
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hops=st.lists(
        st.one_of(
            st.ip_addresses(network=ALLOWED).map(str),
            st.ip_addresses().map(str),
            st.sampled_from(["127.0.0.1", "unknown", "", "[::1]:80", "203.0.113.7:443"]),
        ),
        min_size=1,
        max_size=4,
    ),
    lines=st.integers(min_value=1, max_value=2),
)
async def test_a_forwarded_header_does_not_pass_an_ip_allowlist(
    settings: Settings,
    db: Database,
    trusted: bool,
    hops: list[str],
    lines: int,
) -> None:
    """The test client's peer is 127.0.0.1; unless it is a trusted proxy, no X-Forwarded-For
    value may make a Saber ``ip_allowlist`` source accept the request."""
    proxies = (ipaddress.ip_network("10.0.0.0/8"),) if trusted else ()
    async with app_client(settings.replace(trusted_proxies=proxies), db) as api:
        source = await make_source(
            api,
            Provider.SABER,
            credentials={"mode": "ip_allowlist", "allowed_networks": [ALLOWED]},
        )
        request = valid(Provider.SABER, S.COMPLETED)
        before = await counts(db)
        half = len(hops) // 2 if lines == 2 else len(hops)
        header = [
            ("x-forwarded-for", ", ".join(part)) for part in (hops[:half], hops[half:]) if part
        ]
        response = await api.post(
            f"/ingest/{source['id']}",
            content=request.body,
            headers=[*request.headers.items(), *header],
        )
        shown = f"{header}: {response.status_code} {response.text[:300]}"
        assert response.status_code == 401, shown
        assert response.headers["content-type"] == "application/problem+json", shown
        assert await counts(db) == before, shown
