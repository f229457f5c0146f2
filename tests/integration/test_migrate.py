"""The schema: a fresh one equals the migrated one, on both back-ends."""

from __future__ import annotations

import re

from rampwire.storage import Database, migrate, open_database
from rampwire.storage.migrate import migrations, pending


async def describe(db: Database) -> dict[str, object]:
    """Tables, columns, indexes and constraints, normalised for comparison."""
    async with db.connection() as conn:
        if db.dialect == "sqlite":
            rows = await conn.fetch(
                "SELECT type, name, tbl_name, sql FROM sqlite_master"
                " WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
            )
            return {
                row["name"]: (row["type"], row["tbl_name"], re.sub(r"\s+", " ", row["sql"] or ""))
                for row in rows
            }
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY table_name, ordinal_position"
        )
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " ORDER BY indexname"
        )
        constraints = await conn.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace ORDER BY conname"
        )
        return {
            "columns": [tuple(r) for r in columns],
            "indexes": [tuple(r) for r in indexes],
            "constraints": [tuple(r) for r in constraints],
        }


async def test_fresh_schema_equals_migrated_schema(empty_database_urls: tuple[str, str]) -> None:
    fresh, migrated = (open_database(url) for url in empty_database_urls)
    await fresh.open()
    await migrated.open()
    try:
        every = [m.version for m in migrations()]
        assert await pending(fresh) == every
        assert await migrate(fresh) == every
        assert await migrate(migrated, from_scratch=False) == every
        assert await describe(fresh) == await describe(migrated)
        assert await pending(fresh) == [] and await pending(migrated) == []
        assert await migrate(fresh) == []  # a second run applies nothing
    finally:
        await fresh.close()
        await migrated.close()
