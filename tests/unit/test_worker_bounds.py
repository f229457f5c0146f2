"""What a worker keeps per endpoint stays bounded however many endpoints it sends to."""

from __future__ import annotations

from pathlib import Path

from rampwire.crypto import SecretBox
from rampwire.delivery.sender import Target
from rampwire.dialects import get_dialect
from rampwire.services.worker import MAX_LIMITERS, Worker
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
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")  # not opened: no I/O here
    worker = Worker(db, SecretBox(b"k" * 32), policy=TargetPolicy())
    busy = worker._limiter("ep_busy", target("ep_busy"))
    assert busy.try_acquire()  # one send in flight: it must survive the clean-up
    for n in range(MAX_LIMITERS * 2):
        worker._limiter(f"ep_{n}", target(f"ep_{n}"))
        assert len(worker._limiters) <= MAX_LIMITERS
    assert worker._limiters.get("ep_busy") is busy
