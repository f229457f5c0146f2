"""Versioned migrations, applied by ``rampwire migrate`` and on ``serve``.

An empty database gets :file:`schema.sql` in one piece and every migration marked applied; an
existing one gets the migrations it lacks, in order, each in its own transaction. On PostgreSQL an
advisory lock keeps two processes from migrating at once; on SQLite the write lock does.

A migration whose first line is :data:`OUTSIDE_A_TRANSACTION` runs on PostgreSQL statement by
statement, outside a transaction, under a session advisory lock: that is how an index is built
``CONCURRENTLY`` (``{{CONCURRENTLY}}`` in its text), so writes to a large table go on while it
builds. It is recorded only once every statement has run, and runs again whole after a failure,
so its statements must be safe to repeat (drop what a failed build left, then build).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from ..errors import StorageError
from ..types import utcnow
from .database import Connection, Database, Dialect, statements, to_us

_ADVISORY_LOCK_ID = 0x72616D70  # "ramp"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"JSON": "TEXT", "JSON_AS_WRITTEN": "TEXT", "CONCURRENTLY": ""},
    "postgresql": {"JSON": "JSONB", "JSON_AS_WRITTEN": "JSON", "CONCURRENTLY": "CONCURRENTLY"},
}
OUTSIDE_A_TRANSACTION = "-- rampwire: outside a transaction"
_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def transactional(self) -> bool:
        """False: applied outside a transaction on PostgreSQL (:data:`OUTSIDE_A_TRANSACTION`)."""
        return not self.sql.startswith(OUTSIDE_A_TRANSACTION)


# ``{{postgresql: text}}``: the text on PostgreSQL, nothing on SQLite (a partial index's
# predicate that SQLite could not prove from the queries that need the index); ``{{sqlite:
# text}}`` the other way round (a migration's steps where the two differ: SQLite drops a
# constraint by rebuilding its table)
_ONLY = re.compile(r"\{\{(postgresql|sqlite):(.*?)\}\}", re.S)


def render(sql: str, dialect: Dialect) -> str:
    for placeholder, concrete in _TYPES[dialect].items():
        sql = sql.replace("{{" + placeholder + "}}", concrete)
    return _ONLY.sub(lambda m: m[2] if m[1] == dialect else "", sql)


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(
                Migration(version=int(match[1]), name=match[2], sql=entry.read_text("utf-8"))
            )
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StorageError("migration versions must run 0001, 0002, ... without gaps")
    return found


def fresh_schema() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text("utf-8")


async def migrate(db: Database, *, from_scratch: bool = True) -> list[int]:
    """Bring ``db`` to the current schema; return the versions applied now.

    ``from_scratch=False`` builds even an empty database migration by migration (the schema
    test uses it to compare both paths).
    """
    applied_now: list[int] = []
    async with db.transaction() as conn:
        if db.dialect == "postgresql":
            await conn.execute(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})")
        await conn.execute(_LEDGER)
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        if not done and from_scratch:
            await conn.executescript(render(fresh_schema(), db.dialect))
            for migration in migrations():
                await _record(conn, migration)
                applied_now.append(migration.version)
            return applied_now
    for migration in migrations():
        if migration.version in done:
            continue
        if not migration.transactional and db.dialect == "postgresql":
            if await _apply_outside_a_transaction(db, migration):
                applied_now.append(migration.version)
            continue
        async with db.transaction() as conn:
            if db.dialect == "postgresql":
                await conn.execute(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})")
            if await conn.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            ):
                continue  # another process applied it meanwhile
            await conn.executescript(render(migration.sql, db.dialect))
            await _record(conn, migration)
            applied_now.append(migration.version)
    return applied_now


async def _apply_outside_a_transaction(db: Database, migration: Migration) -> bool:
    """Apply ``migration`` statement by statement, each committed on its own (PostgreSQL);
    False when another process applied it meanwhile."""
    async with db.connection() as conn:
        await conn.execute(f"SELECT pg_advisory_lock({_ADVISORY_LOCK_ID})")
        try:
            if await conn.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            ):
                return False
            for statement in statements(render(migration.sql, db.dialect)):
                await conn.execute(statement)
            await _record(conn, migration)
            return True
        finally:
            # Session-scoped, and the pool does not reset advisory locks on release.
            await conn.execute(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK_ID})")


async def pending(db: Database) -> list[int]:
    """The migrations ``db`` still lacks (all of them for an empty database)."""
    async with db.connection() as conn:
        done: set[int] = set()
        if await _has_ledger(conn, db.dialect):
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m.version for m in migrations() if m.version not in done]


async def _has_ledger(conn: Connection, dialect: Dialect) -> bool:
    if dialect == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    else:
        sql = "SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    return bool(await conn.fetchval(sql))


async def _record(conn: Connection, migration: Migration) -> None:
    await conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        migration.version,
        migration.name,
        to_us(utcnow()),
    )
