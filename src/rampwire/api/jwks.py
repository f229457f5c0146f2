"""``/.well-known/jwks.json``: the public keys rampwire signs Fireblocks-format webhooks with."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..dialects import jwks
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
