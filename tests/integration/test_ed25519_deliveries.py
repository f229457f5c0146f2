"""Standard Webhooks ``v1a``: a standard endpoint signed with rampwire's ed25519 key, its public
key published at /.well-known/webhook-public-keys, verified by ``cryptography`` directly, by the
receiver kit, and (for the v1 half of a both-ways endpoint) by the official package."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook
from tests.support.provider_endpoints import make_endpoint, make_order
from tests.support.receivers import receiver

from rampwire.receiver import Verifier


async def published(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    request = api.build_request("GET", "/.well-known/webhook-public-keys")
    del request.headers["authorization"]  # as any receiver asks: no API key
    response = await api.send(request)
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()["keys"]
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "kid", "alg", "use", "whpk"}
        assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
        raw = base64.urlsafe_b64decode(key["x"] + "=")
        assert key["whpk"] == "whpk_" + base64.b64encode(raw).decode()
    return keys


def signatures(headers: dict[str, str]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for item in headers["webhook-signature"].split():
        version, _, value = item.partition(",")
        found.setdefault(version, []).append(base64.b64decode(value))
    return found


async def test_a_v1a_endpoint_is_signed_with_the_published_ed25519_key(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, event_types=["order.*"], signatures=["v1a"])
        assert endpoint["signatures"] == ["v1a"]
        await make_order(api)
        [got] = await hooks.wait_for(1)
    [key] = await published(api)
    found = signatures(got.headers)
    assert list(found) == ["v1a"]  # no HMAC signature at all
    # independently, with cryptography and nothing of rampwire
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["x"] + "="))
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode()
    public.verify(found["v1a"][0], signed + got.body)  # raises InvalidSignature if wrong
    # and with the kit, given the published whpk_ key
    event = Verifier(public_keys=key["whpk"]).verify(got.headers, got.body)
    assert event == json.loads(got.body)
    # the official Python package verifies v1 only: it finds no signature it can check
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(endpoint["secret"]).verify(got.body, got.headers)


async def test_both_schemes_at_once_for_a_receiver_moving_to_v1a(api: httpx.AsyncClient) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url, signatures=["v1a", "v1", "v1"])
        assert endpoint["signatures"] == ["v1", "v1a"]
        await make_order(api)
        [got] = await hooks.wait_for(1)
    [key] = await published(api)
    assert sorted(signatures(got.headers)) == ["v1", "v1a"]
    assert Webhook(endpoint["secret"]).verify(got.body, got.headers)["type"] == "order.created"
    assert Verifier(public_keys=key["whpk"]).verify(got.headers, got.body)
    assert Verifier(endpoint["secret"]).verify(got.headers, got.body)


async def test_the_signatures_can_be_changed_and_are_kept(api: httpx.AsyncClient) -> None:
    async with receiver() as hooks:
        endpoint = await make_endpoint(api, hooks.url)
        assert endpoint["signatures"] == ["v1"]
        changed = await api.patch(f"/v1/endpoints/{endpoint['id']}", json={"signatures": ["v1a"]})
        assert changed.status_code == 200, changed.text
        read = (await api.get(f"/v1/endpoints/{endpoint['id']}")).json()
        assert read["signatures"] == ["v1a"]
        await make_order(api)
        [got] = await hooks.wait_for(1)
    assert list(signatures(got.headers)) == ["v1a"]


@pytest.mark.parametrize(
    "body",
    [
        {"signatures": ["v2"]},
        {"signatures": []},
        {"signatures": "v1a"},
        {"dialect": "transak", "signatures": ["v1a"]},
    ],
)
async def test_unusable_signatures_are_refused_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await api.post("/v1/endpoints", json={"url": "https://example.com/h", **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "signatures" in response.text and "Traceback" not in response.text
    assert (await api.get("/v1/endpoints")).json()["data"] == []


async def test_the_key_is_made_once_and_kept(api: httpx.AsyncClient) -> None:
    first = await published(api)
    assert first == await published(api)
    assert len(first) == 1
