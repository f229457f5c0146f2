"""The policy at connect time (:mod:`rampwire.ssrf.names`), through the guarded client against a
real server on 127.0.0.1: what is refused says why and never reaches the server, what the policy
allows does. Names other than ``localhost`` are answered by the event loop's ``getaddrinfo``,
replaced per test; that is also how a name re-bound after the static check is played."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address
from typing import Any

import pytest
from tests.support.receivers import raw_server, read_request

from rampwire.ssrf import ForbiddenTarget, TargetPolicy, WireClient, check_url, resolve_and_check

STRICT = TargetPolicy()
DEV = TargetPolicy(allow_private=True)
PUBLIC = "93.184.215.14"  # never connected to: every name here is answered with 127.0.0.1 at last
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Scripted:
    """Answers each lookup with the next list of addresses; the last list repeats."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answer]


async def _post(policy: TargetPolicy, url: str) -> int:
    async with WireClient(policy, connect_timeout=5, total_timeout=10, body_cap=64) as wire:
        return (await wire.post(url, {}, b"{}")).status


async def _refused(policy: TargetPolicy, url: str) -> str:
    with pytest.raises(ForbiddenTarget) as info:
        await _post(policy, url)
    return info.value.message


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(OK)
    await writer.drain()


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("localhost", "url host localhost is a localhost name"),
        ("127.0.0.1", "url host is 127.0.0.1, a loopback address"),
        ("[::ffff:127.0.0.1]", r"url host is ::ffff:7f00:1 (IPv4 127.0.0.1), a loopback address"),
    ],
)
async def test_loopback_is_refused_and_the_server_hears_nothing(host: str, reason: str) -> None:
    async with raw_server(_answer) as server:
        url = server.url.replace("127.0.0.1", host)
        assert (await _refused(STRICT, url)).startswith(reason)
    assert server.connections == 0


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_development_switch_lets_loopback_through(host: str) -> None:
    async with raw_server(_answer) as server:
        assert await _post(DEV, server.url.replace("127.0.0.1", host)) == 200
    assert server.connections == 1


async def test_allowlisted_network_is_reached() -> None:
    policy = TargetPolicy.from_strings(allowlist="127.0.0.1/32")
    async with raw_server(_answer) as server:
        assert await _post(policy, server.url) == 200
        refused = await _refused(policy, server.url.replace("127.0.0.1", "127.0.0.2"))
    assert refused.startswith("url host is 127.0.0.2, a loopback address")
    assert server.connections == 1


async def test_dns_rebinding_is_refused_at_connect_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name passes when the endpoint is saved (a public answer) and resolves to loopback
    when the client connects: refused then, the server never reached."""
    rebinding = Scripted([PUBLIC], ["127.0.0.1"])
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", rebinding)
    async with raw_server(_answer) as server:
        url = server.url.replace("127.0.0.1", "rebind.example")
        target = check_url(url, STRICT)
        found = await resolve_and_check(target.host, target.port, STRICT)
        assert found == [IPv4Address(PUBLIC)]
        message = await _refused(STRICT, url)
    assert message.startswith("url resolves to 127.0.0.1, a loopback address")
    assert rebinding.calls == 2
    assert server.connections == 0


async def test_without_the_guard_the_rebound_name_would_reach_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same script under the development switch: the connection goes to the address the
    # lookup answered at connect time, which is what the guard checks when it is on.
    monkeypatch.setattr(
        asyncio.get_running_loop(), "getaddrinfo", Scripted([PUBLIC], ["127.0.0.1"])
    )
    async with raw_server(_answer) as server:
        url = server.url.replace("127.0.0.1", "rebind.example")
        await resolve_and_check("rebind.example", 80, DEV)
        assert await _post(DEV, url) == 200
    assert server.connections == 1


async def test_one_forbidden_answer_among_public_ones_is_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", Scripted([PUBLIC, "127.0.0.1"]))
    with pytest.raises(ForbiddenTarget, match=r"^url resolves to 127\.0\.0\.1"):
        await resolve_and_check("mixed.example", 443, STRICT)


async def test_an_answer_that_is_not_an_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", Scripted(["not-an-ip"]))
    with pytest.raises(ForbiddenTarget, match="the resolver answered 'not-an-ip'"):
        await resolve_and_check("odd.example", 443, STRICT)


async def test_resolve_and_check_uses_getaddrinfo() -> None:
    with pytest.raises(ForbiddenTarget, match="localhost name"):
        await resolve_and_check("localhost", 80, STRICT)
    addresses = await resolve_and_check("localhost", 80, DEV)
    assert IPv4Address("127.0.0.1") in addresses
    assert all(address.is_loopback for address in addresses)
