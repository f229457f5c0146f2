"""rampwire's ed25519 webhook keys (Standard Webhooks ``v1a``), in ``signing_keys`` beside the
Fireblocks RSA key with algorithm ``EdDSA``: the seed sealed with the master key (so a
master-key rotation re-seals it with the others), the first key made when first needed, a
retired key published for :data:`PUBLISHED_AFTER_RETIREMENT` after a rotation.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from ..crypto import SecretBox
from ..dialects.ed25519 import ALGORITHM, WebhookKey, generate_webhook_key, load_webhook_key
from ..storage import Database
from ..storage.database import to_us
from .signing_keys import PUBLISHED_AFTER_RETIREMENT, key_context


class WebhookKeyRepository:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._loaded: dict[str, WebhookKey] = {}  # kid -> key; unsealing per send costs
        self._creating = asyncio.Lock()

    def _load(self, kid: str, sealed: str) -> WebhookKey:
        key = self._loaded.get(kid)
        if key is None:
            seed = self._box.decrypt(sealed, context=key_context(kid)).reveal()
            key = self._loaded[kid] = load_webhook_key(seed)
        return key

    async def _current(self) -> WebhookKey | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT kid, private_key FROM signing_keys"
                " WHERE algorithm = $1 AND retired_at IS NULL",
                ALGORITHM,
            )
        return None if row is None else self._load(row["kid"], row["private_key"])

    async def current(self, *, now: datetime) -> WebhookKey:
        """The key that signs now; made on first use (once, across processes)."""
        key = await self._current()
        if key is not None:
            return key
        async with self._creating:
            key = await self._current()
            if key is None:
                key = await self._insert(generate_webhook_key(), now=now)
        return key

    async def _insert(self, key: WebhookKey, *, now: datetime, retire: bool = False) -> WebhookKey:
        sealed = self._box.encrypt(key.seed(), context=key_context(key.kid))
        async with self._db.transaction() as conn:
            if retire:
                await conn.execute(
                    "UPDATE signing_keys SET retired_at = $2"
                    " WHERE algorithm = $1 AND retired_at IS NULL",
                    ALGORITHM,
                    to_us(now),
                )
            # another process may have made the first key meanwhile: the unique index keeps one
            await conn.execute(
                "INSERT INTO signing_keys (kid, algorithm, private_key, created_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                key.kid,
                ALGORITHM,
                sealed,
                to_us(now),
            )
        current = await self._current()
        if current is None:  # pragma: no cover - the row was just written or found
            raise RuntimeError("no current webhook key after inserting one")
        return current

    async def rotate(self, *, now: datetime) -> WebhookKey:
        """A new current key; the old one keeps being published for a week."""
        return await self._insert(generate_webhook_key(), now=now, retire=True)

    async def published(self, *, now: datetime) -> list[WebhookKey]:
        """The keys a receiver may meet: the current one first, then recently retired ones."""
        await self.current(now=now)
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT kid, private_key FROM signing_keys WHERE algorithm = $1"
                " AND (retired_at IS NULL OR retired_at > $2)"
                " ORDER BY retired_at IS NOT NULL, created_at DESC",
                ALGORITHM,
                to_us(now - PUBLISHED_AFTER_RETIREMENT),
            )
        return [self._load(row["kid"], row["private_key"]) for row in rows]
