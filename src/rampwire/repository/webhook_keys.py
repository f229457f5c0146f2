"""rampwire's ed25519 webhook keys (Standard Webhooks ``v1a``), in ``signing_keys`` beside the
Fireblocks RSA key with algorithm ``EdDSA``; kept as :class:`.signing_keys.SealedKeys` keeps
every algorithm's keys (the seed sealed, made when first needed, published after a rotation)."""

from __future__ import annotations

from ..dialects.ed25519 import ALGORITHM, WebhookKey, generate_webhook_key, load_webhook_key
from .signing_keys import SealedKeys


class WebhookKeyRepository(SealedKeys[WebhookKey]):
    algorithm = ALGORITHM

    async def _generate(self) -> WebhookKey:
        return generate_webhook_key()

    def _text(self, key: WebhookKey) -> str:
        return key.seed()

    def _read(self, text: str, kid: str) -> WebhookKey:
        return load_webhook_key(text)
