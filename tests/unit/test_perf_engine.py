"""The delivery engine's fast paths behave like the slow ones: the endpoint limiter's slot
counting, the worker's single-flight endpoint cache, the SSRF guard's remembered verdicts, and
signing with keys decoded once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from yarl import URL

from rampwire.crypto import SecretBox
from rampwire.delivery.limits import EndpointLimiter
from rampwire.dialects import standard
from rampwire.services.targets import Targets
from rampwire.settings import Secret
from rampwire.ssrf import ForbiddenTarget, GuardedConnector, TargetPolicy


async def test_the_limiter_hands_slots_over_first_come_first_served() -> None:
    limiter = EndpointLimiter(max_in_flight=2, rate=None)
    assert limiter.try_acquire()
    await limiter.acquire()
    assert not limiter.try_acquire()  # both slots taken
    order: list[int] = []

    async def wait(number: int) -> None:
        await limiter.acquire()
        order.append(number)

    waiters = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert order == []
    limiter.release()
    limiter.release()
    await asyncio.sleep(0)
    assert order == [0, 1]
    assert not limiter.try_acquire()  # a waiter is still queued
    limiter.release()
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2]
    for _ in range(2):
        limiter.release()
    assert limiter.try_acquire()


async def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    limiter = EndpointLimiter(max_in_flight=1, rate=None)
    assert limiter.try_acquire()
    gone = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    limiter.release()
    assert limiter.try_acquire()
    # cancelled just after the slot was handed over: the slot passes on, it is not lost
    handed = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release()
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert limiter.try_acquire()


async def test_a_rate_limited_endpoint_always_takes_the_waiting_path() -> None:
    limiter = EndpointLimiter(max_in_flight=4, rate=100)
    assert not limiter.try_acquire()
    await limiter.acquire()
    limiter.release()


class _Endpoints:
    """Counts lookups; each waits until released, so callers pile up behind it."""

    def __init__(self) -> None:
        self.calls = 0
        self.asked: list[list[str]] = []
        self.release = asyncio.Event()

    async def get_many(self, endpoint_ids: list[str], *, known: Any = None) -> dict[str, Any]:
        self.calls += 1
        self.asked.append(list(endpoint_ids))
        await self.release.wait()
        return {}  # none of them exists


def _targets(endpoints: _Endpoints) -> Targets:
    targets = Targets(object(), SecretBox(b"k" * 32))  # type: ignore[arg-type]
    targets._endpoints = endpoints  # type: ignore[assignment]
    return targets


async def test_concurrent_sends_share_one_endpoint_lookup() -> None:
    endpoints = _Endpoints()
    targets = _targets(endpoints)
    callers = [asyncio.create_task(targets.get("ep_1")) for _ in range(200)]
    await asyncio.sleep(0)
    endpoints.release.set()
    assert await asyncio.gather(*callers) == [None] * 200
    assert endpoints.calls == 1
    assert await targets.get("ep_1") is None  # cached
    assert endpoints.calls == 1
    targets.forget("ep_1")
    assert await targets.get("ep_1") is None
    assert endpoints.calls == 2


async def test_a_claims_endpoints_are_read_in_one_lookup() -> None:
    endpoints = _Endpoints()
    targets = _targets(endpoints)
    endpoints.release.set()
    assert await targets.get("ep_cached") is None
    endpoints.release.clear()
    targets.prefetch(["ep_1", "ep_2", "ep_1", "ep_cached", "ep_3"])
    targets.prefetch(["ep_2"])  # already on its way: not read twice
    callers = [asyncio.create_task(targets.get(f"ep_{n}")) for n in (1, 2, 3, 1)]
    await asyncio.sleep(0)
    endpoints.release.set()
    assert await asyncio.gather(*callers) == [None] * 4
    assert endpoints.asked == [["ep_cached"], ["ep_1", "ep_2", "ep_3"]]


async def test_the_guard_remembers_only_what_it_allowed() -> None:
    connector = GuardedConnector(TargetPolicy())
    try:
        connector._check(URL("https://93.184.215.14/hook"))
        connector._check(URL("https://93.184.215.14/other"))  # remembered
        for _ in range(2):  # refusals are never remembered
            with pytest.raises(ForbiddenTarget, match="loopback"):
                connector._check(URL("http://127.0.0.1:8080/hook"))
        connector.policy = TargetPolicy(https_only=True)  # a new policy forgets the old verdicts
        connector._check(URL("https://93.184.215.14/hook"))
        with pytest.raises(ForbiddenTarget, match="https"):
            connector._check(URL("http://93.184.215.14/hook"))
    finally:
        await connector.close()


async def test_the_guard_refuses_after_allowing_a_different_port() -> None:
    policy = TargetPolicy.from_strings(allowed_ports="443")
    connector = GuardedConnector(policy)
    try:
        connector._check(URL("https://93.184.215.14/hook"))
        with pytest.raises(ForbiddenTarget, match="port 8443"):
            connector._check(URL("https://93.184.215.14:8443/hook"))
    finally:
        await connector.close()
    assert isinstance(connector, aiohttp.TCPConnector)


def test_signing_with_cached_keys_matches_the_definition() -> None:
    secrets = (Secret(standard.generate_secret()), Secret("whsec_" + "a2V5" * 8))
    credentials = standard.StandardCredentials(secrets=secrets)
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    signed = standard.sign("evt_1", b'{"a":1}', credentials, now=now)
    message = b'evt_1.1735787045.{"a":1}'
    expected = [
        "v1,"
        + base64.b64encode(
            hmac.new(
                base64.b64decode(s.reveal().removeprefix("whsec_")), message, hashlib.sha256
            ).digest()
        ).decode()
        for s in secrets
    ]
    assert signed.headers["webhook-signature"] == " ".join(expected)
    assert credentials.keys == tuple(standard._key(s) for s in secrets)
    assert credentials == standard.StandardCredentials(secrets=secrets)
    assert "_keys" not in repr(credentials)
