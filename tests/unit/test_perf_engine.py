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

import pytest

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import StoredTarget
from rampwire.delivery.limits import EndpointLimiter
from rampwire.delivery.sender import Target
from rampwire.dialects import standard
from rampwire.services.targets import Targets
from rampwire.settings import Secret


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


async def test_a_rate_limit_spaces_the_starts_beyond_its_burst() -> None:
    """The token bucket (made only with a rate): a second's worth at once, then one start per
    1/rate seconds."""
    limiter = EndpointLimiter(max_in_flight=100, rate=20)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(21):  # the burst of 20, then one more token: 1/20 s after the start at least
        await limiter.acquire()
    assert loop.time() - started >= 0.04  # (the loop's timers may fire a clock tick early)
    for _ in range(21):
        limiter.release()
    assert limiter.try_acquire() is False  # a rate limit never takes the synchronous path


VERSION = 1_700_000_000_000_000  # an endpoint's updated_at, in microseconds


def _endpoint(endpoint_id: str) -> StoredTarget:
    """What a worker reads of an endpoint's row."""
    return StoredTarget(
        id=endpoint_id,
        version=VERSION,
        url="https://example.com/hook",
        dialect="standard",
        secrets=((Secret(standard.generate_secret()), VERSION, None),),
        headers={},
        rate_limit=None,
        max_in_flight=50,
        retry_policy=None,
        enabled=True,
        signatures=("v1",),
        traceparent=False,
    )


class _Endpoints:
    """Counts lookups; each waits until released, so callers pile up behind it. Every endpoint
    exists but ``ep_gone``."""

    def __init__(self) -> None:
        self.calls = 0
        self.asked: list[list[str]] = []
        self.release = asyncio.Event()

        self.error: Exception | None = None

    async def stored_targets(self, endpoint_ids: list[str], *, known: Any) -> dict[str, Any]:
        self.calls += 1
        self.asked.append(list(endpoint_ids))
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return {i: _endpoint(i) for i in endpoint_ids if i != "ep_gone"}


def _targets(endpoints: _Endpoints) -> Targets:
    targets = Targets(object(), SecretBox(b"k" * 32))  # type: ignore[arg-type]
    targets._endpoints = endpoints  # type: ignore[assignment]
    return targets


async def test_concurrent_sends_share_one_endpoint_lookup() -> None:
    endpoints = _Endpoints()
    targets = _targets(endpoints)
    callers = [asyncio.create_task(targets.get("ep_1", VERSION)) for _ in range(200)]
    await asyncio.sleep(0)
    endpoints.release.set()
    found = await asyncio.gather(*callers)
    assert isinstance(found[0], Target) and all(f is found[0] for f in found)
    assert endpoints.calls == 1
    assert await targets.get("ep_1", VERSION) is found[0]  # cached while its version holds
    assert endpoints.calls == 1
    targets.forget("ep_1")
    assert isinstance(await targets.get("ep_1", VERSION), Target)
    assert endpoints.calls == 2
    assert await targets.get("ep_1", VERSION + 1) is not None  # the endpoint changed: read
    assert endpoints.calls == 3
    assert await targets.get("ep_1", None) is None  # deleted: nothing to read
    assert await targets.get("ep_gone", VERSION) is None  # not found: asked each time
    assert endpoints.calls == 4


async def test_a_claims_endpoints_are_read_in_one_lookup() -> None:
    endpoints = _Endpoints()
    targets = _targets(endpoints)
    endpoints.release.set()
    assert await targets.get("ep_cached", VERSION) is not None
    endpoints.release.clear()
    versions = {"ep_1": VERSION, "ep_2": VERSION, "ep_cached": VERSION, "ep_3": VERSION}
    targets.prefetch({**versions, "ep_deleted": None})
    targets.prefetch({"ep_2": VERSION})  # already on its way: not read twice
    callers = [asyncio.create_task(targets.get(f"ep_{n}", VERSION)) for n in (1, 2, 3, 1)]
    await asyncio.sleep(0)
    endpoints.release.set()
    assert all(isinstance(found, Target) for found in await asyncio.gather(*callers))
    assert endpoints.asked == [["ep_cached"], ["ep_1", "ep_2", "ep_3"]]
    targets.prefetch({"ep_1": VERSION, "ep_cached": VERSION + 1})  # one of them changed
    await asyncio.sleep(0)
    assert endpoints.asked[-1] == ["ep_cached"]


async def test_a_read_that_fails_fails_the_sends_waiting_for_it_and_caches_nothing() -> None:
    endpoints = _Endpoints()
    endpoints.error = RuntimeError("down")
    targets = _targets(endpoints)
    targets.prefetch({"ep_1": VERSION, "ep_2": VERSION})
    callers = [asyncio.create_task(targets.get(f"ep_{n}", VERSION)) for n in (1, 2)]
    await asyncio.sleep(0)
    endpoints.release.set()
    for caller in callers:
        with pytest.raises(RuntimeError, match="down"):
            await caller
    endpoints.error = None
    assert isinstance(await targets.get("ep_1", VERSION), Target)  # read again, alone
    assert endpoints.asked == [["ep_1", "ep_2"], ["ep_1"]]


async def test_a_cancelled_send_leaves_the_read_to_the_others() -> None:
    """A send cancelled while it waits for its endpoint's read does not cancel the read: the
    sends still waiting get its answer, which is cached; close() cancels those that wait."""
    endpoints = _Endpoints()
    targets = _targets(endpoints)
    callers = [asyncio.create_task(targets.get("ep_1", VERSION)) for _ in range(3)]
    await asyncio.sleep(0)
    callers[0].cancel()
    await asyncio.sleep(0)
    endpoints.release.set()
    with pytest.raises(asyncio.CancelledError):
        await callers[0]
    one, two = await asyncio.gather(*callers[1:])
    assert isinstance(one, Target) and two is one
    assert endpoints.calls == 1 and len(targets) == 1

    endpoints.release.clear()
    waiting = asyncio.create_task(targets.get("ep_2", VERSION))
    await asyncio.sleep(0)
    targets.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_an_endpoint_forgotten_during_its_read_is_read_again() -> None:
    endpoints = _Endpoints()
    targets = _targets(endpoints)
    targets.prefetch({"ep_1": VERSION})
    targets.forget("ep_1")
    endpoints.release.set()
    await asyncio.sleep(0.01)
    assert len(targets) == 0  # the read's answer was not kept
    assert isinstance(await targets.get("ep_1", VERSION), Target)
    assert endpoints.calls == 2


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
