"""Fixtures shared by every test: databases on both back-ends, an API client.

PostgreSQL tests clone a migrated template database per test (``CREATE DATABASE ... TEMPLATE``),
as procrastinate's suite does. Where no PostgreSQL answers, they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from tests.support.apps import api_client

from rampwire.domain.apikeys import Scope
from rampwire.settings import Settings
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database, migrate, open_database

PG_ADMIN_URL = os.environ.get(
    "RAMPWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEMPLATE = f"rampwire_test_template_{os.getpid()}"  # one per test session: runs may overlap


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def _pg_admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database; the reason to skip if PostgreSQL is unreachable."""

    async def build() -> None:
        await _pg_admin(f"DROP DATABASE IF EXISTS {TEMPLATE}", f"CREATE DATABASE {TEMPLATE}")
        db = open_database(_pg_url(TEMPLATE))
        await db.open()
        try:
            await migrate(db)
        finally:
            await db.close()

    try:
        asyncio.run(build())
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
    yield TEMPLATE
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))


@pytest.fixture
async def postgres_url(postgres_template: str) -> AsyncIterator[str]:
    name = f"rampwire_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
    try:
        yield _pg_url(name)
    finally:
        await _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rampwire.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rampwire.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open, migrated database on each back-end in turn."""
    database = open_database(database_url)
    await database.open()
    try:
        await migrate(database)
        yield database
    finally:
        await database.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Webhooks may go to 127.0.0.1 here: the receivers in tests listen there."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        target_policy=TargetPolicy(allow_private=True),
    )


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app (ASGI transport), authenticated with a write key."""
    async with api_client(settings, db, Scope.WRITE) as client:
        yield client


@pytest.fixture
async def admin_api(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The same, with an admin key."""
    async with api_client(settings, db, Scope.ADMIN) as client:
        yield client


@pytest.fixture
async def empty_database_urls(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[str, str]]:
    """Two empty databases on the back-end ``database_url`` uses."""
    if database_url.startswith("sqlite"):
        yield (f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}")
        return
    names = [f"rampwire_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    await _pg_admin(*(f"CREATE DATABASE {name}" for name in names))
    try:
        yield (_pg_url(names[0]), _pg_url(names[1]))
    finally:
        await _pg_admin(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in names))
