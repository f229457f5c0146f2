"""rampwire's own signing keys, in one table: the RSA key pair the Fireblocks dialect signs with
(``RS512``, published as a JWKS at ``/.well-known/jwks.json``) and the ed25519 key of Standard
Webhooks ``v1a`` deliveries (``EdDSA``, ``/.well-known/webhook-public-keys``; see
:mod:`.webhook_keys`).

Each private half is stored sealed with the master key (so a master-key rotation re-seals it with
the other secrets). The first key of an algorithm is made when it is first needed. After a
rotation the retired key stays published for :data:`PUBLISHED_AFTER_RETIREMENT`, so receivers that
cached the old ``kid`` still verify webhooks that were in flight.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import ClassVar, Generic, Protocol, TypeVar

from ..crypto import SecretBox
from ..dialects.jose import SigningKey, generate_signing_key, load_signing_key, private_key_pem
from ..storage import Database
from ..storage.database import to_us

PUBLISHED_AFTER_RETIREMENT = timedelta(days=7)


class _Keyed(Protocol):
    @property
    def kid(self) -> str: ...


K = TypeVar("K", bound=_Keyed)


def key_context(kid: str) -> str:
    return f"signing-key:{kid}"


class SealedKeys(Generic[K]):
    """One algorithm's keys in ``signing_keys``: the current one, rotation, the published ones.
    A subclass says how its keys are made, written as text to seal, and read back."""

    algorithm: ClassVar[str]

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._loaded: dict[str, K] = {}  # kid -> key; unsealing and parsing per send costs
        self._creating = asyncio.Lock()

    async def _generate(self) -> K:
        raise NotImplementedError

    def _text(self, key: K) -> str:
        """The private half, as text to seal."""
        raise NotImplementedError

    def _read(self, text: str, kid: str) -> K:
        raise NotImplementedError

    def _load(self, kid: str, sealed: str) -> K:
        key = self._loaded.get(kid)
        if key is None:
            text = self._box.decrypt(sealed, context=key_context(kid)).reveal()
            key = self._loaded[kid] = self._read(text, kid)
        return key

    async def _current(self) -> K | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT kid, private_key FROM signing_keys"
                " WHERE algorithm = $1 AND retired_at IS NULL",
                self.algorithm,
            )
        return None if row is None else self._load(row["kid"], row["private_key"])

    async def current(self, *, now: datetime) -> K:
        """The key that signs now; made on first use (once, across processes)."""
        key = await self._current()
        if key is not None:
            return key
        async with self._creating:
            key = await self._current()
            if key is None:
                key = await self._insert(await self._generate(), now=now)
        return key

    async def _insert(self, key: K, *, now: datetime, retire: bool = False) -> K:
        sealed = self._box.encrypt(self._text(key), context=key_context(key.kid))
        async with self._db.transaction() as conn:
            if retire:
                await conn.execute(
                    "UPDATE signing_keys SET retired_at = $2"
                    " WHERE algorithm = $1 AND retired_at IS NULL",
                    self.algorithm,
                    to_us(now),
                )
            # another process may have made the first key meanwhile: the unique index keeps one
            await conn.execute(
                "INSERT INTO signing_keys (kid, algorithm, private_key, created_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                key.kid,
                self.algorithm,
                sealed,
                to_us(now),
            )
        current = await self._current()
        if current is None:  # pragma: no cover - the row was just written or found
            raise RuntimeError(f"no current {self.algorithm} key after inserting one")
        return current

    async def rotate(self, *, now: datetime) -> K:
        """A new current key; the old one keeps being published for a week."""
        return await self._insert(await self._generate(), now=now, retire=True)

    async def published(self, *, now: datetime) -> list[K]:
        """The keys a receiver may meet: the current one first, then recently retired ones."""
        await self.current(now=now)
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT kid, private_key FROM signing_keys WHERE algorithm = $1"
                " AND (retired_at IS NULL OR retired_at > $2)"
                " ORDER BY retired_at IS NOT NULL, created_at DESC",
                self.algorithm,
                to_us(now - PUBLISHED_AFTER_RETIREMENT),
            )
        return [self._load(row["kid"], row["private_key"]) for row in rows]


class SigningKeyRepository(SealedKeys[SigningKey]):
    """The Fireblocks dialect's RSA keys."""

    algorithm = "RS512"

    async def _generate(self) -> SigningKey:
        return await asyncio.to_thread(generate_signing_key)  # RSA key generation is slow

    def _text(self, key: SigningKey) -> str:
        return private_key_pem(key).decode()

    def _read(self, text: str, kid: str) -> SigningKey:
        return load_signing_key(text, kid=kid)
