"""Fresh databases for a benchmark: a temporary SQLite file, or a PostgreSQL database
``rampwire_bench_<random>`` created through an admin connection and dropped at the end (with
``FORCE``: a benchmark that failed may leave connections behind)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from rampwire.storage import Database

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_TIMEOUT_S = 10.0  # to connect as the admin


@contextlib.asynccontextmanager
async def fresh_database_url(backend: str, admin_url: str) -> AsyncIterator[tuple[str, str]]:
    """(database URL, a temporary data directory), with nothing in the database, not even its
    schema; both removed on exit. The SQLite file lives in the data directory."""
    folder = tempfile.mkdtemp(prefix="rampwire_bench_")
    name = f"rampwire_bench_{uuid.uuid4().hex[:12]}"
    url = f"sqlite:///{folder}/rampwire.db"
    if backend == "postgresql":
        admin = await asyncpg.connect(admin_url, timeout=ADMIN_TIMEOUT_S)
        try:
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url, folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if backend == "postgresql":
            admin = await asyncpg.connect(admin_url, timeout=ADMIN_TIMEOUT_S)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            finally:
                await admin.close()


@contextlib.asynccontextmanager
async def fresh_database(backend: str, admin_url: str) -> AsyncIterator[Database]:
    """A migrated, empty, open database, closed and removed on exit."""
    from rampwire.storage import migrate, open_database

    async with fresh_database_url(backend, admin_url) as (url, _):
        db = open_database(url)
        try:
            await db.open()
            await migrate(db)
            yield db
        finally:
            await db.close()


async def postgres_version(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url, timeout=ADMIN_TIMEOUT_S)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
