"""API keys: random bearer tokens, stored only as SHA-256 hashes.

A token is ``rw_`` plus 32 random bytes in URL-safe base64 (256 bits), so a fast hash is enough:
nothing can be guessed, and the hash makes a leaked database useless for calling the API.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .partners import Tenant

TOKEN_PREFIX = "rw_"
TOKEN_BYTES = 32
KEY_ID_PREFIX = "key"


class Scope(StrEnum):
    """What a key may do; each scope includes the ones below it."""

    ADMIN = "admin"  # everything, including keys and configuration
    WRITE = "write"  # create and change orders
    READ = "read"  # read only

    def allows(self, needed: Scope) -> bool:
        order = (Scope.READ, Scope.WRITE, Scope.ADMIN)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKey:
    id: str
    name: str
    scope: Scope
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    partner_id: str | None = None  # set: a partner key, bound to that partner (read or write)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def tenant(self) -> Tenant:
        """Whose objects this key sees: its partner's, or (an operator key) everything."""
        return Tenant(partner_id=self.partner_id)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
