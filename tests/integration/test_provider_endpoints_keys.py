"""Provider endpoints: rampwire's Fireblocks key and its JWKS across restarts, and Revolut's
double signature during a secret rotation.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support.apps import api_key, in_process
from tests.support.provider_endpoints import (
    WALLET,
    check_fireblocks,
    check_koywe,
    fetch_jwks,
    final,
    hmac_hex,
    lowered,
    make_endpoint,
    make_order,
    public_key_of,
)
from tests.support.receivers import receiver

from rampwire.api import create_app
from rampwire.crypto import secret_box
from rampwire.dialects import SignatureMismatch, get_dialect
from rampwire.domain.apikeys import Scope
from rampwire.domain.orders import OrderStatus
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow

# --- 2: rampwire's Fireblocks key, its JWKS, and how it is kept ------------------------------


@asynccontextmanager
async def process(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An app with its worker that opens its own database from the settings, as a freshly
    started process would (``db`` only makes it an API key)."""
    app = create_app(settings)
    async with in_process(app, await api_key(db, Scope.WRITE)) as client:
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
    assert private.public_key().public_numbers() == public_key_of(published).public_numbers()
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
