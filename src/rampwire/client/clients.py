"""``AsyncClient``: the implementation. Every resource is written once, async, over one
:class:`~rampwire.client.transport.Transport`; the sync ``Client`` (``blocking.py``) drives
these same coroutines on a private event loop.

Why the sync client drives the async core, rather than a shared request builder with two
transports: the resources hold more than request building (pagination follows cursors,
``events.resend`` reads then replays, retries sleep between attempts), and all of that would
otherwise be written twice, once per transport. The price is that ``Client`` cannot be used
from inside a running event loop: there, use ``AsyncClient``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from .ingest import InboundLog, Ingest, Sources
from .listen import ListenSessions
from .orders import Orders
from .partners import AuthorizationCallbacks, Partners, Service
from .transport import DEFAULT_TIMEOUT_S, Retries, Transport
from .webhooks import Deliveries, Endpoints, Events, EventTypes

URL_VARIABLE = "RAMPWIRE_URL"
KEY_VARIABLE = "RAMPWIRE_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8080"  # where `rampwire serve` listens by default (settings)


def connection_settings(url: str | None, api_key: str | None) -> tuple[str, str | None]:
    """The URL and key given, else ``RAMPWIRE_URL`` and ``RAMPWIRE_API_KEY``, else the local
    default URL and no key."""
    return (
        url or os.environ.get(URL_VARIABLE) or DEFAULT_URL,
        api_key or os.environ.get(KEY_VARIABLE) or None,
    )


class AsyncClient:
    """The rampwire API, async::

        async with AsyncClient("http://127.0.0.1:8080", api_key="rw_...") as client:
            order = await client.orders.create(side="sell")
            async for order in client.orders.list(status="completed"):
                ...

    ``url`` and ``api_key`` default to ``RAMPWIRE_URL`` and ``RAMPWIRE_API_KEY``. ``retries``
    bounds the retries of refused connections, 429 and 503 (:class:`Retries`); ``http`` lets
    you pass your own ``httpx.AsyncClient`` (proxies, certificates, a test transport).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        retries: Retries | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        url, api_key = connection_settings(url, api_key)
        extra = {} if sleep is None else {"sleep": sleep}
        transport = Transport(url, api_key, retries=retries, timeout=timeout, http=http, **extra)
        self.transport = transport
        self.url = transport.url
        self.orders = Orders(transport)
        self.endpoints = Endpoints(transport)
        self.deliveries = Deliveries(transport)
        self.events = Events(transport)
        self.event_types = EventTypes(transport)
        self.sources = Sources(transport)
        self.inbound = InboundLog(transport)
        self.ingest = Ingest(transport)
        self.partners = Partners(transport)
        self.authorization = AuthorizationCallbacks(transport)
        self.listen_sessions = ListenSessions(transport)
        self.service = Service(transport)

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


__all__ = ["DEFAULT_URL", "KEY_VARIABLE", "URL_VARIABLE", "AsyncClient", "connection_settings"]
