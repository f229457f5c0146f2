"""API keys in storage."""

from __future__ import annotations

from ..domain.apikeys import KEY_ID_PREFIX, ApiKey, Scope, hash_token, new_token
from ..errors import InvalidRequest, NotFound
from ..ids import new_id
from ..storage import Database, Row
from ..storage.database import Where, from_us, to_us
from ..types import utcnow

_COLUMNS = "id, name, scope, token_prefix, created_at, revoked_at, partner_id"


_PREFIXED = ", ".join(f"k.{column}" for column in _COLUMNS.split(", "))


def _key(row: Row) -> ApiKey:
    revoked = row["revoked_at"]
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scope=Scope(row["scope"]),
        token_prefix=row["token_prefix"],
        created_at=from_us(row["created_at"]),
        revoked_at=None if revoked is None else from_us(revoked),
        partner_id=row["partner_id"],
    )


class KeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, name: str, scope: Scope, *, partner_id: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its token; the token is shown once and never stored. With
        ``partner_id``, a partner key: bound to that partner, never ``admin``."""
        if partner_id is not None and scope is Scope.ADMIN:
            raise InvalidRequest(
                "a partner key has scope read or write; admin is the operator's",
                errors=[{"field": "scope", "reason": "read or write for a partner key"}],
            )
        token = new_token()
        key = ApiKey(
            id=new_id(KEY_ID_PREFIX),
            name=name,
            scope=scope,
            token_prefix=token[:10],
            created_at=utcnow(),
            partner_id=partner_id,
        )
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO api_keys (id, name, scope, token_hash, token_prefix, created_at,"
                " partner_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                key.id,
                key.name,
                key.scope.value,
                hash_token(token),
                key.token_prefix,
                to_us(key.created_at),
                partner_id,
            )
        return key, token

    async def all(self, *, partner_id: str | None = None) -> list[ApiKey]:
        """Every key, or only ``partner_id``'s."""
        where = "" if partner_id is None else " WHERE partner_id = $1"
        args = () if partner_id is None else (partner_id,)
        async with self._db.connection() as conn:
            rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY id", *args)
        return [_key(row) for row in rows]

    async def get(self, key_id: str) -> ApiKey | None:
        """One key by its id, revoked or not; None when there is none (a dashboard session's
        check on every request: one row, whatever the number of keys)."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)
        return None if row is None else _key(row)

    async def find(
        self,
        *,
        limit: int,
        before: str | None = None,
        partner_id: str | None = None,
        operator: bool | None = None,
    ) -> list[ApiKey]:
        """A page of keys, newest first: ``partner_id``'s, or with ``operator`` True the
        operator's only, False the partners' only."""
        where = Where()
        where.equals("partner_id", partner_id)
        if operator is not None:
            where.add("partner_id IS NULL" if operator else "partner_id IS NOT NULL")
        sql = where.newest_first(f"SELECT {_COLUMNS} FROM api_keys", before=before, limit=limit)
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
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

    async def authenticate(self, token: str) -> tuple[ApiKey, str | None] | None:
        """The active key whose token this is, and for a partner key its partner's status
        (``active``, ``suspended``); None for an unknown or revoked key, or one whose partner
        was deleted."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_PREFIXED}, p.status AS partner_status FROM api_keys k"
                " LEFT JOIN partners p ON p.id = k.partner_id AND p.deleted_at IS NULL"
                " WHERE k.token_hash = $1",
                hash_token(token),
            )
        if row is None or row["revoked_at"] is not None:
            return None
        if row["partner_id"] is not None and row["partner_status"] is None:
            return None
        return _key(row), row["partner_status"]
