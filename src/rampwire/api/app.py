"""The ASGI application: routers, error handlers, body limits, and the lifespan that opens the
database and builds the repositories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from ..repository import KeyRepository, OrderRepository
from ..settings import Settings
from ..storage import Database, migrate, open_database
from . import health, orders, problems
from .limits import BodyLimit


def create_app(settings: Settings, *, db: Database | None = None) -> FastAPI:
    """The API. With ``db`` given, the caller owns it (opened and migrated); otherwise the
    lifespan opens one from ``settings.database_url`` and migrates it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db
        if database is None:
            database = open_database(settings.database_url)
            await database.open()
            await migrate(database)
        app.state.db = database
        app.state.settings = settings
        app.state.orders = OrderRepository(database)
        app.state.keys = KeyRepository(database)
        try:
            yield
        finally:
            if db is None:
                await database.close()

    app = FastAPI(
        title="rampwire",
        version=__version__,
        summary="Order lifecycle and webhooks for crypto on/off-ramps.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(orders.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
