"""What a worker keeps per endpoint stays bounded however many endpoints it sends to."""

from __future__ import annotations

from pathlib import Path

from rampwire.crypto import SecretBox
from rampwire.delivery.scheduler import KNOWN_ENDPOINTS
from rampwire.delivery.sender import Target
from rampwire.dialects import get_dialect
from rampwire.domain.deliveries import Claimed
from rampwire.services.worker import Worker
from rampwire.ssrf import TargetPolicy
from rampwire.storage import open_database


def target(endpoint_id: str) -> Target:
    dialect = get_dialect("standard")
    return Target(
        endpoint_id=endpoint_id,
        url="http://127.0.0.1:9/hooks",
        dialect=dialect,
        credentials=None,
        headers={},
        policy=dialect.policy,
        max_in_flight=4,
        rate_limit=None,
    )


def test_idle_limiters_are_dropped_beyond_the_bound(tmp_path: Path) -> None:
    """A limiter is kept with its endpoint's lane, and forgotten with it once idle."""
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")  # not opened: no I/O here
    worker = Worker(db, SecretBox(b"k" * 32), policy=TargetPolicy())
    scheduler = worker._scheduler
    scheduler.push(
        [
            Claimed(
                id="dlv_1",
                endpoint_id="ep_busy",
                event_id="evt_1",
                event_type="order.created",
                attempts=0,
                lease_token="t",
                payload=b"{}",
            )
        ]
    )
    picked = scheduler.next()
    assert picked is not None
    lane = picked[0]
    busy = worker._limiter(lane, target("ep_busy"))
    assert busy.try_acquire()  # one send in flight: it must survive the clean-up
    assert worker._limiter(lane, target("ep_busy")) is busy
    for n in range(KNOWN_ENDPOINTS * 2):
        worker._limiter(scheduler.lane(f"ep_{n}"), target(f"ep_{n}"))
        assert len(scheduler._lanes) <= KNOWN_ENDPOINTS
    assert scheduler.lane("ep_busy").limiter is busy
    assert scheduler.lane("ep_0").limiter is None  # idle, made again once met again
