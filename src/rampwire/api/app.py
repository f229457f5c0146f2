"""The ASGI application: routers, error handlers, body limits, and the lifespan that opens the
database and builds the repositories."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI

from .. import __version__, heap
from ..authorization import AuthorizationClient
from ..crypto import secret_box
from ..delivery.ssrf import GuardedConnector
from ..delivery.worker import Worker, WorkerOptions
from ..ingest import Ingestor
from ..repository import KeyRepository, OrderRepository
from ..repository.authorization import AuthorizationRepository
from ..repository.deliveries import DeliveryRepository
from ..repository.endpoints import EndpointRepository
from ..repository.inbound import InboundRepository
from ..repository.signing_keys import SigningKeyRepository
from ..repository.sources import SourceRepository
from ..settings import Settings
from ..storage import Database, migrate, open_database, statistics
from ..sweeper import Sweeper
from . import (
    authorization,
    deliveries,
    endpoints,
    health,
    ingest,
    jwks,
    orders,
    problems,
    sources,
)
from .limits import BodyLimit


def _nothing() -> None:
    """No worker in this process: other processes pick work up (NOTIFY, or polling)."""


def create_app(
    settings: Settings, *, db: Database | None = None, worker_options: WorkerOptions | None = None
) -> FastAPI:
    """The API. With ``db`` given, the caller owns it (opened and migrated); otherwise the
    lifespan opens one from ``settings.database_url`` and migrates it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db
        if database is None:
            database = open_database(settings.database_url)
            await database.open()
            await migrate(database)
        box = secret_box(settings)
        worker = (
            Worker(database, box, policy=settings.target_policy, options=worker_options)
            if settings.run_worker
            else None
        )
        app.state.db = database
        app.state.settings = settings
        app.state.wake = worker.wake if worker is not None else _nothing
        app.state.orders = OrderRepository(database, on_publish=app.state.wake)
        app.state.keys = KeyRepository(database)
        app.state.endpoints = EndpointRepository(database, box)
        app.state.deliveries = DeliveryRepository(database)
        app.state.authorization = AuthorizationRepository(database, box)
        app.state.signing_keys = SigningKeyRepository(database, box)
        app.state.sources = SourceRepository(database, box)
        app.state.inbound = InboundRepository(
            database,
            app.state.orders,
            max_batch=settings.ingest_batch,
            writers=settings.ingest_writers,
        )
        app.state.ingestor = Ingestor(app.state.sources, app.state.inbound)
        session = aiohttp.ClientSession(connector=GuardedConnector(settings.target_policy))
        app.state.authorizer = AuthorizationClient(session=session)
        stop = asyncio.Event()
        # glibc keeps the pages a burst of requests freed; give them back now and then.
        running = [asyncio.create_task(heap.keep_trimmed(stop), name="rampwire-trim")]
        if worker is not None:
            sweeper = Sweeper(
                app.state.orders, settings.stuck_slas, interval_s=settings.sweep_interval_s
            )
            running += [
                asyncio.create_task(worker.run(stop), name="rampwire-worker"),
                asyncio.create_task(sweeper.run(stop), name="rampwire-sweeper"),
                asyncio.create_task(statistics.keep(database, stop), name="rampwire-statistics"),
            ]
        app.state.worker = worker
        try:
            with heap.settled():
                yield
        finally:
            stop.set()
            await asyncio.gather(*running)
            app.state.ingestor.close()
            await session.close()
            if db is None:
                await database.close()

    app = FastAPI(
        title="rampwire",
        version=__version__,
        summary="Order lifecycle and webhooks for crypto on/off-ramps.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(ingest.router)
    app.include_router(health.router)
    app.include_router(orders.router)
    app.include_router(endpoints.router)
    app.include_router(deliveries.router)
    app.include_router(authorization.router)
    app.include_router(jwks.router)
    app.include_router(sources.router)
    app.add_middleware(ingest.IngestRoute)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # added last: outermost
    return app
