"""Partner portal links: one-time, short-lived tokens that open a portal session scoped to
one partner.

Only the token's SHA-256 is stored (a token is 256 random bits, as an API key's). Consuming a
link is one statement, ``UPDATE ... WHERE used_at IS NULL AND expires_at > now RETURNING``, so
two requests racing with the same link cannot both open a session, on either back-end.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain.apikeys import hash_token
from ..ids import new_id
from ..storage import Database
from ..storage.database import from_us, to_us

PORTAL_LINK_ID_PREFIX = "pl"
TOKEN_PREFIX = "rwp_"
TOKEN_BYTES = 32


@dataclass(frozen=True, kw_only=True, slots=True)
class PortalLink:
    id: str
    partner_id: str
    expires_at: datetime


class PortalLinkRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, partner_id: str, *, ttl: timedelta, now: datetime, created_by: str | None
    ) -> tuple[PortalLink, str]:
        """A new link for ``partner_id`` and its token (shown once, never stored)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        link = PortalLink(
            id=new_id(PORTAL_LINK_ID_PREFIX), partner_id=partner_id, expires_at=now + ttl
        )
        async with self._db.transaction() as conn:
            # -- create_portal_link --
            await conn.execute(
                "INSERT INTO portal_links (id, partner_id, token_hash, created_by, created_at,"
                " expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                link.id,
                partner_id,
                hash_token(token),
                created_by,
                to_us(now),
                to_us(link.expires_at),
            )
        return link, token

    async def consume(self, token: str, *, now: datetime) -> PortalLink | None:
        """The link of ``token``, marked used; None when there is none, or it was used or has
        expired (the caller cannot tell which: nothing is opened either way)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        async with self._db.transaction() as conn:
            # -- consume_portal_link --
            row = await conn.fetchrow(
                "UPDATE portal_links SET used_at = $2"
                " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2"
                " RETURNING id, partner_id, expires_at",
                hash_token(token),
                to_us(now),
            )
        if row is None:
            return None
        return PortalLink(
            id=row["id"], partner_id=row["partner_id"], expires_at=from_us(row["expires_at"])
        )
