"""Ingest under disorder, over real HTTP against a real ``rampwire serve``: 100 orders from the
five providers, every lifecycle event shuffled across orders, a fifth of them sent twice, 16 in
flight. The orders must end as they do when the same requests arrive in order on a fresh
database; no request may be lost or applied twice; and every order's canonical events (as the
delivery worker sends them to a receiver on 127.0.0.1, and as the ``events`` table holds them)
must carry the sequences 1, 2, 3, ... in id order.

One more test holds PostgreSQL's concurrent transactions to a known interleaving (a trigger in
the test database delays one commit) to show a request that waits for its order being lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook
from tests.support.ingest_kit import KITS, webhook
from tests.support.receivers import Receiver, receiver

from rampwire.dialects import get_dialect, samples
from rampwire.dialects.base import DialectName
from rampwire.domain.lifecycle import RANK
from rampwire.domain.orders import Order, OrderStatus, Provider, Side
from rampwire.storage import open_database
from rampwire.types import utcnow

S = OrderStatus
RAMPWIRE = [sys.executable, "-m", "rampwire"]
ORDERS_PER_PROVIDER = 20  # 100 orders in total
IN_FLIGHT = 16  # concurrent requests in the shuffled run
REFERENCE_IN_FLIGHT = 8  # orders sent at once in the in-order run (each order's events in order)
DUPLICATE_SHARE = 0.2  # of the distinct requests, sent twice
SEED = 20_261_122
START_S = 30.0  # for a server to come up
STOP_S = 15.0  # for a server to exit after SIGTERM
DELIVER_S = 60.0  # for every canonical event to reach the receiver
MAX_PAGES = 100  # of any paged listing
BOOKKEEPING = ("id", "version", "created_at", "updated_at")
# Fields whose final value depends on arrival order by design of the dialect, compared only in
# the (expected to fail) Saber test below: Saber's CRYPTO_BUY and SELL events carry no event
# time, so the time received stands in for it and the last request to arrive writes ``payment``.
ARRIVAL_ORDERED = {Provider.SABER: frozenset({"payment"})}


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30.0,
            limits=limits,
        )


@contextmanager
def serve(data_dir: Path, database_url: str, *, worker: bool) -> Iterator[Server]:
    """``rampwire serve`` on 127.0.0.1 and a free port, on ``database_url`` (empty: the first
    start prints an admin key); stopped by its pid on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPWIRE_")}
    env |= {
        "RAMPWIRE_DATA_DIR": str(data_dir),
        "RAMPWIRE_DATABASE_URL": database_url,
        "RAMPWIRE_HOST": "127.0.0.1",
        "RAMPWIRE_ALLOW_PRIVATE_TARGETS": "1",  # the receiver listens on 127.0.0.1
        "RAMPWIRE_SERVE_WORKER": "1" if worker else "0",
        "PYTHONUNBUFFERED": "1",
    }
    port = free_port()
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*RAMPWIRE, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{port}"
        token = _wait_until_up(url, proc, log)
        yield Server(url=url, token=token, proc=proc, log=log)
    finally:
        _stop(proc)


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> str:
    for _ in range(int(START_S / 0.1)):
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        raise RuntimeError(f"serve did not start:\n{log.read_text(errors='replace')}")
    marker = "admin API key (shown once, keep it): "
    for line in log.read_text(errors="replace").splitlines():
        if marker in line:
            return line.split(marker, 1)[1].strip()
    raise RuntimeError(f"serve printed no admin key:\n{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_S)


async def make_sources(client: httpx.AsyncClient) -> dict[Provider, str]:
    ids = {}
    for provider, kit in KITS.items():
        body = {
            "provider": provider.value,
            "name": provider.value,
            "credentials": kit.source_credentials,
        }
        response = await client.post("/v1/sources", json=body)
        assert response.status_code == 201, response.text
        ids[provider] = response.json()["id"]
    return ids


# --- the requests -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Planned:
    """One distinct provider request: the ``step``-th event of its order's lifecycle."""

    index: int
    provider: Provider
    provider_order_id: str
    step: int
    status: OrderStatus  # what the event announces, before the provider's wire mapping
    headers: dict[str, str]
    body: bytes


class _Seeded:
    """Stands in for the ``secrets`` and ``uuid`` modules inside :mod:`rampwire.dialects.samples`
    so that every event of one order carries the same ids, references and hashes: what changes
    from one step to the next is what the lifecycle changes (a hash once crypto moved, a
    failure, execution steps), as it would at the provider."""

    def __init__(self, seed: str) -> None:
        self._seed = seed

    def token_hex(self, nbytes: int) -> str:
        return hashlib.sha256(f"{self._seed}:{nbytes}".encode()).hexdigest()[: 2 * nbytes]

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(hashlib.md5(self._seed.encode()).hexdigest())


def expressible(provider: Provider, side: Side) -> list[OrderStatus]:
    """The canonical statuses a provider's ``side`` orders can announce and be read back as,
    in lifecycle order (from the dialect's own status tables)."""
    dialect = get_dialect(provider.value)
    readable = {dialect.from_provider(event, side) for event in dialect.provider_events(side)}
    found = [
        status
        for status in OrderStatus
        if status in readable
        and dialect.from_provider(dialect.to_provider(status, side), side) is status
    ]
    return sorted(found, key=lambda status: RANK[status])


def lifecycles(provider: Provider, side: Side) -> list[tuple[OrderStatus, ...]]:
    """Complete paths through the lifecycle: success, failure, and a terminal conflict (or a
    refund after a failure) where the provider can say so."""
    statuses = expressible(provider, side)
    ongoing = [s for s in statuses if not s.is_terminal]
    paths = [(*ongoing, S.COMPLETED)]
    if provider is Provider.KOYWE:
        # Only crypto/fiat sent and delivered name the side; an order that fails before any of
        # them cannot be created without the source's default_side (tested in
        # test_ingest_api). Failing after delivery_sent still exercises requests that wait
        # for their order, concurrently.
        return [*paths, (*ongoing, S.FAILED)]
    if S.FAILED in statuses:
        paths.append((*ongoing[: len(ongoing) // 2 + 1], S.FAILED))
    if S.REFUNDED in statuses and S.FAILED in statuses:
        paths.append((*ongoing, S.FAILED, S.REFUNDED))
    last = S.REFUNDED if S.REFUNDED in statuses else S.FAILED
    paths.append((*ongoing, S.COMPLETED, last))  # a terminal conflict: an anomaly
    return paths


def plan(base: datetime, providers: Sequence[Provider] = tuple(Provider)) -> list[Planned]:
    """Every distinct request for ``ORDERS_PER_PROVIDER`` orders per provider, in lifecycle
    order per order; each event has its own provider time, increasing along the lifecycle."""
    planned: list[Planned] = []
    for p_index, provider in enumerate(providers):
        dialect = get_dialect(provider.value)
        sides = sorted(dialect.sides)
        for n in range(ORDERS_PER_PROVIDER):
            side = sides[n % len(sides)]
            paths = lifecycles(provider, side)
            path = paths[(n // len(sides)) % len(paths)]
            seeded = _Seeded(f"{SEED}:{provider.value}:{n}")
            order_ms = p_index * ORDERS_PER_PROVIDER + n  # distinct times across orders too
            for step, status in enumerate(path):
                at = base + timedelta(seconds=2 * step, milliseconds=order_ms)
                with mock.patch.multiple(samples, secrets=seeded, uuid=seeded):
                    order: Order = samples.sample_order(
                        DialectName(provider.value), status, side, now=at
                    )
                request = webhook(provider, order, status, now=at)
                assert order.provider_order_id is not None
                planned.append(
                    Planned(
                        index=len(planned),
                        provider=provider,
                        provider_order_id=order.provider_order_id,
                        step=step,
                        status=status,
                        headers=request.headers,
                        body=request.body,
                    )
                )
    return planned


# --- reading a server back ----------------------------------------------------------------------


async def paged(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError(f"{path} has more than {MAX_PAGES} pages")


async def final_states(client: httpx.AsyncClient) -> dict[tuple[str, str], dict[str, Any]]:
    """Every order's data and status, by (provider, provider order id), bookkeeping left out;
    read one by one through ``GET /v1/orders/{id}``."""
    listed = await paged(client, "/v1/orders")
    orders = await get_each(client, [f"/v1/orders/{order['id']}" for order in listed])
    return {
        (order["provider"], order["provider_order_id"]): {
            k: v for k, v in order.items() if k not in BOOKKEEPING
        }
        for order in orders
    }


async def get_each(client: httpx.AsyncClient, paths: Sequence[str]) -> list[dict[str, Any]]:
    """``GET`` every path, ``IN_FLIGHT`` at a time; each must answer 200."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(path: str) -> dict[str, Any]:
        async with gate:
            response = await client.get(path)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    return list(await asyncio.gather(*(one(path) for path in paths)))


def differences(
    got: dict[tuple[str, str], dict[str, Any]],
    want: dict[tuple[str, str], dict[str, Any]],
    *,
    ignore: dict[Provider, frozenset[str]],
) -> dict[tuple[str, str], dict[str, tuple[Any, Any]]]:
    """Per order, the fields (``ignore`` left out, per provider) whose values differ: (got,
    want)."""
    found = {}
    for key, wanted in want.items():
        skip = ignore.get(Provider(key[0]), frozenset())
        fields = (set(wanted) | set(got[key])) - skip
        differ = {
            f: (got[key].get(f), wanted.get(f)) for f in fields if got[key].get(f) != wanted.get(f)
        }
        if differ:
            found[key] = differ
    return found


async def versions(client: httpx.AsyncClient) -> dict[str, int]:
    return {order["id"]: order["version"] for order in await paged(client, "/v1/orders")}


async def stored_events(database_url: str) -> list[tuple[str, str, int]]:
    """(event id, order id, sequence) of every order event in the ``events`` table, by id."""
    db = open_database(database_url)
    await db.open()
    try:
        async with db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id, order_id, sequence FROM events WHERE order_id IS NOT NULL ORDER BY id"
            )
    finally:
        await db.close()
    return [(row["id"], row["order_id"], row["sequence"]) for row in rows]


def sequences_by_order(events: Sequence[tuple[str, str, int]]) -> dict[str, list[int]]:
    """Each order's event sequences, in event id order."""
    found: dict[str, list[int]] = defaultdict(list)
    for _, order_id, sequence in sorted(events):
        found[order_id].append(sequence)
    return dict(found)


# --- sending ------------------------------------------------------------------------------------


async def post(client: httpx.AsyncClient, source_id: str, request: Planned) -> httpx.Response:
    return await client.post(f"/ingest/{source_id}", content=request.body, headers=request.headers)


async def send_shuffled(
    client: httpx.AsyncClient, sources: dict[Provider, str], sends: list[Planned]
) -> list[tuple[Planned, httpx.Response]]:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(request: Planned) -> tuple[Planned, httpx.Response]:
        async with gate:
            return request, await post(client, sources[request.provider], request)

    return list(await asyncio.gather(*(one(r) for r in sends)))


async def send_in_order(
    client: httpx.AsyncClient, sources: dict[Provider, str], planned: list[Planned]
) -> None:
    """Each order's requests one after the other, in lifecycle order; orders side by side."""
    by_order: dict[str, list[Planned]] = defaultdict(list)
    for request in planned:
        by_order[request.provider_order_id].append(request)
    gate = asyncio.Semaphore(REFERENCE_IN_FLIGHT)

    async def one_order(requests: list[Planned]) -> None:
        async with gate:
            for request in sorted(requests, key=lambda r: r.step):
                response = await post(client, sources[request.provider], request)
                assert response.status_code == 200, response.text
                assert response.json()["duplicate"] is False, response.text

    await asyncio.gather(*(one_order(requests) for requests in by_order.values()))


async def wait_for_distinct(hooks: Receiver, count: int) -> dict[str, dict[str, Any]]:
    """The envelopes the receiver got, by event id (retries are at-least-once), once there are
    ``count`` distinct ones."""
    async with asyncio.timeout(DELIVER_S):
        while True:
            seen = {r.headers["webhook-id"] for r in list(hooks.requests)}
            if len(seen) >= count:
                break
            hooks.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hooks.arrived.wait(), timeout=1.0)
    return {r.headers["webhook-id"]: orjson.loads(r.body) for r in hooks.requests}


# --- the test -----------------------------------------------------------------------------------


async def test_shuffled_duplicated_concurrent_ingest_ends_as_in_order_ingest(
    tmp_path: Path, empty_database_urls: tuple[str, str]
) -> None:
    shuffled_url, reference_url = empty_database_urls
    planned = plan(utcnow() - timedelta(seconds=60))  # inside every signed-time window
    assert len({r.provider_order_id for r in planned}) == ORDERS_PER_PROVIDER * len(Provider)
    rng = random.Random(SEED)
    twice = rng.sample(planned, round(DUPLICATE_SHARE * len(planned)))
    sends = [*planned, *twice]
    rng.shuffle(sends)

    with (
        serve(tmp_path / "shuffled", shuffled_url, worker=True) as server,
        serve(tmp_path / "reference", reference_url, worker=False) as reference,
    ):
        async with receiver() as hooks, server.client() as client, reference.client() as ref:
            made = await client.post(
                "/v1/endpoints", json={"url": hooks.url, "event_types": ["order.*"]}
            )
            assert made.status_code == 201, made.text
            secret = made.json()["secret"]
            sources = await make_sources(client)
            ref_sources = await make_sources(ref)

            answers, _ = await asyncio.gather(
                send_shuffled(client, sources, sends), send_in_order(ref, ref_sources, planned)
            )

            # every answer is 200; of two copies, exactly one was applied
            flags: dict[int, list[bool]] = defaultdict(list)
            for request, response in answers:
                assert response.status_code == 200, (request.provider, response.text)
                answer = response.json()
                if answer["duplicate"]:
                    assert answer == {"received": True, "duplicate": True}
                flags[request.index].append(answer["duplicate"])
            sent_twice = Counter(r.index for r in twice)
            for index, seen in flags.items():
                expected = [False, True] if sent_twice[index] else [False]
                assert sorted(seen) == expected, (planned[index], seen)

            # (a) the same orders, in the same final state, as the in-order run
            got, want = await final_states(client), await final_states(ref)
            assert set(got) == set(want)
            assert len(got) == ORDERS_PER_PROVIDER * len(Provider)
            assert differences(got, want, ignore=ARRIVAL_ORDERED) == {}

            # (b) every distinct request logged exactly once, nothing else logged
            logged = await paged(client, "/v1/inbound")
            assert len(logged) == len(planned)
            full = await get_each(client, [f"/v1/inbound/{record['id']}" for record in logged])
            assert Counter(r["body"] for r in full) == Counter(r.body.decode() for r in planned)
            assert {r["source_id"] for r in logged} == set(sources.values())

            # (c) each order's events carry 1, 2, 3, ... in id order, in the table and as sent
            table = await stored_events(shuffled_url)
            order_versions = await versions(client)
            by_table = sequences_by_order(table)
            assert set(by_table) == set(order_versions)
            for order_id, sequences in by_table.items():
                assert sequences == list(range(1, order_versions[order_id] + 1)), (
                    order_id,
                    sequences,
                )
            envelopes = await wait_for_distinct(hooks, len(table))
        assert set(envelopes) == {event_id for event_id, _, _ in table}
        verifier = Webhook(secret)
        for r in hooks.requests:
            verifier.verify(r.body, r.headers)
        sent = [
            (envelope["id"], envelope["data"]["order"]["id"], envelope["data"]["sequence"])
            for envelope in envelopes.values()
        ]
        assert sequences_by_order(sent) == by_table


# --- Saber's untimed events, on their own -------------------------------------------------------

SABER_ORDERS = 6  # buy and sell, on each of their paths


async def test_saber_orders_end_the_same_whatever_the_arrival_order(tmp_path: Path) -> None:
    """CRYPTO_BUY and SELL carry no event time, so each is stamped with when it came: played
    backwards, an early step comes last and looks newest. Its fields must still yield to the
    later steps' (lifecycle.write_key), so both runs end with the same orders."""
    planned = plan(utcnow() - timedelta(seconds=60), providers=[Provider.SABER])
    by_order: dict[str, list[Planned]] = defaultdict(list)
    for request in planned:
        if len(by_order) < SABER_ORDERS or request.provider_order_id in by_order:
            by_order[request.provider_order_id].append(request)
    with (
        serve(tmp_path / "forward", f"sqlite:///{tmp_path / 'forward.db'}", worker=False) as a,
        serve(tmp_path / "backward", f"sqlite:///{tmp_path / 'backward.db'}", worker=False) as b,
    ):
        async with a.client() as forward, b.client() as backward:
            forward_sources = await make_sources(forward)
            backward_sources = await make_sources(backward)
            for requests in by_order.values():
                for request in requests:  # the lifecycle, in order
                    response = await post(forward, forward_sources[Provider.SABER], request)
                    assert response.status_code == 200, response.text
                for request in reversed(requests):  # the same requests, last one first
                    response = await post(backward, backward_sources[Provider.SABER], request)
                    assert response.status_code == 200, response.text
            want, got = await final_states(forward), await final_states(backward)
    assert set(got) == set(want)
    assert differences(got, want, ignore={}) == {}


SLOW_UNAPPLIED = """
CREATE FUNCTION e2e_slow_unapplied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep({seconds});
    RETURN NEW;
END $$;
CREATE TRIGGER e2e_slow_unapplied BEFORE INSERT ON inbound FOR EACH ROW
    WHEN (NEW.outcome = 'unapplied' AND NEW.attempts = 1)
    EXECUTE FUNCTION e2e_slow_unapplied();
"""
HOLD_S = 2.0  # how long the trigger holds the first request's transaction open


@pytest.mark.postgres
async def test_a_request_waiting_for_its_order_is_applied_when_the_order_appears_meanwhile(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two concurrent Koywe requests for a new order: ``payment_rejected`` (names no side: it
    must wait for the order) and ``crypto_tx_sent`` (names the buy side: it creates the order).
    A trigger in the test database holds the first one's transaction open for ``HOLD_S``
    after it found no order; the second waits for the order's lock meanwhile, then creates the
    order, sees the first one logged ``unapplied`` and applies it (the catch-up)."""
    db = open_database(postgres_url)
    await db.open()
    try:
        async with db.connection() as conn:
            await conn.execute(SLOW_UNAPPLIED.format(seconds=HOLD_S))
        now = utcnow()
        order = samples.sample_order(DialectName.KOYWE, S.CREATED, Side.BUY, now=now)
        rejected = webhook(Provider.KOYWE, order, S.FAILED, now=now + timedelta(seconds=2))
        sent = webhook(Provider.KOYWE, order, S.DELIVERY_SENT, now=now + timedelta(seconds=1))
        with serve(tmp_path / "serve", postgres_url, worker=False) as server:
            async with server.client() as client:
                source = (await make_sources(client))[Provider.KOYWE]
                url = f"/ingest/{source}"
                waiting = asyncio.create_task(
                    client.post(url, content=rejected.body, headers=rejected.headers)
                )
                async with asyncio.timeout(10), db.connection() as conn:
                    while not await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event = 'PgSleep'"
                    ):
                        await asyncio.sleep(0.02)
                creating = await client.post(url, content=sent.body, headers=sent.headers)
                assert creating.status_code == 200, creating.text
                assert creating.json()["outcome"] == "applied"
                late = await waiting
                assert late.status_code == 200, late.text
                assert late.json()["outcome"] == "unapplied"  # it found no order, as held
                found = (await client.get("/v1/orders", params={"provider": "koywe"})).json()
                record = (await client.get(f"/v1/inbound/{late.json()['id']}")).json()
    finally:
        await db.close()
    [koywe_order] = found["data"]
    assert record["outcome"] != "unapplied", record
    assert koywe_order["status"] == "failed"
