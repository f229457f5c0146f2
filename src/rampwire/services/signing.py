"""The credentials an outgoing request is signed with, in its dialect: the one place that knows
which come from the caller's secrets (a standard ``whsec_``, a provider's shared secret or
token) and which from rampwire's own keys (Fireblocks' RSA key, the ed25519 ``v1a`` key). The
worker signs deliveries with them, listen sessions (``rampwire listen``) their streamed events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..delivery.endpoints import DEFAULT_SIGNATURES, KEY_SIGNED
from ..dialects import Dialect, FireblocksCredentials, StandardCredentials
from ..repository.signing_keys import SigningKeyRepository
from ..repository.webhook_keys import WebhookKeyRepository
from ..settings import Secret


async def credentials(
    dialect: Dialect[Any],
    secrets: Sequence[Secret],
    *,
    signatures: Sequence[str] = DEFAULT_SIGNATURES,
    signing_keys: SigningKeyRepository,
    webhook_keys: WebhookKeyRepository,
    now: datetime,
) -> Any:
    """The dialect's credentials for ``secrets`` (newest first); ``signatures`` are a standard
    request's schemes (``v1``: HMAC with the secrets, ``v1a``: rampwire's ed25519 key).
    Raises the dialect's error when the secrets are unusable."""
    if dialect.name in KEY_SIGNED:
        return FireblocksCredentials(signing_key=await signing_keys.current(now=now))
    if "v1a" in signatures:  # standard, signed with rampwire's ed25519 key
        webhook_key = await webhook_keys.current(now=now)
        return StandardCredentials(
            secrets=tuple(secrets),
            ed25519_key=webhook_key.private,
            hmac_signatures="v1" in signatures,
        )
    return dialect.credentials_from_secrets([s.reveal() for s in secrets])
