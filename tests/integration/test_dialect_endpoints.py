"""Endpoints that speak a provider's wire format, end to end: API → outbox → worker → a real
receiver on 127.0.0.1, on SQLite and PostgreSQL.

Every request is checked twice: with the dialect's own ``decode`` (and the secret the API handed
out, or the JWKS rampwire serves), and independently against the provider's documented scheme
(HMAC by hand, PyJWT for Transak, joserfc and ``cryptography`` for Fireblocks). Then: rampwire's
Fireblocks key and its JWKS across restarts, Revolut's double signature during a rotation, each
provider's retry ladder, events a format cannot carry, bad secrets, and the attempt log.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jws
from joserfc.jwk import KeySet, RSAKey
from tests.receivers import Received, receiver

from rampwire.api import create_app
from rampwire.crypto import secret_box
from rampwire.dialects import SignatureMismatch, get_dialect
from rampwire.domain.apikeys import Scope
from rampwire.domain.events import Source
from rampwire.domain.lifecycle import Change
from rampwire.domain.orders import OrderStatus
from rampwire.repository import KeyRepository, OrderRepository
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow

T = TypeVar("T")
WAIT_S = 20.0  # every wait below gives up after this long
SLACK_S = 5.0  # an attempt's own duration and its recording, on top of a scheduled delay
PROVIDERS = ("revolut", "saber", "fireblocks", "koywe", "transak")
WALLET = "0x2f0b23f53734252bda2277357e97e1517d6b042a"
CUSTOM_HEADER, CUSTOM_VALUE = "X-Partner-Key", "partner-key-value-0042"
REDACTED = "[redacted]"
TRANSAK_TOKEN = "transak-partner-access-token-chosen-by-the-user-01"  # >= 32 bytes for HS256
SABER_SECRET = "saber-secret-016"  # the shortest a provider secret may be: 16 characters
SIGNATURE_HEADERS = {
    "revolut": ("revolut-request-timestamp", "revolut-signature"),
    "saber": ("x-saber-timestamp", "x-saber-signature"),
    "fireblocks": ("fireblocks-webhook-signature", "fireblocks-signature"),
    "koywe": (),  # signed in the body
    "transak": (),  # a JWT in the body
}
PRIVATE_JWK_PARAMETERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


# --- helpers --------------------------------------------------------------------------------


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = WAIT_S) -> T:
    """Poll ``check`` until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.05)


async def make_endpoint(api: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    response = await api.post("/v1/endpoints", json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_order(api: httpx.AsyncClient, side: str = "buy", **data: Any) -> dict[str, Any]:
    response = await api.post("/v1/orders", json={"side": side, **data})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def change(api: httpx.AsyncClient, order_id: str, body: dict[str, Any]) -> None:
    response = await api.post(f"/v1/orders/{order_id}/changes", json=body)
    assert response.status_code == 200, response.text


async def deliveries_of(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def delivery(api: httpx.AsyncClient, delivery_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/deliveries/{delivery_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def final(api: httpx.AsyncClient, endpoint_id: str, count: int) -> list[dict[str, Any]]:
    """The endpoint's deliveries once ``count`` of them are final."""

    async def check() -> list[dict[str, Any]] | None:
        data = await deliveries_of(api, endpoint_id)
        done = [d for d in data if d["status"] in ("succeeded", "dead", "cancelled")]
        return data if len(done) >= count else None

    return await eventually(check)


async def after_attempts(api: httpx.AsyncClient, endpoint_id: str, attempts: int) -> dict[str, Any]:
    """The endpoint's only delivery, once the result of its ``attempts``-th attempt is recorded
    (the count and the new status are written together)."""

    async def check() -> dict[str, Any] | None:
        data = await deliveries_of(api, endpoint_id)
        assert len(data) <= 1, data
        return data[0] if data and data[0]["attempts"] >= attempts else None

    found = await eventually(check)
    assert found["attempts"] == attempts, found
    return found


async def scheduled_wait(api: httpx.AsyncClient, found: dict[str, Any]) -> float:
    """Seconds from the start of the delivery's last attempt to its next scheduled one."""
    log = (await delivery(api, found["id"]))["attempt_log"]
    assert len(log) == found["attempts"], log
    return (when(found["next_attempt_at"]) - when(log[-1]["started_at"])).total_seconds()


async def hurry(api: httpx.AsyncClient, endpoint_id: str, since: datetime) -> None:
    """Make the endpoint's retrying delivery due now (the replay API), keeping its attempts."""
    response = await api.post(
        f"/v1/endpoints/{endpoint_id}/replay", json={"since": since.isoformat()}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"replayed": 1, "sent_again": 0, "retried_now": 1}


async def counts(db: Database) -> tuple[int, ...]:
    async with db.connection() as conn:
        return tuple(
            [
                int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
                for table in ("endpoints", "deliveries", "attempts", "events")
            ]
        )


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def assert_problem(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert field in [e["field"] for e in problem.get("errors", [])], problem
    assert "Traceback" not in response.text


async def fetch_jwks(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    """``/.well-known/jwks.json``, asked without an API key, as any receiver would."""
    request = client.build_request("GET", "/.well-known/jwks.json")
    del request.headers["authorization"]
    response = await client.send(request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    for key in document["keys"]:
        assert not PRIVATE_JWK_PARAMETERS & set(key), key  # public halves only
        assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}, key
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS512", "sig")
        public = RSAKey.import_key(key)
        assert public.thumbprint() == key["kid"]  # the kid is the RFC 7638 thumbprint
        assert _public_key(key).key_size >= 3072
    return response.text, document


def _public_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    return RSAKey.import_key(jwk).get_op_key("verify")


# --- what each provider's request must look like, checked without rampwire's code -----------


def check_revolut(got: Received, secret: str, wire: str, order_id: str) -> None:
    headers = lowered(got.headers)
    stamp = headers["revolut-request-timestamp"]
    now_ms = int(utcnow().timestamp() * 1000)
    assert stamp.isdigit() and abs(int(stamp) - now_ms) < 5 * 60 * 1000  # UNIX milliseconds
    signed = f"v1.{stamp}.".encode() + got.body
    assert headers["revolut-signature"] == "v1=" + hmac_hex(secret, signed)
    body = json.loads(got.body)
    assert list(body) == ["order_id", "wallet", "event"]
    assert body == {"order_id": order_id, "wallet": WALLET, "event": wire}


def check_saber(got: Received, secret: str, wire: str, order_id: str) -> None:
    headers = lowered(got.headers)
    stamp = headers["x-saber-timestamp"]
    assert stamp.isdigit()
    assert headers["x-saber-signature"] == hmac_hex(secret, f"{stamp}.".encode() + got.body)
    body = json.loads(got.body)
    name, status = wire.split("/")
    assert body["event"] == name
    if name == "CRYPTO_BUY":
        assert (body["id"], body["status"]) == (order_id, status)
        assert body["fiat_amount"] == "850.00000000"  # decimal strings with 8 places
        assert body["crypto_wallet_address"] == WALLET
    elif name == "SELL":
        assert (body["transaction_id"], body["transaction_status"]) == (order_id, status)
    else:  # deposit or withdraw
        assert (body["id"], body["status"]) == (order_id, status)
        assert body["transaction_type"] == name.upper()


def check_koywe(got: Received, secret: str, wire: str, order_id: str) -> None:
    body = json.loads(got.body)
    assert list(body) == ["eventName", "orderId", "timeStamp", "signature"]
    # JSON.stringify: no whitespace, non-ASCII as itself
    assert got.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    payload = {key: body[key] for key in ("eventName", "orderId", "timeStamp")}
    stringified = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert body["signature"] == hmac_hex(secret, stringified)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timeStamp"])
    assert (body["eventName"], body["orderId"]) == (wire, order_id)


def check_transak(got: Received, secret: str, wire: str, order_id: str) -> None:
    body = json.loads(got.body)
    assert list(body) == ["data"]
    token = body["data"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert set(claims) == {"eventID", "createdAt", "webhookData"}
    name, status = wire.split("/")
    assert claims["eventID"] == name
    data = claims["webhookData"]
    assert (data["id"], data["status"], data["walletAddress"]) == (order_id, status, WALLET)
    assert data["fiatAmount"] == 100 and data["fiatCurrency"] == "EUR"  # an exact JSON number


def check_fireblocks(got: Received, jwks_text: str, wire: str, order_id: str) -> None:
    headers = lowered(got.headers)
    document = json.loads(jwks_text)
    signature = headers["fireblocks-webhook-signature"]
    assert signature.count(".") == 2 and ".." in signature  # a detached compact JWS
    keys = KeySet.import_key_set(document)
    verified = jws.deserialize_compact(signature, keys, algorithms=["RS512"], payload=got.body)
    kid = verified.protected["kid"]
    assert verified.protected == {"alg": "RS512", "kid": kid}
    [jwk] = [key for key in document["keys"] if key["kid"] == kid]
    # the legacy header: base64 RSASSA-PKCS1-v1_5 with SHA-512 over the raw body
    legacy = base64.b64decode(headers["fireblocks-signature"], validate=True)
    _public_key(jwk).verify(legacy, got.body, padding.PKCS1v15(), hashes.SHA512())
    body = json.loads(got.body)
    assert list(body) == [
        "id",
        "resourceId",
        "webhookId",
        "workspaceId",
        "eventType",
        "createdAt",
        "data",
    ]
    uuid.UUID(body["id"])
    assert isinstance(body["createdAt"], int)  # epoch milliseconds
    assert (body["eventType"], body["resourceId"]) == ("order.updated", order_id)
    assert (body["data"]["id"], body["data"]["status"]) == (order_id, wire.split("/")[1])


CHECKS: dict[str, Callable[[Received, str, str, str], None]] = {
    "revolut": check_revolut,
    "saber": check_saber,
    "koywe": check_koywe,
    "transak": check_transak,
    "fireblocks": check_fireblocks,
}


# --- 1 and 7: every provider's format, decoded by its own dialect; the attempt log ---------


@dataclass(frozen=True)
class Step:
    change: dict[str, Any]  # the body of POST /v1/orders/{id}/changes; {} for the creation
    wire: str  # the provider event sent, as DecodedEvent.provider_event spells it
    reads_as: str  # the canonical status the dialect's decoder gives back


@dataclass(frozen=True)
class Case:
    dialect: str
    side: str
    steps: tuple[Step, ...]
    secret: str | None = None  # given at creation; None: the API makes one
    currency: str = "EUR"


def _to(status: str) -> dict[str, Any]:
    return {"status": status}


CASES = [
    Case(
        "revolut",
        "buy",
        (
            Step({}, "ORDER_CREATED", "created"),
            Step(_to("payment_received"), "ORDER_PROCESSING", "processing"),
            # order.updated: the order's current status, in Revolut's coarser terms
            Step({"set": {"note": "checked by operations"}}, "ORDER_PROCESSING", "processing"),
            Step(_to("completed"), "ORDER_COMPLETED", "completed"),
        ),
    ),
    Case(
        "saber",
        "buy",
        (
            Step({}, "CRYPTO_BUY/CREATED", "payment_submitted"),
            Step(_to("payment_verifying"), "CRYPTO_BUY/ONRAMP_INITIATED", "payment_verifying"),
            Step(_to("payment_received"), "CRYPTO_BUY/ONRAMP_COMPLETED", "payment_received"),
            Step(_to("completed"), "CRYPTO_BUY/COMPLETED", "completed"),
        ),
        currency="INR",
    ),
    Case(
        "saber",
        "sell",
        (
            Step({}, "SELL/CREATED", "created"),
            Step(_to("payment_received"), "deposit/COMPLETED", "payment_received"),
            Step(_to("processing"), "SELL/PROCESSING", "processing"),
            Step(_to("completed"), "SELL/COMPLETED", "completed"),
        ),
        secret=SABER_SECRET,
        currency="INR",
    ),
    Case(
        "fireblocks",
        "buy",
        (
            Step({}, "order.updated/CREATED", "created"),
            Step(_to("processing"), "order.updated/PROCESSING", "processing"),
            # FAILED with failure reason ORDER_EXPIRED reads back as expired
            Step(_to("expired"), "order.updated/FAILED", "expired"),
        ),
    ),
    Case(
        "fireblocks",
        "sell",
        (
            Step({}, "order.updated/CREATED", "created"),
            Step(_to("awaiting_payment"), "order.updated/AWAITING_PAYMENT", "awaiting_payment"),
            Step(_to("completed"), "order.updated/COMPLETED", "completed"),
        ),
    ),
    Case(
        "koywe",
        "buy",
        (
            Step({}, "payment_created", "created"),
            Step(_to("payment_received"), "payment_received", "payment_received"),
            Step(_to("delivery_sent"), "crypto_tx_sent", "delivery_sent"),
            Step(_to("completed"), "crypto_delivered", "completed"),
        ),
    ),
    Case(
        "koywe",
        "sell",
        (
            Step({}, "payment_created", "created"),
            Step(_to("delivery_sent"), "fiat_sent", "delivery_sent"),
            Step(_to("completed"), "fiat_delivered", "completed"),
        ),
    ),
    Case(
        "transak",
        "buy",
        (
            Step({}, "ORDER_CREATED/AWAITING_PAYMENT_FROM_USER", "awaiting_payment"),
            Step(
                _to("payment_submitted"),
                "ORDER_PAYMENT_VERIFYING/PAYMENT_DONE_MARKED_BY_USER",
                "payment_submitted",
            ),
            Step(_to("payment_received"), "ORDER_PROCESSING/PROCESSING", "payment_received"),
            Step(_to("completed"), "ORDER_COMPLETED/COMPLETED", "completed"),
        ),
        secret=TRANSAK_TOKEN,
    ),
    Case(
        "transak",
        "sell",
        (
            Step({}, "ORDER_CREATED/AWAITING_PAYMENT_FROM_USER", "awaiting_payment"),
            Step(
                _to("payment_received"),
                "ORDER_PROCESSING/PENDING_DELIVERY_FROM_TRANSAK",
                "processing",
            ),
            Step(_to("refunded"), "ORDER_REFUNDED/REFUNDED", "refunded"),
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.dialect}-{c.side}")
async def test_a_provider_endpoint_receives_the_lifecycle_in_that_providers_format(
    api: httpx.AsyncClient, case: Case
) -> None:
    dialect = get_dialect(case.dialect)
    async with receiver() as hooks:
        given = {} if case.secret is None else {"secret": case.secret}
        endpoint = await make_endpoint(
            api,
            hooks.url,
            dialect=case.dialect,
            event_types=["order.*"],
            headers={CUSTOM_HEADER: CUSTOM_VALUE},
            **given,
        )
        assert endpoint["dialect"] == case.dialect and endpoint["retry_policy"] is None
        secret: str | None = endpoint["secret"]
        if case.dialect == "fireblocks":
            assert secret is None  # rampwire's own key signs
        elif case.secret is not None:
            assert secret == case.secret
        else:
            assert secret is not None and len(secret) >= 16
            assert secret.startswith("wsk_") == (case.dialect == "revolut")

        provider_order_id = f"{case.dialect}-{case.side}-order-0001"
        order = await make_order(
            api,
            case.side,
            provider=case.dialect,
            provider_order_id=provider_order_id,
            fiat={"currency": case.currency, "amount": "850" if case.currency == "INR" else "100"},
            crypto={"asset": "USDT", "network": "ETH", "amount": "98.5"},
            wallet_address=WALLET,
        )
        key_material = ""
        for index, step in enumerate(case.steps):
            if step.change:
                await change(api, order["id"], step.change)
            got = (await hooks.wait_for(index + 1))[index]
            if case.dialect == "fireblocks":
                key_material, _ = await fetch_jwks(api)  # the key the worker made, published
                credentials = dialect.credentials_from_secrets([key_material])
            else:
                assert secret is not None
                key_material = secret
                credentials = dialect.credentials_from_secrets([secret])
            [event] = dialect.decode(got.headers, got.body, credentials, now=utcnow())
            assert event.provider_event == step.wire
            assert event.status is OrderStatus(step.reads_as)
            assert event.provider_order_id == provider_order_id
            assert lowered(got.headers)["content-type"].startswith("application/json")
            assert lowered(got.headers)[CUSTOM_HEADER.lower()] == CUSTOM_VALUE
            CHECKS[case.dialect](got, key_material, step.wire, provider_order_id)

        sent = await final(api, endpoint["id"], len(case.steps))
        assert [d["status"] for d in sent] == ["succeeded"] * len(case.steps)
        assert len(hooks.requests) == len(case.steps)
        await _check_attempt_log(api, sent, hooks.requests, case.dialect, secret)


async def _check_attempt_log(
    api: httpx.AsyncClient,
    sent: list[dict[str, Any]],
    requests: list[Received],
    dialect: str,
    secret: str | None,
) -> None:
    """Each attempt logs the provider body actually sent and every header as sent, except the
    endpoint's own custom header; the secret appears nowhere."""
    unmatched = list(requests)
    for item in sent:
        detail = await delivery(api, item["id"])
        [attempt] = detail["attempt_log"]
        logged = lowered(attempt["request"]["headers"])
        assert logged.pop(CUSTOM_HEADER.lower()) == REDACTED
        assert set(SIGNATURE_HEADERS[dialect]) | {"content-type", "user-agent"} <= set(logged)
        # the bytes sent (not the stored standard envelope), and every other header as sent:
        # not redacted, not altered
        matching = [
            request
            for request in unmatched
            if request.body.decode() == attempt["request"]["body"]
            and all(lowered(request.headers).get(k) == v for k, v in logged.items())
        ]
        assert matching, (attempt["request"], unmatched)
        unmatched.remove(matching[0])
        assert attempt["response"]["status"] == 200 and attempt["error_class"] is None
        assert CUSTOM_VALUE not in json.dumps(detail)
        if secret is not None:
            assert secret not in json.dumps(detail)


# --- 2: rampwire's Fireblocks key, its JWKS, and how it is kept ------------------------------


@asynccontextmanager
async def process(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An app with its worker that opens its own database from the settings, as a freshly
    started process would (``db`` only makes it an API key)."""
    app = create_app(settings)
    _, token = await KeyRepository(db).create("tests", Scope.WRITE)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://rampwire.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client,
    ):
        yield client


async def test_the_fireblocks_key_is_made_once_published_and_kept_encrypted_across_restarts(
    settings: Settings, db: Database
) -> None:
    async with receiver() as hooks:
        # two processes on one database ask for the key at once: one key is made
        async with process(settings, db) as first, process(settings, db) as second:
            (jwks_text, document), (other_text, _) = await asyncio.gather(
                fetch_jwks(first), fetch_jwks(second)
            )
            assert other_text == jwks_text
            [published] = document["keys"]
            endpoint = await make_endpoint(
                first, hooks.url, dialect="fireblocks", event_types=["order.created"]
            )
            await make_order(first)
            [got] = await hooks.wait_for(1)

        async with process(settings, db) as restarted:
            assert (await fetch_jwks(restarted))[0] == jwks_text  # the same key, still
            order = await make_order(restarted)
            later = (await hooks.wait_for(2))[1]
            await final(restarted, endpoint["id"], 2)

    credentials = get_dialect("fireblocks").credentials_from_secrets([jwks_text])
    for request in (got, later):
        check_fireblocks(
            request, jwks_text, "order.updated/CREATED", json.loads(request.body)["resourceId"]
        )
        header = lowered(request.headers)["fireblocks-webhook-signature"].split(".")[0]
        padded = header + "=" * (-len(header) % 4)
        assert json.loads(base64.urlsafe_b64decode(padded))["kid"] == published["kid"]
        [event] = get_dialect("fireblocks").decode(
            request.headers, request.body, credentials, now=utcnow()
        )
        assert event.status is OrderStatus.CREATED
    assert event.provider_order_id == order["id"]  # rampwire's own order: its ord_ id

    async with db.connection() as conn:
        rows = await conn.fetch("SELECT kid, algorithm, private_key, retired_at FROM signing_keys")
    [row] = rows
    assert (row["kid"], row["algorithm"], row["retired_at"]) == (published["kid"], "RS512", None)
    sealed = row["private_key"]
    assert sealed.startswith("v2:") and "PRIVATE KEY" not in sealed
    pem = secret_box(settings).decrypt(sealed, context=f"signing-key:{row['kid']}").reveal()
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.public_key().public_numbers() == _public_key(published).public_numbers()
    for line in pem.splitlines()[1:-1]:  # no piece of the PEM in plain text
        assert line not in sealed


# --- 3: Revolut during a rotation; a single-signature format after one ---------------------


async def test_after_a_rotation_revolut_signs_with_both_secrets_and_koywe_with_the_new_one(
    api: httpx.AsyncClient,
) -> None:
    revolut, koywe = get_dialect("revolut"), get_dialect("koywe")
    chosen = "koywe-partner-secret-chosen-0001"
    async with receiver() as revolut_hooks, receiver() as koywe_hooks:
        endpoint = await make_endpoint(
            api, revolut_hooks.url, dialect="revolut", event_types=["order.created"]
        )
        old = endpoint["secret"]
        rotated = await api.post(f"/v1/endpoints/{endpoint['id']}/secret/rotate")
        assert rotated.status_code == 200, rotated.text
        listed = [s["secret"] for s in rotated.json()["secrets"]]
        assert len(listed) == 2 and listed[1] == old  # newest first
        new = listed[0]
        assert new.startswith("wsk_") and new != old

        single = await make_endpoint(
            api, koywe_hooks.url, dialect="koywe", event_types=["order.created"]
        )
        rotated = await api.post(
            f"/v1/endpoints/{single['id']}/secret/rotate", json={"secret": chosen}
        )
        assert rotated.status_code == 200, rotated.text
        assert [s["secret"] for s in rotated.json()["secrets"]] == [chosen, single["secret"]]

        order = await make_order(api, wallet_address=WALLET)  # rampwire's own: its ord_ id
        [got] = await revolut_hooks.wait_for(1)
        [signed_once] = await koywe_hooks.wait_for(1)
        await final(api, endpoint["id"], 1)
        await final(api, single["id"], 1)

    headers = lowered(got.headers)
    stamp = headers["revolut-request-timestamp"]
    values = headers["revolut-signature"].split(",")
    assert len(values) == 2
    expected = {s: "v1=" + hmac_hex(s, f"v1.{stamp}.".encode() + got.body) for s in (new, old)}
    assert sorted(values) == sorted(expected.values())  # one v1= value per secret
    for value in values:
        assert sum(value == expected[s] for s in (new, old)) == 1
    for secret in (new, old):
        credentials = revolut.credentials_from_secrets([secret])
        [event] = revolut.decode(got.headers, got.body, credentials, now=utcnow())
        assert (event.status, event.provider_order_id) == (OrderStatus.CREATED, order["id"])
    with pytest.raises(SignatureMismatch):
        stranger = revolut.credentials_from_secrets(["wsk_" + "x" * 40])
        revolut.decode(got.headers, got.body, stranger, now=utcnow())

    # Koywe carries one signature: the newest secret's
    check_koywe(signed_once, chosen, "payment_created", order["id"])
    credentials = koywe.credentials_from_secrets([chosen])
    [event] = koywe.decode(signed_once.headers, signed_once.body, credentials, now=utcnow())
    assert (event.status, event.provider_order_id) == (OrderStatus.CREATED, order["id"])
    with pytest.raises(SignatureMismatch):
        previous = koywe.credentials_from_secrets([single["secret"]])
        koywe.decode(signed_once.headers, signed_once.body, previous, now=utcnow())


# --- 4: each provider's retry policy, by default ------------------------------------------


async def test_revolut_retries_three_times_on_its_own_ladder_then_the_delivery_is_dead(
    api: httpx.AsyncClient,
) -> None:
    since = utcnow() - timedelta(minutes=1)
    async with receiver() as hooks:
        hooks.answer = lambda _: 500
        endpoint = await make_endpoint(
            api, hooks.url, dialect="revolut", event_types=["order.created"]
        )
        await make_order(api)
        # 30 s, 5 min, 30 min, each ±20 %; the replay API makes each retry due at once
        for made, delay in enumerate((30, 300, 1800), start=1):
            found = await after_attempts(api, endpoint["id"], made)
            assert found["status"] == "retrying" and found["last_status_code"] == 500
            wait = await scheduled_wait(api, found)
            assert delay * 0.8 <= wait <= delay * 1.2 + SLACK_S, (made, wait)
            await hurry(api, endpoint["id"], since)
        dead = await after_attempts(api, endpoint["id"], 4)
        assert dead["status"] == "dead" and dead["next_attempt_at"] is None
        log = (await delivery(api, dead["id"]))["attempt_log"]
    assert [a["error_class"] for a in log] == ["http_status"] * 4
    assert [a["response"]["status"] for a in log] == [500] * 4
    assert len(hooks.requests) == 4
    assert all("revolut-signature" in lowered(r.headers) for r in hooks.requests)


async def test_fireblocks_gives_up_on_a_4xx_but_408_and_429_and_its_exact_ladder(
    api: httpx.AsyncClient,
) -> None:
    since = utcnow() - timedelta(minutes=1)
    async with AsyncExitStack() as stack:
        hooks = {}
        endpoints = {}
        for code in (400, 408, 429, 503):
            hook = hooks[code] = await stack.enter_async_context(receiver())
            hook.answer = lambda _, code=code: code  # type: ignore[misc]
            endpoints[code] = await make_endpoint(
                api, hook.url, dialect="fireblocks", event_types=["order.created"]
            )
        revolut_hook = await stack.enter_async_context(receiver())
        revolut_hook.answer = lambda _: 400
        revolut = await make_endpoint(
            api, revolut_hook.url, dialect="revolut", event_types=["order.created"]
        )
        await make_order(api)

        rejected = await after_attempts(api, endpoints[400]["id"], 1)
        assert rejected["status"] == "dead" and rejected["next_attempt_at"] is None
        assert rejected["last_status_code"] == 400
        # no jitter: Fireblocks' first delay is 10 s; a 429 waits at least the 60 s floor
        for code, delay in ((408, 10), (429, 60), (503, 10)):
            found = await after_attempts(api, endpoints[code]["id"], 1)
            assert found["status"] == "retrying" and found["last_status_code"] == code
            wait = await scheduled_wait(api, found)
            assert delay <= wait <= delay + SLACK_S, (code, wait)
        # Revolut retries a 400 like any error
        found = await after_attempts(api, revolut["id"], 1)
        assert found["status"] == "retrying"
        assert 30 * 0.8 <= await scheduled_wait(api, found) <= 30 * 1.2 + SLACK_S
        # the second rung of Fireblocks' ladder, exactly 30 s
        await hurry(api, endpoints[503]["id"], since)
        again = await after_attempts(api, endpoints[503]["id"], 2)
        assert again["status"] == "retrying"
        assert 30 <= await scheduled_wait(api, again) <= 30 + SLACK_S
        assert len(hooks[400].requests) == 1 and len(hooks[503].requests) == 2


# --- 5: what a provider format cannot carry ------------------------------------------------


async def test_an_event_the_dialect_cannot_express_is_dead_at_once_and_never_sent(
    api: httpx.AsyncClient,
) -> None:
    revolut = get_dialect("revolut")
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, dialect="revolut", event_types=["order.*"])
        sell = await make_order(api, "sell")  # Revolut is on-ramp only
        [dead] = await final(api, endpoint["id"], 1)
        assert (dead["status"], dead["attempts"], dead["order_id"]) == ("dead", 1, sell["id"])
        assert dead["next_attempt_at"] is None and dead["last_status_code"] is None
        [attempt] = (await delivery(api, dead["id"]))["attempt_log"]
        assert attempt["error_class"] == "unencodable" and attempt["response"] is None
        assert "revolut" in attempt["error"] and "sell" in attempt["error"]
        assert attempt["request"]["headers"] == {}  # nothing was signed, nothing was sent
        assert hooks.requests == []

        buy = await make_order(api, "buy")  # the endpoint itself works
        [got] = await hooks.wait_for(1)
        data = await final(api, endpoint["id"], 2)
        assert sorted(d["status"] for d in data) == ["dead", "succeeded"]
    credentials = revolut.credentials_from_secrets([endpoint["secret"]])
    [event] = revolut.decode(got.headers, got.body, credentials, now=utcnow())
    assert event.provider_order_id == buy["id"]
    assert len(hooks.requests) == 1  # the sell order never arrived


async def test_an_event_never_sent_does_not_mark_the_receiver_as_failing(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, dialect="revolut", event_types=["order.*"])
        await make_order(api, "sell")
        [dead] = await final(api, endpoint["id"], 1)
        assert dead["status"] == "dead" and hooks.requests == []
        state = (await api.get(f"/v1/endpoints/{endpoint['id']}")).json()
    assert state["enabled"] is True
    assert state["failing_since"] is None


async def test_anomalies_and_endpoint_events_are_never_fanned_out_to_provider_endpoints(
    api: httpx.AsyncClient, db: Database
) -> None:
    async with receiver() as hooks, receiver() as gone:
        gone.answer = lambda _: 410
        # every provider dialect but Fireblocks, whose first send costs an RSA key: the rule
        # (Dialect.can_encode) is the same for all five
        providers = {
            name: await make_endpoint(api, hooks.url, dialect=name, event_types=["*"])
            for name in PROVIDERS
            if name != "fireblocks"
        }
        control = await make_endpoint(api, hooks.url, event_types=["*"])  # standard
        await make_endpoint(api, gone.url, event_types=["order.created"])  # will be disabled
        order = await make_order(api)
        await change(api, order["id"], {"status": "failed"})
        # a provider then says completed: a terminal conflict, recorded with order.anomaly
        now = utcnow()
        result = await OrderRepository(db).change(
            order["id"],
            Change(occurred_at=now, status=OrderStatus.COMPLETED),
            source=Source(provider="koywe", provider_event="crypto_delivered", received_at=now),
            strict=False,
            now=now,
        )
        completed, anomaly = result.events
        assert (completed.type, anomaly.type) == ("order.completed", "order.anomaly")

        async def to(event_id: str) -> set[str]:
            response = await api.get(f"/v1/events/{event_id}/deliveries")
            assert response.status_code == 200, response.text
            return {d["endpoint_id"] for d in response.json()["data"]}

        every = {control["id"], *(e["id"] for e in providers.values())}
        assert await to(completed.id) == every
        assert await to(anomaly.id) == {control["id"]}

        async def disabled_event() -> str | None:
            for item in await deliveries_of(api, control["id"]):
                if item["event_type"] == "endpoint.disabled":
                    return str(item["event_id"])
            return None

        assert await to(await eventually(disabled_event)) == {control["id"]}
        async with db.connection() as conn:
            stray = await conn.fetchval(
                "SELECT COUNT(*) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id"
                " WHERE e.dialect <> 'standard'"
                " AND d.event_type IN ('order.anomaly', 'order.stuck', 'endpoint.disabled')"
            )
        assert stray == 0
        await final(api, control["id"], 5)


# --- 6: bad secrets, on creation (beyond test_endpoints_api) and on rotation ---------------

CREATE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("saber-secret-too-long", {"dialect": "saber", "secret": "s" * 2049}),
    ("koywe-secret-one-too-short", {"dialect": "koywe", "secret": "k" * 15}),
    ("transak-secret-control-character", {"dialect": "transak", "secret": "token\x07" * 4}),
    ("revolut-secret-empty", {"dialect": "revolut", "secret": ""}),
    ("revolut-secret-not-a-string", {"dialect": "revolut", "secret": 1234567890123456}),
    ("fireblocks-secret-empty", {"dialect": "fireblocks", "secret": ""}),
]


async def test_bad_provider_secrets_on_create_are_refused_and_the_limits_accepted(
    api: httpx.AsyncClient, db: Database, subtests: pytest.Subtests
) -> None:
    before = await counts(db)
    for name, change_ in CREATE_CASES:
        with subtests.test(name):
            body = {"url": "http://127.0.0.1:9/hooks", **change_}
            assert_problem(await api.post("/v1/endpoints", json=body), "secret")
            assert await counts(db) == before
    limits = (("saber", "s" * 16), ("koywe", "k" * 2048), ("transak", "~!#$%&*+" * 2))
    for dialect, secret in limits:
        created = await make_endpoint(
            api, "http://127.0.0.1:9/hooks", dialect=dialect, secret=secret
        )
        assert created["secret"] == secret
        listed = (await api.get(f"/v1/endpoints/{created['id']}/secret")).json()["secrets"]
        assert [s["secret"] for s in listed] == [secret]


ROTATE_CASES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("revolut-too-short", "revolut", {"secret": "wsk_short"}, "secret"),
    ("revolut-too-long", "revolut", {"secret": "w" * 2049}, "secret"),
    ("revolut-not-a-string", "revolut", {"secret": 7}, "secret"),
    ("saber-tab", "saber", {"secret": "tab\tinside-the-secret"}, "secret"),
    ("koywe-space", "koywe", {"secret": "a space inside the secret"}, "secret"),
    ("transak-non-ascii", "transak", {"secret": "é" * 20}, "secret"),
    ("transak-nul", "transak", {"secret": "nul\x00" * 5}, "secret"),
    ("fireblocks-no-body", "fireblocks", None, "dialect"),
    ("fireblocks-empty-body", "fireblocks", {}, "dialect"),
    ("fireblocks-a-secret", "fireblocks", {"secret": "x" * 32}, "secret"),
]


async def test_bad_rotations_are_refused_naming_the_field_and_change_nothing(
    api: httpx.AsyncClient, db: Database, subtests: pytest.Subtests
) -> None:
    endpoints = {
        name: await make_endpoint(api, "http://127.0.0.1:9/hooks", dialect=name)
        for name in PROVIDERS
    }
    assert endpoints["fireblocks"]["secret"] is None

    async def state() -> dict[str, Any]:
        return {
            name: (
                (await api.get(f"/v1/endpoints/{e['id']}")).json(),
                (await api.get(f"/v1/endpoints/{e['id']}/secret")).json(),
            )
            for name, e in endpoints.items()
        }

    before, rows = await state(), await counts(db)
    assert before["fireblocks"][1] == {"secrets": []}
    for name, dialect, body, field in ROTATE_CASES:
        with subtests.test(name):
            url = f"/v1/endpoints/{endpoints[dialect]['id']}/secret/rotate"
            response = await (api.post(url) if body is None else api.post(url, json=body))
            assert_problem(response, field)
            assert await state() == before
            assert await counts(db) == rows


async def test_rotating_to_an_empty_secret_is_refused_like_creating_with_one(
    api: httpx.AsyncClient,
) -> None:
    refused = await api.post(
        "/v1/endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "dialect": "revolut", "secret": ""},
    )
    assert_problem(refused, "secret")
    endpoint = await make_endpoint(api, "http://127.0.0.1:9/hooks", dialect="revolut")
    secret_url = f"/v1/endpoints/{endpoint['id']}/secret"
    before = (await api.get(secret_url)).json()
    assert_problem(await api.post(f"{secret_url}/rotate", json={"secret": ""}), "secret")
    assert (await api.get(secret_url)).json() == before
