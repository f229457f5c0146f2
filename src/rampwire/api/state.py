"""What the routes share, built once by the app's lifespan: one typed object instead of
untyped ``app.state`` attributes, read with :func:`state`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request

from ..authorization import AuthorizationClient
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
from ..services.ingestor import Ingestor
from ..services.supervisor import Supervisor
from ..services.telemetry import Telemetry
from ..services.worker import Worker
from ..settings import Settings
from ..storage import Database
from .proxies import TrustedProxies
from .quotas import Quotas


@dataclass(kw_only=True, slots=True)
class AppState:
    db: Database
    settings: Settings
    proxies: TrustedProxies
    wake: Callable[[], None]  # new deliveries were committed: the in-process worker claims
    orders: OrderRepository
    keys: KeyRepository
    partners: PartnerRepository
    endpoints: EndpointRepository
    deliveries: DeliveryRepository
    authorization: AuthorizationRepository
    signing_keys: SigningKeyRepository
    webhook_keys: WebhookKeyRepository
    sources: SourceRepository
    inbound: InboundRepository
    listen_sessions: ListenSessionRepository
    ingestor: Ingestor
    authorizer: AuthorizationClient
    worker: Worker | None  # None: this process runs no worker
    supervisor: Supervisor
    telemetry: Telemetry
    ready_check: asyncio.Task[list[int]] | None = None  # the readiness check in progress
    quotas: Quotas | None = None  # per partner (operator keys: per key); None: unlimited
    ingest_quotas: Quotas | None = None  # per source


def state(request: Request) -> AppState:
    return app_state(request.app)


def app_state(app: FastAPI) -> AppState:
    found: AppState = app.state.rampwire
    return found
