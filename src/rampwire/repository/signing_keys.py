"""rampwire's own signing keys: the RSA key pair the Fireblocks dialect signs with.

The private half is stored encrypted with the master key; the public half is published as a JWKS
at ``/.well-known/jwks.json``. The first key is made when it is first needed. After a rotation the
retired key stays in the JWKS for :data:`PUBLISHED_AFTER_RETIREMENT`, so receivers that cached the
old ``kid`` still verify webhooks that were in flight.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from ..crypto import SecretBox
from ..dialects.jose import SigningKey, generate_signing_key, load_signing_key, private_key_pem
from ..storage import Database
from ..storage.database import to_us

ALGORITHM = "RS512"
PUBLISHED_AFTER_RETIREMENT = timedelta(days=7)


def key_context(kid: str) -> str:
    return f"signing-key:{kid}"


class SigningKeyRepository:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._loaded: dict[str, SigningKey] = {}  # kid -> key; decrypting and parsing is slow
        self._creating = asyncio.Lock()

    def _load(self, kid: str, sealed: str) -> SigningKey:
        key = self._loaded.get(kid)
        if key is None:
            pem = self._box.decrypt(sealed, context=key_context(kid)).reveal()
            key = self._loaded[kid] = load_signing_key(pem, kid=kid)
        return key

    async def _current(self) -> SigningKey | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT kid, private_key FROM signing_keys"
                " WHERE algorithm = $1 AND retired_at IS NULL",
                ALGORITHM,
            )
        return None if row is None else self._load(row["kid"], row["private_key"])

    async def current(self, *, now: datetime) -> SigningKey:
        """The key that signs now; made on first use (once, across processes)."""
        key = await self._current()
        if key is not None:
            return key
        async with self._creating:
            key = await self._current()
            if key is None:
                key = await self._insert(await asyncio.to_thread(generate_signing_key), now=now)
        return key

    async def _insert(self, key: SigningKey, *, now: datetime, retire: bool = False) -> SigningKey:
        sealed = self._box.encrypt(private_key_pem(key).decode(), context=key_context(key.kid))
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
            raise RuntimeError("no current signing key after inserting one")
        return current

    async def rotate(self, *, now: datetime) -> SigningKey:
        """A new current key; the old one keeps being published for a week."""
        key = await asyncio.to_thread(generate_signing_key)
        return await self._insert(key, now=now, retire=True)

    async def published(self, *, now: datetime) -> list[SigningKey]:
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
