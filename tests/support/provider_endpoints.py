"""Shared by the provider-endpoint tests (tests/integration/test_provider_endpoints_*.py):
waits and API calls, and each provider's request checked without rampwire's code (HMAC by
hand, PyJWT for Transak, joserfc and ``cryptography`` for Fireblocks)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jws
from joserfc.jwk import KeySet, RSAKey
from tests.support.receivers import Received

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
        assert public_key_of(key).key_size >= 3072
    return response.text, document


def public_key_of(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
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
    public_key_of(jwk).verify(legacy, got.body, padding.PKCS1v15(), hashes.SHA512())
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
