"""Sources in storage; their credentials are encrypted with the master key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..crypto import SecretBox
from ..domain import serde
from ..domain.orders import Provider
from ..errors import NotFound
from ..ids import new_id
from ..ingest.sources import SOURCE_ID_PREFIX, IngestSource
from ..storage import Database, Row
from ..storage.database import Where, from_us, to_us

_COLUMNS = (
    "id, provider, name, credentials, options, disabled_at, created_at, updated_at, partner_id"
)


def credentials_context(source_id: str) -> str:
    return f"source:{source_id}"


class SourceRepository:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    @staticmethod
    def new_id() -> str:
        return new_id(SOURCE_ID_PREFIX)

    def _seal(self, source_id: str, credentials: Mapping[str, Any]) -> str:
        plain = serde.to_json(dict(credentials)).decode()
        return self._box.encrypt(plain, context=credentials_context(source_id))

    def _source(self, row: Row) -> IngestSource:
        sealed = row["credentials"]
        plain = self._box.decrypt(sealed, context=credentials_context(row["id"])).reveal()
        disabled = row["disabled_at"]
        return IngestSource(
            id=row["id"],
            provider=Provider(row["provider"]),
            name=row["name"],
            credentials=serde.from_json(plain),
            options=serde.from_json(row["options"]),
            disabled_at=None if disabled is None else from_us(disabled),
            created_at=from_us(row["created_at"]),
            updated_at=from_us(row["updated_at"]),
            partner_id=row["partner_id"],
        )

    async def create(self, source: IngestSource) -> IngestSource:
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO sources ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                source.id,
                source.provider.value,
                source.name,
                self._seal(source.id, source.credentials),
                serde.to_json(dict(source.options)).decode(),
                None if source.disabled_at is None else to_us(source.disabled_at),
                to_us(source.created_at),
                to_us(source.updated_at),
                source.partner_id,
            )
        return source

    async def get(self, source_id: str) -> IngestSource:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM sources WHERE id = $1 AND deleted_at IS NULL", source_id
            )
        if row is None:
            raise NotFound(f"no source {source_id!r}")
        return self._source(row)

    async def all(
        self, *, limit: int, before: str | None = None, partner_id: str | None = None
    ) -> list[IngestSource]:
        """Sources newest first; with ``partner_id``, that partner's only."""
        where = Where()
        where.add("deleted_at IS NULL")
        where.equals("partner_id", partner_id)
        sql = where.newest_first(f"SELECT {_COLUMNS} FROM sources", before=before, limit=limit)
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
        return [self._source(row) for row in rows]

    async def update(
        self,
        source_id: str,
        *,
        now: datetime,
        name: str | None = None,
        credentials: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> IngestSource:
        sets = ["updated_at = $2"]
        args: list[Any] = [source_id, to_us(now)]

        def put(column: str, value: Any) -> None:
            args.append(value)
            sets.append(f"{column} = ${len(args)}")

        if name is not None:
            put("name", name)
        if credentials is not None:
            put("credentials", self._seal(source_id, credentials))
        if options is not None:
            put("options", serde.to_json(dict(options)).decode())
        if enabled is not None:
            put("disabled_at", None if enabled else to_us(now))
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                f"UPDATE sources SET {', '.join(sets)} WHERE id = $1 AND deleted_at IS NULL", *args
            )
        if not changed:
            raise NotFound(f"no source {source_id!r}")
        return await self.get(source_id)

    async def delete(self, source_id: str, *, now: datetime) -> None:
        """Stop receiving; the inbound log and the orders are kept."""
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE sources SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                source_id,
                to_us(now),
            )
        if not changed:
            raise NotFound(f"no source {source_id!r}")
