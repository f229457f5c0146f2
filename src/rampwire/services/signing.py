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
from ..dialects.base import DialectName
from ..dialects.ed25519 import WebhookKey
from ..dialects.jose import SigningKey
from ..dialects.standard import hmac_credentials
from ..repository.signing_keys import SigningKeyRepository
from ..repository.webhook_keys import WebhookKeyRepository
from ..settings import Secret


class OwnKeys:
    """rampwire's own current signing keys as of ``now``, each read at most once: make one per
    batch of credentials (the worker builds a claim's endpoints with one)."""

    def __init__(
        self, signing: SigningKeyRepository, webhook: WebhookKeyRepository, *, now: datetime
    ) -> None:
        self._signing_keys, self._webhook_keys, self._now = signing, webhook, now
        self._signing: SigningKey | None = None
        self._webhook: WebhookKey | None = None

    async def signing(self) -> SigningKey:
        """The RSA key Fireblocks-format requests are signed with."""
        if self._signing is None:
            self._signing = await self._signing_keys.current(now=self._now)
        return self._signing

    async def webhook(self) -> WebhookKey:
        """The ed25519 key of standard ``v1a`` signatures."""
        if self._webhook is None:
            self._webhook = await self._webhook_keys.current(now=self._now)
        return self._webhook


async def credentials(
    dialect: Dialect[Any],
    secrets: Sequence[Secret],
    *,
    signatures: Sequence[str] = DEFAULT_SIGNATURES,
    keys: OwnKeys,
) -> Any:
    """The dialect's credentials for ``secrets`` (newest first); ``signatures`` are a standard
    request's schemes (``v1``: HMAC with the secrets, ``v1a``: rampwire's ed25519 key).
    Raises the dialect's error when the secrets are unusable."""
    if dialect.name in KEY_SIGNED:
        return FireblocksCredentials(signing_key=await keys.signing())
    if "v1a" in signatures:  # standard, signed with rampwire's ed25519 key
        webhook_key = await keys.webhook()
        return StandardCredentials(
            secrets=tuple(secrets),
            ed25519_key=webhook_key.private,
            hmac_signatures="v1" in signatures,
        )
    return secret_credentials(dialect, tuple(secrets))


def secret_credentials(dialect: Dialect[Any], secrets: tuple[Secret, ...]) -> Any:
    """The dialect's credentials for ``secrets`` (newest first), of an endpoint that signs with
    them alone (neither :data:`KEY_SIGNED` nor ``v1a``): what :func:`credentials` makes of
    those, without awaiting (the worker builds one for each endpoint it reads). Raises the
    dialect's error when the secrets are unusable."""
    if dialect.name is DialectName.STANDARD:  # most endpoints: the secrets as they are
        return hmac_credentials(secrets)
    return dialect.credentials_from_secrets([s.reveal() for s in secrets])
