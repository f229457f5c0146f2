"""Partners in storage. A deleted partner is kept (its orders and log name it) but is gone for
every read; its keys are revoked in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..domain import serde
from ..domain.partners import PARTNER_ID_PREFIX, Partner, PartnerStatus
from ..errors import NotFound
from ..ids import new_id
from ..storage import Database, Row
from ..storage.database import Where, from_us, to_us

_COLUMNS = "id, name, status, metadata, created_at, updated_at"


def _partner(row: Row) -> Partner:
    return Partner(
        id=row["id"],
        name=row["name"],
        status=PartnerStatus(row["status"]),
        metadata=serde.from_json(row["metadata"]),
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
    )


class PartnerRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, name: str, metadata: Mapping[str, Any], now: datetime) -> Partner:
        partner = Partner(
            id=new_id(PARTNER_ID_PREFIX),
            name=name,
            status=PartnerStatus.ACTIVE,
            metadata=dict(metadata),
            created_at=now,
            updated_at=now,
        )
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO partners ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)",
                partner.id,
                partner.name,
                partner.status.value,
                serde.to_json(dict(partner.metadata)).decode(),
                to_us(now),
                to_us(now),
            )
        return partner

    async def get(self, partner_id: str) -> Partner:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM partners WHERE id = $1 AND deleted_at IS NULL",
                partner_id,
            )
        if row is None:
            raise NotFound(f"no partner {partner_id!r}")
        return _partner(row)

    async def find(
        self, *, status: PartnerStatus | None = None, limit: int, before: str | None = None
    ) -> list[Partner]:
        """Partners, newest first; ``before`` is the last id of the previous page."""
        where = Where()
        where.add("deleted_at IS NULL")
        where.equals("status", None if status is None else status.value)
        sql = where.newest_first(f"SELECT {_COLUMNS} FROM partners", before=before, limit=limit)
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
        return [_partner(row) for row in rows]

    async def update(
        self,
        partner_id: str,
        *,
        now: datetime,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        status: PartnerStatus | None = None,
    ) -> Partner:
        """Change what is given. Resuming a suspended partner makes its waiting deliveries
        claimable again at once (they kept their times, so they are due)."""
        sets = ["updated_at = $2"]
        args: list[Any] = [partner_id, to_us(now)]

        def put(column: str, value: Any) -> None:
            args.append(value)
            sets.append(f"{column} = ${len(args)}")

        if name is not None:
            put("name", name)
        if metadata is not None:
            put("metadata", serde.to_json(dict(metadata)).decode())
        if status is not None:
            put("status", status.value)
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                f"UPDATE partners SET {', '.join(sets)} WHERE id = $1 AND deleted_at IS NULL",
                *args,
            )
        if not changed:
            raise NotFound(f"no partner {partner_id!r}")
        return await self.get(partner_id)

    async def delete(self, partner_id: str, *, now: datetime) -> None:
        """Gone for every read, and its keys revoked; its orders and their history are kept."""
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE partners SET deleted_at = $2, updated_at = $2"
                " WHERE id = $1 AND deleted_at IS NULL",
                partner_id,
                to_us(now),
            )
            if not changed:
                raise NotFound(f"no partner {partner_id!r}")
            await conn.execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE partner_id = $1 AND revoked_at IS NULL",
                partner_id,
                to_us(now),
            )

    async def busiest(self, limit: int) -> list[str]:
        """The ``limit`` partners with the most orders, most first (ties by id): the per-partner
        metrics' ``top:N``, read once when a process starts (``orders_partner``'s index)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT partner_id FROM orders WHERE partner_id IS NOT NULL"
                " GROUP BY partner_id ORDER BY count(*) DESC, partner_id LIMIT $1",
                limit,
            )
        return [row["partner_id"] for row in rows]
