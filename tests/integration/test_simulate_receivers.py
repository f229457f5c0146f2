"""The simulator against real HTTP receivers on 127.0.0.1: a naive one (200 to everything), a
flaky one (fails the first attempts), and two runs with one seed."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter
from datetime import UTC, datetime

import aiohttp
import orjson
from tests.support.receivers import Received, receiver

from rampwire.dialects import jose
from rampwire.simulate import Fault, Options, Severity, http_sender, simulate
from rampwire.simulate.faults import Expect

SECRET = "wsk_simulated-0123456789abcdef"
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
EVERY_FAULT = {f: 0.5 for f in Fault if f is not Fault.NONE}


async def test_a_naive_receiver_gets_security_findings() -> None:
    async with receiver() as hooks, aiohttp.ClientSession() as session:
        result = await simulate(
            Options(dialect="transak", secrets=(SECRET,), orders=6, seed=3, faults=EVERY_FAULT),
            http_sender(session, hooks.url, timeout=5),
        )
    found = {f.fault for f in result.grade.findings if f.severity is Severity.SECURITY}
    assert {Fault.WRONG_KEY, Fault.TAMPERED, Fault.STALE, Fault.REPLAY, Fault.ALG_NONE} <= found
    assert result.grade.exit_code() == 1
    assert not result.grade.count(Severity.RELIABILITY)


async def test_a_flaky_receiver_gets_revolut_retries_on_its_schedule() -> None:
    seen: Counter[bytes] = Counter()

    def flaky(got: Received) -> int:  # 500 on the first attempt of each request
        seen[got.body] += 1
        return 500 if seen[got.body] == 1 else 200

    async with receiver() as hooks, aiohttp.ClientSession() as session:
        hooks.answer = flaky
        result = await simulate(
            Options(
                dialect="revolut", secrets=(SECRET,), orders=3, seed=5, speed=1000, start=START
            ),
            http_sender(session, hooks.url, timeout=5),
        )
        requests = list(hooks.requests)
    assert not result.grade.findings
    assert all(len(o.attempts) == 2 for o in result.outcomes)
    assert len(requests) == 2 * len(result.outcomes)
    stamps: dict[bytes, list[int]] = {}
    for got in requests:
        stamps.setdefault(got.body, []).append(int(got.headers["Revolut-Request-Timestamp"]))
    for first, retry in stamps.values():  # 30 s ±20 %, compressed 1000 times: 24 to 36 ms
        assert 23 <= retry - first <= 37


async def test_fireblocks_retries_5xx_on_its_ladder_and_no_4xx_but_429() -> None:
    tries: Counter[str] = Counter()
    answers = {"500": 500, "400": 400, "429": 429}

    def flaky(got: Received) -> int:
        key = orjson.loads(got.body)["id"]
        tries[key] += 1
        kind = list(answers)[len(tries) % 3] if tries[key] == 1 else None
        flaky.kind.setdefault(key, kind)  # type: ignore[attr-defined]
        chosen = flaky.kind[key]  # type: ignore[attr-defined]
        if chosen == "500" and tries[key] <= 3:
            return 500
        if chosen in ("400", "429") and tries[key] == 1:
            return answers[chosen]
        return 200

    flaky.kind = {}  # type: ignore[attr-defined]
    key_pem = jose.private_key_pem(jose.generate_signing_key(2048)).decode()
    async with receiver() as hooks, aiohttp.ClientSession() as session:
        hooks.answer = flaky
        result = await simulate(
            Options(
                dialect="fireblocks", secrets=(key_pem,), orders=4, seed=9, speed=1000, start=START
            ),
            http_sender(session, hooks.url, timeout=5),
        )
        requests = list(hooks.requests)
    created: dict[str, list[int]] = {}
    for got in requests:
        body = orjson.loads(got.body)
        created.setdefault(body["id"], []).append(body["createdAt"])
    assert set(flaky.kind.values()) == set(answers)  # type: ignore[attr-defined]
    for key, kind in flaky.kind.items():  # type: ignore[attr-defined]
        stamps = created[key]
        if kind == "500":  # 10 s, 30 s, 2 min: compressed 1000 times
            assert len(stamps) == 4
            gaps = [b - a for a, b in itertools.pairwise(stamps)]
            assert all(abs(g - w) <= 1 for g, w in zip(gaps, (10, 30, 120), strict=True)), gaps
        elif kind == "429":
            assert len(stamps) == 2
        else:
            assert len(stamps) == 1  # a 400 is final for Fireblocks
    refused = [f for f in result.grade.findings if f.severity is Severity.RELIABILITY]
    assert refused and all("400" in f.message for f in refused)


CLIENT_HEADERS = {"host", "user-agent", "accept", "accept-encoding", "content-length"}


def _sequence(requests: list[Received]) -> str:
    """A hash of what arrived, in arrival order (the HTTP client's own headers left out)."""
    sha = hashlib.sha256()
    for got in requests:
        headers = sorted((k.lower(), v) for k, v in got.headers.items())
        sha.update(orjson.dumps([h for h in headers if h[0] not in CLIENT_HEADERS]))
        sha.update(got.body)
    return sha.hexdigest()


async def test_one_seed_sends_the_same_bytes_in_the_same_order() -> None:
    sequences = []
    digests = []
    for _ in range(2):
        async with receiver() as hooks, aiohttp.ClientSession() as session:
            result = await simulate(
                Options(
                    dialect="saber",
                    secrets=(SECRET,),
                    orders=8,
                    seed=77,
                    faults=EVERY_FAULT,
                    start=START,
                    concurrency=1,
                    speed=math.inf,
                ),
                http_sender(session, hooks.url, timeout=5),
            )
            sequences.append(_sequence(list(hooks.requests)))
            digests.append(result.grade.digest)
    assert sequences[0] == sequences[1]
    assert digests[0] == digests[1]
    other = Options(dialect="saber", secrets=(SECRET,), orders=8, seed=78, start=START)
    async with receiver() as hooks, aiohttp.ClientSession() as session:
        changed = await simulate(other, http_sender(session, hooks.url, timeout=5))
    assert changed.grade.digest != digests[0]
    assert Expect.REFUSE in {o.shot.expect for o in result.outcomes}
