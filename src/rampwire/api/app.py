"""The ASGI application: routers, error handlers, body limits, and the lifespan that opens the
database and builds the repositories."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version

import aiohttp
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from .. import heap, logs
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
from ..repository.stuck_orders import StuckOrderRepository
from ..settings import Settings
from ..storage import Database, migrate, open_database, statistics
from ..supervisor import Supervisor
from ..sweeper import Sweeper
from . import (
    authorization,
    deliveries,
    endpoints,
    event_types,
    health,
    ingest,
    jwks,
    openapi,
    orders,
    problems,
    sources,
)
from .limits import BodyLimit
from .proxies import TrustedProxies


def _nothing() -> None:
    """No worker in this process: other processes pick work up (NOTIFY, or polling)."""


async def _on_failure(supervisor: Supervisor, on_fatal: Callable[[], None]) -> None:
    await supervisor.failed.wait()
    on_fatal()


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    worker_options: WorkerOptions | None = None,
    on_fatal: Callable[[], None] = _nothing,
) -> FastAPI:
    """The API. With ``db`` given, the caller owns it (opened and migrated); otherwise the
    lifespan opens one from ``settings.database_url`` and migrates it. ``on_fatal`` is called
    when a background task cannot recover (:class:`~rampwire.supervisor.Supervisor`): the
    server should stop, and its process exit non-zero."""
    logs.protect()  # secrets stay out of the logs however the embedding process set them up

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
        app.state.proxies = TrustedProxies(settings.trusted_proxies)
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
        supervisor = Supervisor(stop)
        # glibc keeps the pages a burst of requests freed; give them back now and then.
        supervisor.start("trim", heap.keep_trimmed)
        if worker is not None:
            sweeper = Sweeper(
                StuckOrderRepository(database, on_publish=worker.wake),
                settings.stuck_slas,
                interval_s=settings.sweep_interval_s,
            )
            supervisor.start("worker", worker.run)
            supervisor.start("sweeper", sweeper.run)
            supervisor.start("statistics", functools.partial(statistics.keep, database))
        app.state.worker = worker
        app.state.supervisor = supervisor
        fatal = asyncio.create_task(_on_failure(supervisor, on_fatal), name="rampwire-fatal")
        try:
            with heap.settled():
                yield
        finally:
            stop.set()
            fatal.cancel()
            await supervisor.wait()
            app.state.ingestor.close()
            await session.close()
            if db is None:
                await database.close()

    # /docs and /redoc with their scripts served from here (fastapi-offline ships them): they
    # load where no CDN can be reached.
    app = FastAPIOffline(
        static_url="/docs/assets",
        title="rampwire",
        version=version("rampwire"),
        summary="Order lifecycle and webhooks for crypto on/off-ramps.",
        lifespan=lifespan,
    )
    problems.install(app)
    openapi.install(app, webhooks=event_types.webhooks)
    app.include_router(ingest.router)
    app.include_router(health.router)
    app.include_router(orders.router)
    app.include_router(endpoints.router)
    app.include_router(deliveries.router)
    app.include_router(authorization.router)
    app.include_router(jwks.router)
    app.include_router(sources.router)
    app.include_router(event_types.router)
    app.add_middleware(ingest.IngestRoute)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # added last: outermost
    return app
