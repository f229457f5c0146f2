"""API keys in storage."""

from __future__ import annotations

from ..domain.apikeys import KEY_ID_PREFIX, ApiKey, Scope, hash_token, new_token
from ..errors import NotFound
from ..ids import new_id
from ..storage import Database, Row
from ..storage.database import from_us, to_us
from ..types import utcnow

_COLUMNS = "id, name, scope, token_prefix, created_at, revoked_at"


def _key(row: Row) -> ApiKey:
    revoked = row["revoked_at"]
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scope=Scope(row["scope"]),
        token_prefix=row["token_prefix"],
        created_at=from_us(row["created_at"]),
        revoked_at=None if revoked is None else from_us(revoked),
    )


class KeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, scope: Scope) -> tuple[ApiKey, str]:
        """A new key and its token; the token is shown once and never stored."""
        token = new_token()
        key = ApiKey(
            id=new_id(KEY_ID_PREFIX),
            name=name,
            scope=scope,
            token_prefix=token[:10],
            created_at=utcnow(),
        )
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO api_keys (id, name, scope, token_hash, token_prefix, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                key.id,
                key.name,
                key.scope.value,
                hash_token(token),
                key.token_prefix,
                to_us(key.created_at),
            )
        return key, token

    async def all(self) -> list[ApiKey]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_keys ORDER BY id")
        return [_key(row) for row in rows]

    async def revoke(self, key_id: str) -> ApiKey:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                key_id,
                to_us(utcnow()),
            )
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)
        if row is None:
            raise NotFound(f"no API key {key_id!r}")
        return _key(row)

    async def authenticate(self, token: str) -> ApiKey | None:
        """The active key whose token this is, or None."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM api_keys WHERE token_hash = $1", hash_token(token)
            )
        if row is None or row["revoked_at"] is not None:
            return None
        return _key(row)
