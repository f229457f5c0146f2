"""The SSRF guard at connect time, against a real aiohttp server on 127.0.0.1.

No network beyond 127.0.0.1: names other than ``localhost`` are answered by a fake resolver
injected under the guard, which is also how DNS rebinding is simulated.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from rampwire.ssrf import (
    ForbiddenTarget,
    GuardedConnector,
    TargetPolicy,
    check_url,
    find_forbidden_target,
    resolve_and_check,
)

STRICT = TargetPolicy()
DEV = TargetPolicy(allow_private=True)
PUBLIC = "93.184.215.14"  # never connected to: every test answers 127.0.0.1 at connect time


@dataclass
class Server:
    port: int = 0
    hits: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        if request.path == "/redirect":
            raise web.HTTPFound(request.query["to"])
        return web.Response(text="ok")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    server = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()


class ScriptedResolver(AbstractResolver):
    """Answers each lookup with the next list of addresses; the last list repeats."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET,
                proto=socket.IPPROTO_TCP,
                flags=0,
            )
            for address in answer
        ]

    async def close(self) -> None:
        pass


async def _get(policy: TargetPolicy, url: str, resolver: AbstractResolver | None = None) -> str:
    async with (
        aiohttp.ClientSession(connector=GuardedConnector(policy, resolver=resolver)) as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response,
    ):
        response.raise_for_status()
        return await response.text()


async def _refused(policy: TargetPolicy, url: str, resolver: AbstractResolver | None = None) -> str:
    with pytest.raises(aiohttp.ClientConnectorError) as info:
        await _get(policy, url, resolver)
    forbidden = find_forbidden_target(info.value)
    assert forbidden is not None, info.value
    assert forbidden.message in str(info.value)  # the engine's log line names the reason
    return forbidden.message


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("localhost", "url host localhost is a localhost name"),
        ("127.0.0.1", "url host is 127.0.0.1, a loopback address"),
        ("[::ffff:127.0.0.1]", r"url host is ::ffff:7f00:1 (IPv4 127.0.0.1), a loopback address"),
    ],
)
async def test_loopback_is_refused_and_the_server_hears_nothing(
    server: Server, host: str, reason: str
) -> None:
    message = await _refused(STRICT, f"http://{host}:{server.port}/hook")
    assert message.startswith(reason)
    assert server.hits == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_development_switch_lets_loopback_through(server: Server, host: str) -> None:
    assert await _get(DEV, f"http://{host}:{server.port}/hook") == "ok"
    assert server.hits == ["/hook"]


async def test_allowlisted_network_is_reached(server: Server) -> None:
    policy = TargetPolicy.from_strings(allowlist="127.0.0.1/32")
    assert await _get(policy, f"http://127.0.0.1:{server.port}/hook") == "ok"
    assert server.hits == ["/hook"]


async def test_dns_rebinding_is_refused_at_connect_time(server: Server) -> None:
    rebinding = ScriptedResolver([PUBLIC], ["127.0.0.1"])
    url = f"http://rebind.example:{server.port}/hook"
    target = check_url(url, STRICT)
    assert await resolve_and_check(target.host, target.port, STRICT, resolver=rebinding) == [
        IPv4Address(PUBLIC)
    ]
    message = await _refused(STRICT, url, resolver=rebinding)
    assert message.startswith("url resolves to 127.0.0.1, a loopback address")
    assert rebinding.calls == 2
    assert server.hits == []


async def test_without_the_guard_the_rebound_name_would_reach_the_server(server: Server) -> None:
    # The same script under the development switch: the connection goes to the address the
    # resolver answered at connect time, which is what the guard checks when it is on.
    rebinding = ScriptedResolver([PUBLIC], ["127.0.0.1"])
    url = f"http://rebind.example:{server.port}/hook"
    assert await resolve_and_check("rebind.example", server.port, DEV, resolver=rebinding)
    assert await _get(DEV, url, resolver=rebinding) == "ok"
    assert server.hits == ["/hook"]


async def test_one_forbidden_answer_among_public_ones_is_enough(server: Server) -> None:
    mixed = ScriptedResolver([PUBLIC, "127.0.0.1"])
    message = await _refused(STRICT, f"http://mixed.example:{server.port}/", resolver=mixed)
    assert message.startswith("url resolves to 127.0.0.1")
    assert server.hits == []


async def test_every_redirect_hop_is_checked(server: Server) -> None:
    policy = TargetPolicy.from_strings(allowlist="127.0.0.1/32")
    to = f"http://127.0.0.2:{server.port}/hook"
    message = await _refused(policy, f"http://127.0.0.1:{server.port}/redirect?to={to}")
    assert message.startswith("url host is 127.0.0.2, a loopback address")
    assert server.hits == ["/redirect"]


async def test_proxies_are_refused(server: Server) -> None:
    proxy = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession(connector=GuardedConnector(DEV)) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await session.get("http://example.com/", proxy=proxy)
    forbidden = find_forbidden_target(info.value)
    assert forbidden is not None
    assert forbidden.message == "deliveries cannot go through a proxy"
    assert server.hits == []


async def test_resolve_and_check_uses_getaddrinfo() -> None:
    with pytest.raises(ForbiddenTarget, match="localhost name"):
        await resolve_and_check("localhost", 80, STRICT)
    addresses = await resolve_and_check("localhost", 80, DEV)
    assert IPv4Address("127.0.0.1") in addresses
    assert all(address.is_loopback for address in addresses)
