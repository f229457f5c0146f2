"""Instructions of a fresh worker's first sends to E endpoints (D deliveries spread evenly over
them), without SQL: the claim's push, the prefetch, the endpoints' read (a stub repository: no
SQL, no decryption, its ``StoredTarget``s made inside the count), each send's ``Targets.get``,
the lane's slots and limiter, the attempt (a stub sender that sends nothing) and ``finished``.
The worker's own part of a first contact, deterministic (two runs agree within ~0.6 k a
delivery). A diagnosis, not a benchmark (``make bench`` skips ``_`` scripts); it reaches into
the worker's private parts, as a stub of its repository must.

    cd bench && valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/fc.out \\
        ../.venv/bin/python _callgrind_first_contact.py E D      # e.g. 3 6000, then 2001 6000
    callgrind_annotate /tmp/fc.out | head     # PROGRAM TOTALS / D = instructions per delivery

The excess of a first contact per delivery is the 2,001-endpoint figure minus the 3-endpoint
one (docs/benchmarks.md, "first contact without SQL").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
from typing import Any

import uvloop

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import StoredTarget
from rampwire.dialects import standard
from rampwire.domain.deliveries import Claimed
from rampwire.services.worker import Worker
from rampwire.settings import Secret
from rampwire.ssrf import TargetPolicy
from rampwire.storage import open_database

VERSION = 1_700_000_000_000_000  # every endpoint's updated_at, in microseconds
CLAIM = 256  # deliveries a claim, as the bench's concurrency


class Endpoints:
    """The worker's endpoint reads, answered from memory."""

    def __init__(self, ids: list[str]) -> None:
        self.secrets = {i: Secret(standard.generate_secret()) for i in ids}

    async def stored_targets(self, ids: Any, *, known: Any) -> dict[str, StoredTarget]:
        await asyncio.sleep(0)  # a read suspends, as the real one does
        return {
            i: StoredTarget(
                id=i,
                version=VERSION,
                url="https://example.com/hook",
                dialect="standard",
                secrets=((self.secrets[i], VERSION, None),),
                headers={},
                rate_limit=None,
                max_in_flight=CLAIM,
                retry_policy=None,
                enabled=True,
                signatures=("v1",),
                traceparent=False,
            )
            for i in ids
        }


class Sent(Exception):
    """The stub sender's answer: the attempt ends here, nothing is sent or recorded."""


class Sender:
    async def attempt(self, claimed: Claimed, target: Any, traced: Any = None) -> None:
        await asyncio.sleep(0)
        raise Sent


def instrument(on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=False,
        capture_output=True,
    )


async def main(endpoints: int, deliveries: int) -> None:
    ids = [f"ep_{n}" for n in range(endpoints)]
    db = open_database(f"sqlite:///{tempfile.mkdtemp()}/unused.db")  # never opened
    worker = Worker(db, SecretBox(os.urandom(32)), policy=TargetPolicy())
    worker._targets._endpoints = Endpoints(ids)  # type: ignore[assignment]
    scheduler, sender = worker._scheduler, Sender()
    claimed = [
        Claimed(
            id=f"dlv_{n}",
            endpoint_id=ids[n % endpoints],
            event_id=f"evt_{n}",
            event_type="order.created",
            attempts=0,
            lease_token="t",
            payload=b"{}",
            endpoint_version=VERSION,
        )
        for n in range(deliveries)
    ]

    async def send(lane: Any, item: Claimed) -> None:
        try:
            await worker._attempt(sender, lane, item)  # type: ignore[arg-type]
        except Sent:
            pass
        finally:
            scheduler.finished(lane)

    instrument(True)
    for start in range(0, deliveries, CLAIM):
        batch = claimed[start : start + CLAIM]
        scheduler.push(batch)
        worker._targets.prefetch({c.endpoint_id: c.endpoint_version for c in batch})
        tasks = []
        while (picked := scheduler.next()) is not None:
            tasks.append(asyncio.create_task(send(*picked)))
        await asyncio.gather(*tasks)
    instrument(False)
    print(f"{endpoints} endpoints, {deliveries} deliveries, {len(worker._targets)} cached")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoints", type=int)
    parser.add_argument("deliveries", type=int)
    args = parser.parse_args()
    uvloop.run(main(args.endpoints, args.deliveries))
