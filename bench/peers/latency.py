"""Enqueue → receipt latency, the same way for rampwire and each peer: orders created at a paced
rate (one webhook each), each one's id and the time its write returned recorded by the
publisher; the receiver records the first arrival of each id (``/__record``); latency is
arrival - write returned, p50 and p99 over every matched webhook."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from harness.receiver import ReceiverProcess
from harness.report import percentile

RATE = 200.0  # webhooks/s offered: a rate every system here sustains on this machine
SECONDS = 6.0
ARRIVAL_S = 15.0  # how long the stragglers are waited for once publishing ends


@dataclass(frozen=True)
class Latency:
    p50_ms: float | None
    p99_ms: float | None
    matched: int
    missing: int  # published, never received within ARRIVAL_S
    achieved: float  # webhooks/s published
    behind: int  # times the publisher could not keep the pace

    @property
    def note(self) -> str:
        return (
            f"{RATE:,.0f}/s offered, {self.achieved:,.0f}/s published (pace slipped"
            f" {self.behind} times); {self.matched:,} received, {self.missing} missing"
        )


async def wait_received(receiver: ReceiverProcess, http: aiohttp.ClientSession, count: int) -> None:
    deadline = time.perf_counter() + ARRIVAL_S
    while time.perf_counter() < deadline:
        if (await receiver.call(http, "GET", "/__stats"))["received"] >= count:
            return
        await asyncio.sleep(0.05)


def latency(
    stamps: list[tuple[str, float]], arrivals: dict[str, float], elapsed: float, behind: int
) -> Latency:
    """``stamps``: (id, UNIX time the write returned); ``arrivals``: id → UNIX arrival time."""
    waits = [(arrivals[key] - done) * 1000 for key, done in stamps if key in arrivals]
    return Latency(
        p50_ms=percentile(waits, 50) if waits else None,
        p99_ms=percentile(waits, 99) if waits else None,
        matched=len(waits),
        missing=len(stamps) - len(waits),
        achieved=len(stamps) / max(elapsed, 1e-9),
        behind=behind,
    )


async def measured(
    receiver: ReceiverProcess,
    http: aiohttp.ClientSession,
    stamps: list[tuple[str, float]],
    elapsed: float,
    behind: int,
) -> Latency:
    """Wait for the stragglers, read the receiver's arrivals, reset it: the latency."""
    await wait_received(receiver, http, len(stamps))
    arrivals: dict[str, float] = await receiver.call(http, "GET", "/__arrivals")
    await receiver.call(http, "POST", "/__reset")
    return latency(stamps, arrivals, elapsed, behind)


@contextlib.contextmanager
def stamps_file() -> Iterator[str]:
    """A temporary file for a peer program's stamps, removed afterwards."""
    handle, path = tempfile.mkstemp(prefix="rampwire_bench_", suffix=".json")
    os.close(handle)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def read_stamps(path: str) -> list[tuple[str, float]]:
    return [(str(key), float(at)) for key, at in json.loads(Path(path).read_text())]
