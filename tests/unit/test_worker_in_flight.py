"""An endpoint's in-flight limit holds in the worker whether or not a limiter counts its sends:
the lane's own count bounds them once the scheduler knows the limit, and a limiter is made for
the sends that started before it did (under the default), or for a rate limit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import DEFAULT_MAX_IN_FLIGHT
from rampwire.delivery.sender import Target
from rampwire.dialects import get_dialect
from rampwire.domain.deliveries import Claimed
from rampwire.services.worker import Worker
from rampwire.ssrf import TargetPolicy
from rampwire.storage import open_database

LIMIT = 2


class _Sent(Exception):
    """Ends an attempt once it was counted (no Result to build here)."""


class _Targets:
    def __init__(self, target: Target) -> None:
        self.target = target

    async def get(self, endpoint_id: str, version: int | None) -> Target:
        return self.target


class _Sender:
    """Counts the attempts in flight; each waits until released."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.sent = 0
        self.release = asyncio.Event()

    async def attempt(self, claimed: Claimed, target: Target, traced: Any = None) -> Any:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
            self.sent += 1
        raise _Sent


def _target(rate_limit: int | None = None) -> Target:
    dialect = get_dialect("standard")
    return Target(
        endpoint_id="ep_1",
        url="http://127.0.0.1:9/hooks",
        dialect=dialect,
        credentials=None,
        headers={},
        policy=dialect.policy,
        max_in_flight=LIMIT,
        rate_limit=rate_limit,
    )


def _claimed(n: int) -> Claimed:
    return Claimed(
        id=f"dlv_{n}",
        endpoint_id="ep_1",
        event_id=f"evt_{n}",
        event_type="order.created",
        attempts=0,
        lease_token="t",
        payload=b"{}",
        endpoint_version=1,
    )


async def _send_all(worker: Worker, sender: _Sender, count: int) -> None:
    """Start ``count`` sends as the worker does (scheduler.next, then the attempt), let them run
    until they wait, release them, and finish them as _deliver does."""
    scheduler = worker._scheduler
    scheduler.push([_claimed(n) for n in range(count)])
    picks = []
    while (picked := scheduler.next()) is not None:
        picks.append(picked)

    async def send(lane: Any, item: Claimed) -> None:
        try:
            await worker._attempt(sender, lane, item)  # type: ignore[arg-type]
        except _Sent:
            pass
        finally:
            scheduler.finished(lane)

    tasks = [asyncio.create_task(send(lane, item)) for lane, item in picks]
    for _ in range(5):
        await asyncio.sleep(0)
    sender.release.set()
    await asyncio.gather(*tasks)
    sender.release.clear()


async def test_sends_started_under_the_default_keep_to_the_endpoints_limit(
    tmp_path: Path,
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")  # not opened: no I/O here
    worker = Worker(db, SecretBox(b"k" * 32), policy=TargetPolicy())
    worker._targets = _Targets(_target())  # type: ignore[assignment]
    sender = _Sender()
    count = LIMIT * 3
    assert count < DEFAULT_MAX_IN_FLIGHT  # all start before the limit is known
    await _send_all(worker, sender, count)
    assert sender.sent == count and sender.most == LIMIT
    assert worker._scheduler.lane("ep_1").limiter is not None  # made for the surplus

    calm = Worker(db, SecretBox(b"k" * 32), policy=TargetPolicy())
    calm._targets = _Targets(_target())  # type: ignore[assignment]
    calm._scheduler.set_slots(calm._scheduler.lane("ep_1"), LIMIT)  # the limit known
    sender = _Sender()
    await _send_all(calm, sender, count)  # the scheduler starts LIMIT of them
    assert sender.sent == LIMIT and sender.most == LIMIT
    assert calm._scheduler.lane("ep_1").limiter is None  # the lane's count was enough


async def test_a_rate_limited_endpoint_sends_through_its_limiter(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    worker = Worker(db, SecretBox(b"k" * 32), policy=TargetPolicy())
    worker._targets = _Targets(_target(rate_limit=1000))  # type: ignore[assignment]
    worker._scheduler.set_slots(worker._scheduler.lane("ep_1"), LIMIT)
    sender = _Sender()
    await _send_all(worker, sender, LIMIT)
    lane = worker._scheduler.lane("ep_1")
    assert sender.sent == LIMIT and lane.limiter is not None and lane.limiter.rate == 1000
