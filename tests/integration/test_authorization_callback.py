"""The authorization callback against a real aiohttp partner server on 127.0.0.1.

The partner server records every request it receives and answers as each test tells it. No test
measures time: timeouts are provoked by a handler that waits for an event, cache expiry by an
injected clock.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from rampwire.authorization import (
    AuthMethod,
    AuthorizationClient,
    AuthorizationConfig,
    BasicAuth,
    BearerAuth,
    Decision,
    FailureKind,
    FailureMode,
    HeaderAuth,
    HmacAuth,
    Operation,
    OrderSummary,
    Outcome,
    Subject,
    UserNotAllowed,
)
from rampwire.domain.money import Crypto, Money
from rampwire.domain.orders import Provider, Side
from rampwire.settings import Secret
from rampwire.ssrf import TargetPolicy

ANA = Subject(email="ana@example.com")
BEN = Subject(email="ben@example.com", reference="cus_42")
TOKEN = "eyJhbGciOiJIUzI1NiJ9.e30.sig"
HMAC_SECRET = "k7Vq2uD9rXbA1sYw3LmN8pQe"
LOCAL = TargetPolicy(allow_private=True)  # the partner listens on 127.0.0.1
SHORT_TIMEOUT = 0.2  # seconds; the slow handler never answers before the test releases it

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Partner:
    """The partner's authorization endpoint: records requests, answers with ``respond``."""

    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    respond: Responder | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def answer(
        self, body: bytes, status: int = 200, content_type: str = "application/json"
    ) -> None:
        async def respond(request: web.Request) -> web.StreamResponse:
            return web.Response(body=body, status=status, content_type=content_type)

        self.respond = respond

    def answer_after_release(self) -> None:
        async def respond(request: web.Request) -> web.StreamResponse:
            await asyncio.wait_for(self.release.wait(), timeout=30)
            return web.Response(body=b"true", content_type="application/json")

        self.respond = respond

    def config(self, auth: AuthMethod | None = None, **changes: Any) -> AuthorizationConfig:
        return AuthorizationConfig(
            url=self.url, auth=auth or BearerAuth(token=Secret(TOKEN)), **changes
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Seen(request.path, request.headers, body))
        if self.respond is None:
            return web.Response(body=b"true", content_type="application/json")
        return await self.respond(request)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def partner() -> AsyncIterator[Partner]:
    partner = Partner()
    app = web.Application()
    app.router.add_post("/authorize", partner.handle)
    app.router.add_post("/moved", partner.handle)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    partner.url = f"http://{host}:{port}/authorize"
    yield partner
    partner.release.set()  # let a held handler finish before shutting down
    await runner.cleanup()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def authorizer(clock: FakeClock) -> AsyncIterator[AuthorizationClient]:
    async with AuthorizationClient(LOCAL, clock=clock) as client:
        yield client


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def ask(
    authorizer: AuthorizationClient,
    config: AuthorizationConfig,
    subject: Subject = ANA,
    operation: Operation = Operation.BUY,
    order: OrderSummary | None = None,
) -> Decision:
    return await authorizer.authorize(config, operation=operation, subject=subject, order=order)


# --- answers ---------------------------------------------------------------------------------

ALLOWED_FORMS = [
    b"true",
    b'"true"',
    b"1",
    b'{"allowed": true}',
    b'{"valid": true}',
    b'{"data": true}',
]
REFUSED_FORMS = [
    b"false",
    b'"false"',
    b"0",
    b'{"allowed": false}',
    b'{"valid": false}',
    b'{"data": false}',
]


@pytest.mark.parametrize("body", ALLOWED_FORMS)
async def test_allowed_forms(
    partner: Partner, authorizer: AuthorizationClient, body: bytes
) -> None:
    partner.answer(body)
    decision = await ask(authorizer, partner.config())
    assert decision.allowed is True
    assert decision.outcome is Outcome.ALLOWED
    assert decision.http_status == 200
    assert decision.failure is None
    assert decision.reason.startswith("allowed by partner")
    decision.raise_if_refused()  # no exception


@pytest.mark.parametrize("body", REFUSED_FORMS)
async def test_refused_forms(
    partner: Partner, authorizer: AuthorizationClient, body: bytes
) -> None:
    partner.answer(body)
    decision = await ask(authorizer, partner.config())
    assert decision.allowed is False
    assert decision.outcome is Outcome.REFUSED
    assert decision.reason.startswith("refused by partner")
    with pytest.raises(UserNotAllowed) as caught:
        decision.raise_if_refused()
    assert caught.value.status == 403
    assert caught.value.code == "user_not_allowed"
    assert caught.value.extensions["reason"] == decision.reason


async def test_plain_text_true_is_read_as_json(
    partner: Partner, authorizer: AuthorizationClient
) -> None:
    partner.answer(b"true\n", content_type="text/plain")
    assert (await ask(authorizer, partner.config())).allowed is True


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>Welcome</html>", "unrecognised answer: not JSON: <html>Welcome</html>"),
        (b'"TRUE"', 'unrecognised answer: "TRUE"'),
        (b"", "unrecognised answer: empty body"),
        (b'{"ok": true}', 'unrecognised answer: {"ok": true}'),
    ],
)
async def test_unrecognised_answer_is_a_refusal_with_the_answer_quoted(
    partner: Partner, authorizer: AuthorizationClient, body: bytes, expected: str
) -> None:
    partner.answer(body, content_type="text/html")
    decision = await ask(authorizer, partner.config())
    assert decision.allowed is False
    assert decision.outcome is Outcome.REFUSED
    assert decision.reason == expected


async def test_oversized_answer_is_a_refusal(
    partner: Partner, authorizer: AuthorizationClient
) -> None:
    partner.answer(b"true" + b" " * 200_000)
    decision = await ask(authorizer, partner.config())
    assert decision.outcome is Outcome.REFUSED
    assert "larger than" in decision.reason


# --- the request -----------------------------------------------------------------------------


async def test_request_body_and_headers(partner: Partner, authorizer: AuthorizationClient) -> None:
    order = OrderSummary(
        side=Side.BUY,
        provider=Provider.KOYWE,
        fiat=Money(currency="CLP", amount=Decimal("100000")),
        crypto=Crypto(asset="USDC", network="POLYGON", amount=Decimal("105.20")),
        wallet_address="0xabc",
    )
    decision = await ask(authorizer, partner.config(), subject=BEN, order=order)
    [seen] = partner.requests
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.json() == {
        "request_id": decision.request_id,
        "operation": "buy",
        "email": "ben@example.com",
        "user_reference": "cus_42",
        "order": {
            "id": None,
            "side": "buy",
            "provider": "koywe",
            "fiat": {"currency": "CLP", "amount": "100000"},
            "crypto": {"asset": "USDC", "network": "POLYGON", "amount": "105.20"},
            "wallet_address": "0xabc",
        },
    }


async def test_order_side_must_match_the_operation(authorizer: AuthorizationClient) -> None:
    config = AuthorizationConfig(url="http://127.0.0.1:9/", auth=BearerAuth(token=Secret("t")))
    with pytest.raises(ValueError, match="sell order cannot be authorized as buy"):
        await ask(authorizer, config, order=OrderSummary(side=Side.SELL))


# --- authentication, as the partner sees it --------------------------------------------------


async def test_bearer_token(partner: Partner, authorizer: AuthorizationClient) -> None:
    await ask(authorizer, partner.config(BearerAuth(token=Secret(TOKEN))))
    assert partner.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_basic_credentials(partner: Partner, authorizer: AuthorizationClient) -> None:
    auth = BasicAuth(username="rampwire", password=Secret("pässword:with colon"))
    await ask(authorizer, partner.config(auth))
    scheme, _, encoded = partner.requests[0].headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode("utf-8") == "rampwire:pässword:with colon"


async def test_custom_header(partner: Partner, authorizer: AuthorizationClient) -> None:
    auth = HeaderAuth(name="X-Partner-Key", value=Secret("pk_live_123"))
    await ask(authorizer, partner.config(auth))
    headers = partner.requests[0].headers
    assert headers["X-Partner-Key"] == "pk_live_123"
    assert "Authorization" not in headers


async def test_hmac_signature_verifies_at_the_partner(
    partner: Partner, authorizer: AuthorizationClient
) -> None:
    async def respond(request: web.Request) -> web.StreamResponse:
        # the partner's own recipe, written without rampwire's helpers
        body = await request.read()
        timestamp = request.headers["X-Rampwire-Timestamp"]
        version, _, received = request.headers["X-Rampwire-Signature"].partition("=")
        expected = hmac.new(
            HMAC_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        fresh = abs(time.time() - int(timestamp)) <= 300
        valid = version == "v1" and hmac.compare_digest(received, expected) and fresh
        return web.json_response({"allowed": valid})

    partner.respond = respond
    decision = await ask(authorizer, partner.config(HmacAuth(secret=Secret(HMAC_SECRET))))
    assert decision.outcome is Outcome.ALLOWED
    assert "Authorization" not in partner.requests[0].headers


async def test_hmac_with_the_wrong_secret_is_refused_by_the_partner(
    partner: Partner, authorizer: AuthorizationClient
) -> None:
    async def respond(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        timestamp = request.headers["X-Rampwire-Timestamp"]
        expected = (
            "v1="
            + hmac.new(
                HMAC_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()
        )
        if not hmac.compare_digest(request.headers["X-Rampwire-Signature"], expected):
            return web.json_response({"error": "bad signature"}, status=401)
        return web.json_response(True)

    partner.respond = respond
    wrong = HmacAuth(secret=Secret("another-secret-of-enough-length"))
    decision = await ask(authorizer, partner.config(wrong))
    assert decision.outcome is Outcome.REFUSED
    assert decision.http_status == 401
    assert decision.reason == 'partner answered HTTP 401: {"error": "bad signature"}'


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "allowed", "outcome"),
    [
        (FailureMode.CLOSED, False, Outcome.ERROR_FAIL_CLOSED),
        (FailureMode.OPEN, True, Outcome.ERROR_FAIL_OPEN),
    ],
)
async def test_slow_answer_times_out(
    partner: Partner,
    authorizer: AuthorizationClient,
    mode: FailureMode,
    allowed: bool,
    outcome: Outcome,
) -> None:
    partner.answer_after_release()
    config = partner.config(timeout_seconds=SHORT_TIMEOUT, failure_mode=mode)
    decision = await ask(authorizer, config)
    assert decision.allowed is allowed
    assert decision.outcome is outcome
    assert decision.failure is FailureKind.TIMEOUT
    assert decision.http_status is None
    assert decision.reason == "no answer within 0.2 s"


async def test_default_is_fail_closed(partner: Partner, authorizer: AuthorizationClient) -> None:
    partner.answer(b"oops", status=503)
    decision = await ask(authorizer, partner.config())
    assert decision.allowed is False
    assert decision.outcome is Outcome.ERROR_FAIL_CLOSED


@pytest.mark.parametrize(
    ("mode", "allowed", "outcome"),
    [
        (FailureMode.CLOSED, False, Outcome.ERROR_FAIL_CLOSED),
        (FailureMode.OPEN, True, Outcome.ERROR_FAIL_OPEN),
    ],
)
async def test_server_error_follows_the_failure_mode(
    partner: Partner,
    authorizer: AuthorizationClient,
    mode: FailureMode,
    allowed: bool,
    outcome: Outcome,
) -> None:
    partner.answer(b"upstream down", status=502, content_type="text/plain")
    decision = await ask(authorizer, partner.config(failure_mode=mode))
    assert decision.allowed is allowed
    assert decision.outcome is outcome
    assert decision.failure is FailureKind.SERVER_ERROR
    assert decision.http_status == 502
    assert decision.reason == "partner answered HTTP 502: upstream down"


@pytest.mark.parametrize("mode", list(FailureMode))
async def test_client_error_is_a_refusal_whatever_the_mode(
    partner: Partner, authorizer: AuthorizationClient, mode: FailureMode
) -> None:
    partner.answer(b'{"message": "unknown user"}', status=404)
    decision = await ask(authorizer, partner.config(failure_mode=mode))
    assert decision.allowed is False
    assert decision.outcome is Outcome.REFUSED
    assert decision.failure is None
    assert decision.http_status == 404
    assert decision.reason == 'partner answered HTTP 404: {"message": "unknown user"}'


async def test_redirect_is_not_followed(partner: Partner, authorizer: AuthorizationClient) -> None:
    async def respond(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(location="/moved")

    partner.respond = respond
    decision = await ask(authorizer, partner.config())
    assert decision.outcome is Outcome.REFUSED
    assert decision.http_status == 307
    assert "redirects are not followed" in decision.reason
    assert [seen.path for seen in partner.requests] == ["/authorize"]


@pytest.mark.parametrize(
    ("mode", "allowed", "outcome"),
    [
        (FailureMode.CLOSED, False, Outcome.ERROR_FAIL_CLOSED),
        (FailureMode.OPEN, True, Outcome.ERROR_FAIL_OPEN),
    ],
)
async def test_refused_connection(
    authorizer: AuthorizationClient,
    closed_port: int,
    mode: FailureMode,
    allowed: bool,
    outcome: Outcome,
) -> None:
    config = AuthorizationConfig(
        url=f"http://127.0.0.1:{closed_port}/authorize",
        auth=BearerAuth(token=Secret(TOKEN)),
        failure_mode=mode,
    )
    decision = await ask(authorizer, config)
    assert decision.allowed is allowed
    assert decision.outcome is outcome
    assert decision.failure is FailureKind.CONNECTION
    assert decision.reason.startswith("connection failed: ConnectionRefusedError")


async def test_connection_reset(partner: Partner, authorizer: AuthorizationClient) -> None:
    async def respond(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()  # hang up without an answer
        return web.Response()

    partner.respond = respond
    decision = await ask(authorizer, partner.config())
    assert decision.outcome is Outcome.ERROR_FAIL_CLOSED
    assert decision.failure is FailureKind.CONNECTION


async def test_dns_failure(
    monkeypatch: pytest.MonkeyPatch, authorizer: AuthorizationClient
) -> None:
    async def not_found(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", not_found)
    config = AuthorizationConfig(
        url="https://partner.invalid/authorize", auth=BearerAuth(token=Secret(TOKEN))
    )
    decision = await ask(authorizer, config)
    assert decision.outcome is Outcome.ERROR_FAIL_CLOSED
    assert decision.failure is FailureKind.CONNECTION
    assert decision.reason.startswith("connection failed: gaierror")


@pytest.mark.parametrize("host", ["127.0.0.1", "partner.example"])
async def test_the_target_policy_refuses_a_private_address_at_connect_time(
    monkeypatch: pytest.MonkeyPatch, partner: Partner, clock: FakeClock, host: str
) -> None:
    """Under the default policy the callback never reaches a loopback address: given as such,
    or behind a name that resolves to it (a name re-bound after the URL was checked)."""

    async def loopback(name: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", loopback)
    config = partner.config(failure_mode=FailureMode.OPEN)
    config = dataclasses.replace(config, url=config.url.replace("127.0.0.1", host))
    async with AuthorizationClient(TargetPolicy(), clock=clock) as strict:
        decision = await ask(strict, config)
    assert decision.outcome is Outcome.ERROR_FAIL_OPEN
    assert decision.failure is FailureKind.CONNECTION
    assert decision.reason.startswith("refused by the target policy: url ")
    assert "loopback" in decision.reason
    assert partner.requests == []


# --- cache -----------------------------------------------------------------------------------


async def test_cache_hit(partner: Partner, authorizer: AuthorizationClient) -> None:
    config = partner.config(cache_ttl_seconds=30)
    first = await ask(authorizer, config)
    second = await ask(authorizer, config)
    assert len(partner.requests) == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.allowed is True
    assert second.outcome is Outcome.ALLOWED
    assert second.request_id == first.request_id  # the request the answer came from


async def test_cache_is_per_user_and_operation(
    partner: Partner, authorizer: AuthorizationClient
) -> None:
    config = partner.config()
    await ask(authorizer, config, subject=ANA, operation=Operation.BUY)
    await ask(authorizer, config, subject=ANA, operation=Operation.SELL)
    await ask(authorizer, config, subject=BEN, operation=Operation.BUY)
    await ask(authorizer, config, subject=ANA, operation=Operation.BUY)
    assert len(partner.requests) == 3


async def test_refusals_are_cached_too(partner: Partner, authorizer: AuthorizationClient) -> None:
    partner.answer(b"false")
    config = partner.config()
    await ask(authorizer, config)
    second = await ask(authorizer, config)
    assert len(partner.requests) == 1
    assert second.cached and second.outcome is Outcome.REFUSED


async def test_cache_expires(
    partner: Partner, authorizer: AuthorizationClient, clock: FakeClock
) -> None:
    config = partner.config(cache_ttl_seconds=30)
    await ask(authorizer, config)
    clock.advance(29.9)
    assert (await ask(authorizer, config)).cached
    clock.advance(0.1)
    assert not (await ask(authorizer, config)).cached
    assert len(partner.requests) == 2


async def test_ttl_zero_disables_the_cache(
    partner: Partner, authorizer: AuthorizationClient
) -> None:
    config = partner.config(cache_ttl_seconds=0)
    await ask(authorizer, config)
    second = await ask(authorizer, config)
    assert len(partner.requests) == 2
    assert not second.cached
    assert len(authorizer.cache) == 0


@pytest.mark.parametrize("mode", list(FailureMode))
async def test_failures_are_not_cached(
    partner: Partner, authorizer: AuthorizationClient, mode: FailureMode
) -> None:
    config = partner.config(failure_mode=mode)
    partner.answer(b"", status=503)
    assert (await ask(authorizer, config)).failure is FailureKind.SERVER_ERROR
    partner.answer(b"false")
    second = await ask(authorizer, config)
    assert len(partner.requests) == 2
    assert second.outcome is Outcome.REFUSED
    assert not second.cached


async def test_timeouts_are_not_cached(partner: Partner, authorizer: AuthorizationClient) -> None:
    config = partner.config(timeout_seconds=SHORT_TIMEOUT)
    partner.answer_after_release()
    assert (await ask(authorizer, config)).failure is FailureKind.TIMEOUT
    partner.answer(b"true")
    assert (await ask(authorizer, config)).outcome is Outcome.ALLOWED
    assert len(partner.requests) == 2


async def test_a_changed_config_is_not_answered_from_the_cache(
    partner: Partner, authorizer: AuthorizationClient
) -> None:
    await ask(authorizer, partner.config(BearerAuth(token=Secret("old-token"))))
    await ask(authorizer, partner.config(BearerAuth(token=Secret("new-token"))))
    assert [seen.headers["Authorization"] for seen in partner.requests] == [
        "Bearer old-token",
        "Bearer new-token",
    ]


# --- per-operation enablement ----------------------------------------------------------------


async def test_disabled_operation_is_allowed_without_a_call(
    partner: Partner, authorizer: AuthorizationClient
) -> None:
    partner.answer(b"false")
    config = partner.config(operations={Operation.BUY, Operation.SELL})
    decision = await ask(authorizer, config, operation=Operation.READ)
    assert decision.allowed is True
    assert decision.outcome is Outcome.DISABLED
    assert decision.request_id is None
    assert partner.requests == []
    assert (await ask(authorizer, config, operation=Operation.SELL)).outcome is Outcome.REFUSED
    assert [seen.json()["operation"] for seen in partner.requests] == ["sell"]
