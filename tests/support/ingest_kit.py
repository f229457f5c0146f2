"""What ingest tests share: one source per provider, and that provider's signed requests.

``KITS[provider]`` holds the credentials to create the source through the API and the dialect
credentials a provider would sign with; :func:`webhook` encodes an order at a status exactly as
that provider sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from rampwire.dialects import (
    FireblocksCredentials,
    KoyweCredentials,
    RevolutCredentials,
    SaberCredentials,
    TransakCredentials,
    get_dialect,
    jwks,
)
from rampwire.dialects.base import OutboundEvent, WireRequest
from rampwire.dialects.jose import generate_signing_key
from rampwire.domain.orders import Order, OrderStatus, Provider
from rampwire.ids import new_id
from rampwire.settings import Secret

_FIREBLOCKS_KEY = generate_signing_key(2048)
_SECRET = "kit-secret-0123456789abcdef"
_TOKEN = "kit-access-token-0123456789"


@dataclass(frozen=True, kw_only=True)
class Kit:
    provider: Provider
    source_credentials: dict[str, Any]  # what POST /v1/sources takes
    signing: Any  # what the provider signs with


KITS: dict[Provider, Kit] = {
    Provider.REVOLUT: Kit(
        provider=Provider.REVOLUT,
        source_credentials={"secrets": ["wsk_" + _SECRET]},
        signing=RevolutCredentials(secrets=(Secret("wsk_" + _SECRET),)),
    ),
    Provider.SABER: Kit(
        provider=Provider.SABER,
        source_credentials={"mode": "hmac", "secrets": [_SECRET]},
        signing=SaberCredentials(secrets=(Secret(_SECRET),)),
    ),
    Provider.FIREBLOCKS: Kit(
        provider=Provider.FIREBLOCKS,
        source_credentials={"jwks": orjson.loads(orjson.dumps(jwks([_FIREBLOCKS_KEY])))},
        signing=FireblocksCredentials(signing_key=_FIREBLOCKS_KEY),
    ),
    Provider.KOYWE: Kit(
        provider=Provider.KOYWE,
        source_credentials={"secret": _SECRET},
        signing=KoyweCredentials(secrets=(Secret(_SECRET),)),
    ),
    Provider.TRANSAK: Kit(
        provider=Provider.TRANSAK,
        source_credentials={"access_token": _TOKEN},
        signing=TransakCredentials(access_tokens=(Secret(_TOKEN),)),
    ),
}


def webhook(provider: Provider, order: Order, status: OrderStatus, *, now: datetime) -> WireRequest:
    """The request ``provider`` sends when ``order`` reaches ``status``."""
    at_status = order.evolve(status=status, updated_at=now)
    event = OutboundEvent(id=new_id("evt"), type=f"order.{status.value}", created_at=now)
    return get_dialect(provider.value).encode(event, at_status, KITS[provider].signing, now=now)


async def make_source(api: httpx.AsyncClient, provider: Provider, **extra: Any) -> dict[str, Any]:
    body = {
        "provider": provider.value,
        "name": f"{provider.value} test",
        "credentials": KITS[provider].source_credentials,
        **extra,
    }
    response = await api.post("/v1/sources", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def send(api: httpx.AsyncClient, source_id: str, request: WireRequest) -> httpx.Response:
    """POST a provider request to the source's inbound URL (the API key is not needed)."""
    return await api.post(f"/ingest/{source_id}", content=request.body, headers=request.headers)
