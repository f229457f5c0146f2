"""The trigger: one realistic, signed webhook POSTed to a local server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from rampwire.dialects import (
    DIALECTS,
    DecodedEvent,
    DialectName,
    UnknownDialect,
    UnsupportedEvent,
    get_dialect,
)
from rampwire.dialects.trigger import resolve_status, trigger
from rampwire.domain.orders import OrderStatus, Side
from rampwire.types import utcnow

from .support import credentials_for

S = OrderStatus


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    decoded: list[DecodedEvent] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that verifies with the dialect named in the path."""
    state = Receiver(url="")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        state.received.append((headers, body))
        name = DialectName(request.match_info["dialect"])
        state.decoded.extend(
            DIALECTS[name].decode(headers, body, credentials_for(name), now=utcnow())
        )
        return web.json_response({"ok": True}, status=202, headers={"X-Receiver": "test"})

    app = web.Application()
    app.router.add_post("/hooks/{dialect}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}/hooks/"
    try:
        yield state
    finally:
        await runner.cleanup()


CASES = [(n, side) for n, d in DIALECTS.items() for side in sorted(d.sides)]


@pytest.mark.parametrize(("name", "side"), CASES)
async def test_every_dialect_sends_a_verifiable_webhook(
    receiver: Receiver, name: DialectName, side: Side
) -> None:
    exchange = await trigger(
        name.value,
        "completed",
        url=receiver.url + name.value,
        credentials=credentials_for(name),
        side=side.value,
    )
    assert exchange.response.status == 202
    assert exchange.response.headers["X-Receiver"] == "test"
    assert exchange.response.body == b'{"ok": true}'
    [(headers, body)] = receiver.received
    assert body == exchange.request.body
    got = {k.lower(): v for k, v in headers.items()}
    for header, value in exchange.request.headers.items():
        assert got[header.lower()] == value
    [decoded] = receiver.decoded
    assert decoded.status is S.COMPLETED
    assert exchange.order.status is S.COMPLETED and exchange.order.side is side


async def test_an_open_session_can_be_reused(receiver: Receiver) -> None:
    async with aiohttp.ClientSession() as session:
        for event in ("created", "ORDER_PROCESSING", "order.failed"):
            await trigger(
                "revolut",
                event,
                url=receiver.url + "revolut",
                credentials=credentials_for(DialectName.REVOLUT),
                session=session,
            )
    assert [d.status for d in receiver.decoded] == [S.CREATED, S.PROCESSING, S.FAILED]


@pytest.mark.parametrize(
    ("dialect", "name", "side", "status"),
    [
        ("standard", "completed", Side.BUY, S.COMPLETED),
        ("standard", "order.on_hold", Side.SELL, S.ON_HOLD),
        ("revolut", "order_completed", Side.BUY, S.COMPLETED),
        ("koywe", "crypto_delivered", Side.BUY, S.COMPLETED),
        ("koywe", "fiat_sent", Side.SELL, S.DELIVERY_SENT),
        ("transak", "PENDING_DELIVERY_FROM_TRANSAK", Side.BUY, S.PROCESSING),
        ("transak", "ORDER_FAILED/EXPIRED", Side.SELL, S.EXPIRED),
        ("transak", "ON_HOLD_PENDING_DELIVERY_FROM_TRANSAK", Side.SELL, S.ON_HOLD),
        ("saber", "ONRAMP_INCONSISTENT", Side.BUY, S.AMOUNT_MISMATCH),
        ("saber", "deposit/COMPLETED", Side.SELL, S.PAYMENT_RECEIVED),
        ("fireblocks", "CANCELED", Side.BUY, S.CANCELLED),
    ],
)
def test_names_resolve_to_canonical_statuses(
    dialect: str, name: str, side: Side, status: OrderStatus
) -> None:
    assert resolve_status(get_dialect(dialect), name, side) is status


@pytest.mark.parametrize(
    ("dialect", "name", "side", "error"),
    [
        ("koywe", "kyc_approved", "buy", UnsupportedEvent),
        ("revolut", "completed", "sell", UnsupportedEvent),
        ("paypal", "completed", "buy", UnknownDialect),
    ],
)
async def test_what_cannot_be_sent_is_refused_before_sending(
    dialect: str, name: str, side: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await trigger(dialect, name, url="http://127.0.0.1:9/never", credentials=None, side=side)


async def test_an_error_status_is_returned_not_raised(receiver: Receiver) -> None:
    exchange = await trigger(
        "koywe",
        "created",
        url=receiver.url.replace("/hooks/", "/nowhere"),
        credentials=credentials_for(DialectName.KOYWE),
    )
    assert exchange.response.status == 404


async def test_network_failures_surface_as_aiohttp_errors() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(aiohttp.ClientError):
        await trigger(
            "koywe",
            "created",
            url=f"http://127.0.0.1:{port}/",
            credentials=credentials_for(DialectName.KOYWE),
            timeout=5,
        )
