"""The ASGI application: routers, error handlers, body limits, and the lifespan that opens the
database and builds the repositories."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from .. import heap, logs
from ..authorization import AuthorizationClient
from ..crypto import secret_box
from ..domain import serde
from ..repository import KeyRepository, OrderRepository
from ..repository.authorization import AuthorizationRepository
from ..repository.deliveries import DeliveryRepository
from ..repository.endpoints import EndpointRepository
from ..repository.inbound import InboundRepository
from ..repository.listen_sessions import ListenSessionRepository
from ..repository.partners import PartnerRepository
from ..repository.signing_keys import SigningKeyRepository
from ..repository.sources import SourceRepository
from ..repository.webhook_keys import WebhookKeyRepository
from ..services import background, telemetry
from ..services.ingestor import Ingestor
from ..services.supervisor import Supervisor
from ..services.worker import WorkerOptions
from ..settings import Settings
from ..storage import Database, migrate, open_database
from ..tracing import Tracing
from . import (
    authorization,
    deliveries,
    endpoints,
    event_types,
    health,
    ingest,
    jwks,
    listen_sessions,
    metrics,
    openapi,
    orders,
    partners,
    portal_links,
    problems,
    sources,
    test_events,
)
from .context import RequestContext
from .limits import BodyLimit
from .proxies import TrustedProxies
from .quotas import Quotas
from .state import AppState


def _nothing() -> None:
    """No worker in this process: other processes pick work up (NOTIFY, or polling)."""


async def _on_failure(supervisor: Supervisor, on_fatal: Callable[[], None]) -> None:
    await supervisor.failed.wait()
    on_fatal()


def _quotas(rate: int | None, burst: int | None) -> Quotas | None:
    return None if rate is None else Quotas(rate, burst)


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    worker_options: WorkerOptions | None = None,
    on_fatal: Callable[[], None] = _nothing,
    tracing: Tracing | None = None,
) -> FastAPI:
    """The API. With ``db`` given, the caller owns it (opened and migrated); otherwise the
    lifespan opens one from ``settings.database_url`` and migrates it. ``on_fatal`` is called
    when a background task cannot recover (:class:`~rampwire.services.supervisor.Supervisor`): the
    server should stop, and its process exit non-zero. ``tracing``: where spans go (default:
    from ``RAMPWIRE_TRACING_SAMPLE``, off unless set)."""
    logs.protect()  # secrets stay out of the logs however the embedding process set them up
    owned = tracing is None  # built here: shut down (its last spans exported) here
    spans = tracing or Tracing.from_settings(settings.tracing_sample)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db
        if database is None:
            database = open_database(settings.database_url)
            await database.open()
            await migrate(database)
        box = secret_box(settings)
        measured = telemetry.build(database, settings, tracing=spans)
        await telemetry.rank_partners(database, measured.metrics)
        meters = measured.metrics
        running = background.start(
            database,
            box,
            settings,
            deliver=settings.run_worker,
            worker_options=worker_options,
            trim=True,
            telemetry=measured,
        )
        worker, supervisor = running.worker, running.supervisor
        wake = worker.wake if worker is not None else _nothing
        orders = OrderRepository(database, on_publish=wake, metrics=meters)
        sources = SourceRepository(database, box)
        inbound = InboundRepository(
            database,
            orders,
            max_batch=settings.ingest_batch,
            writers=settings.ingest_writers,
            metrics=meters,
        )
        shared = app.state.rampwire = AppState(
            db=database,
            settings=settings,
            proxies=TrustedProxies(settings.trusted_proxies),
            wake=wake,
            orders=orders,
            keys=KeyRepository(database),
            partners=PartnerRepository(database),
            endpoints=EndpointRepository(database, box),
            deliveries=DeliveryRepository(database),
            authorization=AuthorizationRepository(database, box),
            signing_keys=SigningKeyRepository(database, box),
            webhook_keys=WebhookKeyRepository(database, box),
            sources=sources,
            inbound=inbound,
            listen_sessions=ListenSessionRepository(database, box),
            ingestor=Ingestor(sources, inbound, meters),
            authorizer=AuthorizationClient(settings.target_policy),
            worker=worker,
            supervisor=supervisor,
            telemetry=measured,
            quotas=_quotas(settings.partner_rate_limit, settings.rate_burst),
            ingest_quotas=_quotas(settings.ingest_rate_limit, settings.rate_burst),
        )
        fatal = asyncio.create_task(_on_failure(supervisor, on_fatal), name="rampwire-fatal")
        serde.prepare_patches()  # before the first request, and among what the heap freezes
        try:
            with heap.settled():
                yield
        finally:
            running.stop.set()
            fatal.cancel()
            await supervisor.wait()
            shared.ingestor.close()
            shared.authorizer.close()
            if db is None:
                await database.close()
            if owned:
                spans.shutdown()

    # /docs and /redoc with their scripts served from here (fastapi-offline ships them): they
    # load where no CDN can be reached.
    app = FastAPIOffline(
        static_url="/docs/assets",
        title="rampwire",
        version=version("rampwire"),
        summary="Order lifecycle and webhooks for crypto on/off-ramps.",
        lifespan=lifespan,
        # rampwire's own request spans and metrics (RequestContext, Metrics) are the ones kept;
        # FastAPI's would repeat them, and its check for a global provider runs per request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    problems.install(app)
    openapi.install(app, webhooks=event_types.webhooks)
    app.include_router(ingest.router)
    app.include_router(health.router)
    app.include_router(orders.router)
    app.include_router(endpoints.router)
    app.include_router(test_events.router)
    app.include_router(deliveries.router)
    app.include_router(authorization.router)
    app.include_router(authorization.partner_router)
    app.include_router(jwks.router)
    app.include_router(sources.router)
    app.include_router(partners.router)
    app.include_router(portal_links.router)
    app.include_router(event_types.router)
    app.include_router(listen_sessions.router)
    app.include_router(metrics.router)
    # The dashboard at /ui. Imported here, not at the top: rampwire.ui is built on this
    # package's modules (state, schemas, the routes it shares), so importing it while this
    # module loads would make ``import rampwire.ui`` fail half-way through the cycle.
    from ..ui import router as dashboard

    app.include_router(dashboard())
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext, tracing=spans)  # outermost but the ingest front: ids
    # added last, so first: inbound webhooks skip every layer but starlette's server-error one
    # (the front does the request id, span and body limit itself)
    app.add_middleware(ingest.IngestFront, max_bytes=settings.max_body_bytes, tracing=spans)
    return app
