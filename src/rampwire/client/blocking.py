"""``Client``: the same API, blocking. Each method is the async resource's own method, run to
completion on the client's private event loop (``asyncio.Runner``); each list is the async
iterator, stepped on that loop. Nothing here builds a request or reads an answer: one line
per method names the async method it runs (typed through ``ParamSpec``: the sync signature is
the async one), and a test checks that no async method lacks its line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import httpx

from .clients import AsyncClient
from .ingest import InboundLog, Ingest, Sources
from .listen import ListenSessions
from .orders import Orders
from .partners import AuthorizationCallbacks, Partners, Service
from .resources import Resource
from .transport import DEFAULT_TIMEOUT_S, Retries
from .webhooks import Deliveries, Endpoints, Events, EventTypes

A = TypeVar("A", bound=Resource)
P = ParamSpec("P")
T = TypeVar("T")


class _Loop:
    """One event loop for the client's life: httpx's connections belong to it."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        while True:
            try:
                yield self._runner.run(_next(items))
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self._runner.close()


async def _next(items: AsyncIterator[T]) -> T:
    return await items.__anext__()


class SyncResource(Generic[A]):
    def __init__(self, inner: A, loop: _Loop) -> None:
        self._inner = inner
        self._loop = loop


class blocking(Generic[A, P, T]):
    """``name = blocking(AsyncResource.name)``: the async method, run to completion."""

    def __init__(self, method: Callable[Concatenate[A, P], Coroutine[Any, Any, T]]) -> None:
        self.method = method

    def __get__(self, resource: SyncResource[A], owner: object = None) -> Callable[P, T]:
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            return resource._loop.run(self.method(resource._inner, *args, **kwargs))

        call.__doc__ = self.method.__doc__
        return call


class iterating(Generic[A, P, T]):
    """``name = iterating(AsyncResource.name)``: the async iterator, as a sync iterator."""

    def __init__(self, method: Callable[Concatenate[A, P], AsyncIterator[T]]) -> None:
        self.method = method

    def __get__(self, resource: SyncResource[A], owner: object = None) -> Callable[P, Iterator[T]]:
        def call(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
            return resource._loop.iterate(self.method(resource._inner, *args, **kwargs))

        call.__doc__ = self.method.__doc__
        return call


class SyncOrders(SyncResource[Orders]):
    create = blocking(Orders.create)
    get = blocking(Orders.get)
    list = iterating(Orders.list)
    change = blocking(Orders.change)
    timeline = blocking(Orders.timeline)


class SyncEndpoints(SyncResource[Endpoints]):
    create = blocking(Endpoints.create)
    get = blocking(Endpoints.get)
    list = iterating(Endpoints.list)
    update = blocking(Endpoints.update)
    delete = blocking(Endpoints.delete)
    secrets = blocking(Endpoints.secrets)
    rotate_secret = blocking(Endpoints.rotate_secret)
    headers = blocking(Endpoints.headers)
    deliveries = iterating(Endpoints.deliveries)
    replay = blocking(Endpoints.replay)
    send_test_event = blocking(Endpoints.send_test_event)
    pending_events = iterating(Endpoints.pending_events)


class SyncDeliveries(SyncResource[Deliveries]):
    get = blocking(Deliveries.get)
    replay = blocking(Deliveries.replay)
    retry = blocking(Deliveries.retry)


class SyncEvents(SyncResource[Events]):
    deliveries = blocking(Events.deliveries)
    resend = blocking(Events.resend)


class SyncEventTypes(SyncResource[EventTypes]):
    list = blocking(EventTypes.list)


class SyncSources(SyncResource[Sources]):
    create = blocking(Sources.create)
    get = blocking(Sources.get)
    list = iterating(Sources.list)
    update = blocking(Sources.update)
    delete = blocking(Sources.delete)


class SyncInboundLog(SyncResource[InboundLog]):
    get = blocking(InboundLog.get)
    list = iterating(InboundLog.list)
    reprocess = blocking(InboundLog.reprocess)


class SyncIngest(SyncResource[Ingest]):
    send = blocking(Ingest.send)


class SyncPartners(SyncResource[Partners]):
    create = blocking(Partners.create)
    get = blocking(Partners.get)
    list = iterating(Partners.list)
    update = blocking(Partners.update)
    delete = blocking(Partners.delete)
    create_key = blocking(Partners.create_key)
    portal_link = blocking(Partners.portal_link)


class SyncAuthorization(SyncResource[AuthorizationCallbacks]):
    get = blocking(AuthorizationCallbacks.get)
    set = blocking(AuthorizationCallbacks.set)
    delete = blocking(AuthorizationCallbacks.delete)
    decisions = blocking(AuthorizationCallbacks.decisions)


class SyncListenSessions(SyncResource[ListenSessions]):
    create = blocking(ListenSessions.create)
    get = blocking(ListenSessions.get)
    delete = blocking(ListenSessions.delete)
    stream = iterating(ListenSessions.stream)


class SyncService(SyncResource[Service]):
    health = blocking(Service.health)
    ready = blocking(Service.ready)
    jwks = blocking(Service.jwks)
    webhook_public_keys = blocking(Service.webhook_public_keys)


class Client:
    """The rampwire API, blocking; the same resources and methods as :class:`AsyncClient`::

        with Client("http://127.0.0.1:8080", api_key="rw_...") as client:
            for order in client.orders.list(status="completed"):
                print(order.id, order.fiat)

    Not for use inside a running event loop (use ``AsyncClient`` there).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        retries: Retries | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._loop = _Loop()
        core = AsyncClient(url, api_key, retries=retries, timeout=timeout, http=http)
        self._core = core
        self.url = core.url
        loop = self._loop
        self.orders = SyncOrders(core.orders, loop)
        self.endpoints = SyncEndpoints(core.endpoints, loop)
        self.deliveries = SyncDeliveries(core.deliveries, loop)
        self.events = SyncEvents(core.events, loop)
        self.event_types = SyncEventTypes(core.event_types, loop)
        self.sources = SyncSources(core.sources, loop)
        self.inbound = SyncInboundLog(core.inbound, loop)
        self.ingest = SyncIngest(core.ingest, loop)
        self.partners = SyncPartners(core.partners, loop)
        self.authorization = SyncAuthorization(core.authorization, loop)
        self.listen_sessions = SyncListenSessions(core.listen_sessions, loop)
        self.service = SyncService(core.service, loop)

    def close(self) -> None:
        try:
            self._loop.run(self._core.close())
        finally:
            self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["Client"]
