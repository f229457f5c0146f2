"""The public keys rampwire signs webhooks with, no API key needed: ``/.well-known/jwks.json``
(RSA, Fireblocks-format webhooks) and ``/.well-known/webhook-public-keys`` (ed25519, Standard
Webhooks ``v1a``; kept apart so a Fireblocks receiver's JWKS holds only the keys it can use)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..dialects import jwks
from ..dialects.ed25519 import public_keys
from ..domain import serde
from ..repository.signing_keys import SigningKeyRepository
from ..types import utcnow
from .bodies import JSON
from .state import state

router = APIRouter(tags=["signing keys"])
MAX_AGE_S = 300


@router.get("/.well-known/jwks.json")
async def signing_keys(request: Request) -> Response:
    """The current key and those retired in the last week; no API key needed."""
    keys: SigningKeyRepository = state(request).signing_keys
    document = jwks(await keys.published(now=utcnow()))
    return Response(
        serde.to_json(document),
        media_type=JSON,
        headers={"cache-control": f"public, max-age={MAX_AGE_S}"},
    )


@router.get("/.well-known/webhook-public-keys")
async def webhook_public_keys(request: Request) -> Response:
    """The ed25519 keys that sign `v1a` webhooks, the current one first, then those retired in
    the last week: each as an OKP JWK with its Standard Webhooks spelling in `whpk`."""
    document = public_keys(await state(request).webhook_keys.published(now=utcnow()))
    return Response(
        serde.to_json(document),
        media_type=JSON,
        headers={"cache-control": f"public, max-age={MAX_AGE_S}"},
    )
