"""Playing a plan against a receiver: pacing, the provider's retries, and what came back.

Orders play concurrently (at most ``concurrency`` at a time); one order's requests go one after
another, as a provider sends them. Waits are the plan's seconds divided by ``speed`` (infinite:
no waits at all). After a non-2xx answer or none, an authentic request is retried as the
dialect's :class:`~rampwire.dialects.base.DeliveryPolicy` says, re-signed at the time of the
retry; forged and malformed requests are probes, sent once.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import aiohttp

from ..dialects.base import WireRequest
from ..types import utcnow
from .faults import Forger
from .plan import OrderScript, Plan, Shot

DEFAULT_TIMEOUT: Final = 10.0  # seconds a provider waits for an answer
DEFAULT_CONCURRENCY: Final = 8  # orders in flight

Send = Callable[[WireRequest], Awaitable[int | None]]  # the status, or None: no answer in time


@dataclass(frozen=True, kw_only=True, slots=True)
class Attempt:
    number: int  # 1: the first try
    status: int | None  # None: no answer (timeout, refused connection)
    error: str | None
    digest: str  # sha256 of what went out: headers and body


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    shot: Shot
    attempts: tuple[Attempt, ...]

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Clock:
    """The time requests are signed with: the real one, or ``start`` plus the plan's compressed
    seconds (a fixed ``start`` makes a seeded run byte for byte the same)."""

    def __init__(self, *, speed: float = math.inf, start: datetime | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be above 0")
        self.speed = speed
        self.start = start

    def now(self, offset: float) -> datetime:
        if self.start is None:
            return utcnow()
        return self.start + timedelta(seconds=self.compressed(offset))

    def compressed(self, seconds: float) -> float:
        return 0.0 if math.isinf(self.speed) else seconds / self.speed

    async def wait(self, seconds: float) -> None:
        pause = self.compressed(seconds)
        if pause > 0:
            await asyncio.sleep(pause)


def digest(request: WireRequest) -> str:
    sha = hashlib.sha256()
    for name, value in sorted(request.headers.items()):
        sha.update(f"{name.lower()}: {value}\n".encode())
    sha.update(b"\n" + request.body)
    return sha.hexdigest()


def http_sender(session: aiohttp.ClientSession, url: str, *, timeout: float) -> Send:
    """POST to ``url``; a timeout or a connection failure is no answer."""
    limit = aiohttp.ClientTimeout(total=timeout)

    async def send(request: WireRequest) -> int | None:
        try:
            async with session.post(
                url,
                data=request.body,
                headers=request.headers,
                timeout=limit,
                allow_redirects=False,
            ) as reply:
                await reply.read()
                return reply.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None

    return send


async def play(
    plan: Plan,
    send: Send,
    forger: Forger,
    *,
    clock: Clock,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Send every shot of ``plan``; the outcomes in plan order."""
    gate = asyncio.Semaphore(max(1, concurrency))
    found: list[Outcome] = []

    async def one(script: OrderScript) -> None:
        async with gate:
            player = _Player(plan, script, send, forger, clock)
            for shot in script.shots:
                outcome = await player.shoot(shot)
                found.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)

    async with asyncio.TaskGroup() as group:
        for script in plan.orders:
            group.create_task(one(script))
    return sorted(found, key=lambda o: o.shot.seq)


class _Player:
    """One order's requests, one after another, on the order's own clock."""

    def __init__(
        self, plan: Plan, script: OrderScript, send: Send, forger: Forger, clock: Clock
    ) -> None:
        self.policy = plan.dialect.policy
        self.send = send
        self.forger = forger
        self.clock = clock
        self.offset = 0.0  # seconds (uncompressed) since the order's first request
        self.sent: dict[int, WireRequest] = {}
        self.jitter = random.Random(script.retry_seed)

    async def shoot(self, shot: Shot) -> Outcome:
        await self._wait(shot.wait)
        now = self.clock.now(self.offset)
        if shot.copy_of is not None:
            request = self.sent[shot.copy_of]
        elif shot.authentic:
            request = shot.encode(now, self.forger.credentials)
        else:
            request = self.forger.forge(shot.fault, shot.encode, now, shot.earlier)
        self.sent[shot.seq] = request
        attempts = [await self._attempt(1, request)]
        if not shot.authentic or shot.copy_of is not None:
            return Outcome(shot=shot, attempts=tuple(attempts))
        while True:
            status = None if shot.drop_first and len(attempts) == 1 else attempts[-1].status
            if not self.policy.should_retry(status):
                break
            delay = self.policy.delay(len(attempts), spread=self.jitter.uniform(-1.0, 1.0))
            if delay is None:
                break
            await self._wait(delay)
            request = shot.encode(self.clock.now(self.offset), self.forger.credentials)
            attempts.append(await self._attempt(len(attempts) + 1, request))
        return Outcome(shot=shot, attempts=tuple(attempts))

    async def _wait(self, seconds: float) -> None:
        self.offset += seconds
        await self.clock.wait(seconds)

    async def _attempt(self, number: int, request: WireRequest) -> Attempt:
        started = time.monotonic()
        status = await self.send(request)
        error = None
        if status is None:
            error = f"no answer within the timeout ({time.monotonic() - started:.1f} s)"
        return Attempt(number=number, status=status, error=error, digest=digest(request))


def run_digest(outcomes: list[Outcome]) -> str:
    """One hash of everything sent, in plan order: equal for two runs that sent the same."""
    sha = hashlib.sha256()
    for outcome in outcomes:
        for attempt in outcome.attempts:
            sha.update(f"{outcome.shot.seq}.{attempt.number}:{attempt.digest}\n".encode())
    return sha.hexdigest()
