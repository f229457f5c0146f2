"""Send one realistic, correctly signed webhook in any dialect to a URL: ``rampwire trigger``.

:func:`trigger` builds a sample order for the dialect at the status named, wraps it in a
canonical event, encodes it with the credentials given, POSTs it with aiohttp and returns both
sides of the exchange for printing. The CLI command is a thin layer over it::

    dialect = get_dialect("transak")
    exchange = await trigger(
        "transak", "ORDER_COMPLETED", url="http://127.0.0.1:9000/hooks",
        credentials=dialect.credentials_from_secrets([access_token]), side="buy",
    )
    print(exchange.response.status, exchange.request.body)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import aiohttp

from ..domain.orders import Order, OrderStatus, Side
from ..ids import new_id
from ..types import utcnow
from . import get_dialect
from .base import Dialect, DialectName, OutboundEvent, WireRequest
from .errors import UnsupportedEvent
from .samples import sample_order

DEFAULT_TIMEOUT: Final = 10.0  # seconds for the whole request
MAX_RESPONSE_BYTES: Final = 64 * 1024  # response body kept for printing


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes  # at most MAX_RESPONSE_BYTES


@dataclass(frozen=True, kw_only=True, slots=True)
class Exchange:
    """What was sent and what came back."""

    url: str
    dialect: DialectName
    order: Order
    event: OutboundEvent
    request: WireRequest
    response: Response


def resolve_status(dialect: Dialect[Any], name: str, side: Side) -> OrderStatus:
    """A canonical status from any name a user might type.

    Accepted: a canonical status (``completed``), a canonical event type (``order.completed``),
    or one of the dialect's provider names for ``side``: an event (``ORDER_COMPLETED``,
    ``crypto_delivered``), a provider status (``PENDING_DELIVERY_FROM_TRANSAK``) or both
    (``ORDER_FAILED/EXPIRED``). Provider names are matched case-insensitively.
    """
    canonical = name.removeprefix("order.")
    if canonical in {s.value for s in OrderStatus}:
        return OrderStatus(canonical)
    wanted = name.casefold()
    for event in dialect.provider_events(side):
        names = {str(event), event.name, event.status or event.name}
        if wanted in {n.casefold() for n in names}:
            status = dialect.from_provider(event, side)
            if status is not None:
                return status
    known = ", ".join(str(e) for e in dialect.provider_events(side))
    raise UnsupportedEvent(
        f"{name!r} is neither a canonical status nor a {dialect.name.value} event ({known})"
    )


async def trigger(
    dialect: str,
    event: str,
    *,
    url: str,
    credentials: Any,
    side: Side | str = Side.BUY,
    now: datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    session: aiohttp.ClientSession | None = None,
    order_id: str | None = None,
) -> Exchange:
    """Build, sign and POST one webhook; return the request and the response.

    ``dialect``: a dialect name (``standard``, ``revolut``, ...). ``event``: see
    :func:`resolve_status`. ``credentials``: that dialect's credentials record, for example
    ``get_dialect(name).credentials_from_secrets([...])``. ``side``: ``buy`` or ``sell``.
    Raises :class:`~rampwire.dialects.base.DialectError` for a name or side the dialect cannot
    express, and aiohttp's ``ClientError`` or ``TimeoutError`` when the request fails.
    ``order_id``: the provider's order id to use (rampwire's own for ``standard``), so that
    triggers one after another drive one order step by step.
    """
    chosen = get_dialect(dialect)
    order_side = Side(side)
    if order_side not in chosen.sides:
        raise UnsupportedEvent(f"{chosen.name.value} has no {order_side.value} orders")
    status = resolve_status(chosen, event, order_side)
    moment = now or utcnow()
    order = sample_order(chosen.name, status, order_side, now=moment)
    if order_id is not None:
        order = (
            order.evolve(id=order_id)
            if chosen.provider is None
            else order.evolve(provider_order_id=order_id)
        )
    outbound = OutboundEvent(id=new_id("evt"), type=f"order.{status.value}", created_at=moment)
    request = chosen.encode(outbound, order, credentials, now=moment)
    response = await _post(url, request, timeout=timeout, session=session)
    return Exchange(
        url=url,
        dialect=chosen.name,
        order=order,
        event=outbound,
        request=request,
        response=response,
    )


async def _post(
    url: str, request: WireRequest, *, timeout: float, session: aiohttp.ClientSession | None
) -> Response:
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await _post(url, request, timeout=timeout, session=own)
    async with session.post(
        url,
        data=request.body,
        headers=request.headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
        allow_redirects=False,
    ) as reply:
        body = await reply.content.read(MAX_RESPONSE_BYTES)
        return Response(status=reply.status, headers=dict(reply.headers), body=body)
