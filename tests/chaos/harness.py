"""What the chaos scenarios share: a rampwire deployment under test (``serve``, optionally a
separate ``rampwire worker``, PostgreSQL reached through a :mod:`tests.support.proxy`), a
webhook sink that stamps every arrival, a steady stream of order changes, and the counts.

An order change is *acknowledged* when the API answered 2xx with its event; the event's id is
the ``webhook-id`` the sink sees. Times are this process's ``time.monotonic()``: the stream,
the sink and the scenario share it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from aiohttp import web
from tests.support.processes import Processes, environment, free_port, processes
from tests.support.proxy import ThreadedProxy, proxy_in_thread

PG_ADMIN_URL = os.environ.get(
    "RAMPWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MASTER_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()  # shared by every process
STREAM_EVENT = "order.updated"  # what a change of the stream produces
REQUEST_TIMEOUT_S = 10.0


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """An empty database of its own (``serve`` migrates it), dropped afterwards."""
    name = f"rampwire_chaos_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def via_port(url: str, port: int) -> str:
    """``url`` with its host and port replaced by 127.0.0.1:``port`` (the proxy's)."""
    parts = urlsplit(url)
    user, at, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}{at}127.0.0.1:{port}"))


# --- the sink -----------------------------------------------------------------------------------


@dataclass
class Sink:
    """A webhook receiver: each arrival's time by ``webhook-id``; answers 200, or while
    ``holding`` keeps the request open until :attr:`released` is set."""

    url: str = ""
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    holding: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def first(self, event_id: str) -> float | None:
        times = self.arrivals.get(event_id)
        return times[0] if times else None

    def duplicates(self) -> int:
        return sum(len(times) - 1 for times in self.arrivals.values())


@asynccontextmanager
async def sink() -> AsyncIterator[Sink]:
    state = Sink()

    async def handle(request: web.Request) -> web.Response:
        arrived = time.monotonic()
        await request.read()
        state.arrivals.setdefault(request.headers.get("webhook-id", "?"), []).append(arrived)
        if state.holding:
            await state.released.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield state
    finally:
        state.released.set()
        await runner.cleanup()


# --- the stream of changes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    at: float
    phase: str
    status: int | None  # None: no answer (refused, reset, timed out)
    event_id: str | None
    retry_after: str | None


class Stream:
    """Order changes at ``rate`` a second, round robin over ``orders``, at most ``concurrency``
    in flight (a tick with none free is skipped); each answer is kept with the current
    :attr:`phase`."""

    def __init__(
        self, client: httpx.AsyncClient, orders: list[str], *, rate: float, concurrency: int = 16
    ) -> None:
        self.client = client
        self.orders = orders
        self.rate = rate
        self.phase = "steady"
        self.sent: list[Sent] = []
        self.skipped = 0
        self._gate = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Stream:
        self._runner = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        n = 0
        while True:
            next_at += 1 / self.rate
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if self._gate.locked():
                self.skipped += 1
                continue
            n += 1
            task = asyncio.create_task(self._one(n))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _one(self, n: int) -> None:
        async with self._gate:
            order_id = self.orders[n % len(self.orders)]
            phase, at = self.phase, time.monotonic()
            try:
                response = await self.client.post(
                    f"/v1/orders/{order_id}/changes",
                    json={"set": {"metadata": {"chaos": str(n)}}},
                    timeout=REQUEST_TIMEOUT_S,
                )
            except httpx.HTTPError:
                self.sent.append(Sent(at, phase, None, None, None))
                return
            event_id = None
            if response.is_success and (event := response.json()["event"]) is not None:
                # None: the change was older than one applied before it (stale), no event
                event_id = event["id"]
            retry_after = response.headers.get("retry-after")
            self.sent.append(Sent(at, phase, response.status_code, event_id, retry_after))

    def acknowledged(self, *phases: str) -> dict[str, float]:
        """Event id -> when its change was sent, for changes answered 2xx (in ``phases``)."""
        return {
            s.event_id: s.at
            for s in self.sent
            if s.event_id is not None and (not phases or s.phase in phases)
        }

    def statuses(self, *phases: str) -> Counter[int | None]:
        return Counter(s.status for s in self.sent if not phases or s.phase in phases)


# --- counts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    acknowledged: int
    delivered: int  # acknowledged and delivered
    lost: int  # acknowledged, not delivered within the bound
    duplicates: int  # arrivals beyond the first, per webhook-id
    unacknowledged: int  # delivered, never acknowledged (the answer was lost: at-least-once)


def tally(acked: dict[str, float], received: Sink) -> Tally:
    delivered = sum(1 for event_id in acked if event_id in received.arrivals)
    return Tally(
        acknowledged=len(acked),
        delivered=delivered,
        lost=len(acked) - delivered,
        duplicates=received.duplicates(),
        unacknowledged=len(set(received.arrivals) - set(acked)),
    )


async def delivered(received: Sink, ids: Iterable[str], bound_s: float) -> float | None:
    """Wait until every id of ``ids`` arrived: when (monotonic), or None after ``bound_s``."""
    waiting = set(ids)
    deadline = time.monotonic() + bound_s
    while True:
        waiting = {event_id for event_id in waiting if event_id not in received.arrivals}
        if not waiting:
            return time.monotonic()
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.05)


def recovery(acked: dict[str, float], received: Sink, since: float) -> float | None:
    """Seconds from ``since`` (the fault's end) to the first arrival of the last acknowledged
    event to arrive (0 if all came before); None while one is missing."""
    firsts = [received.first(event_id) for event_id in acked]
    if any(first is None for first in firsts):
        return None
    return max(0.0, max((f for f in firsts if f is not None), default=since) - since)


def latencies(acked: dict[str, float], received: Sink) -> list[float]:
    """Seconds from sending each acknowledged change to its event's first arrival."""
    return sorted(
        first - at for event_id, at in acked.items() if (first := received.first(event_id))
    )


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of sorted ``values``; NaN for none."""
    if not values:
        return math.nan
    return values[max(0, math.ceil(q * len(values)) - 1)]


# --- the deployment ---------------------------------------------------------------------------


@dataclass
class Deployment:
    """``serve`` (with its in-process worker, or without and beside a ``rampwire worker``)."""

    started: Processes
    env: dict[str, str]
    in_process_worker: bool
    proxy: ThreadedProxy | None
    port: int = field(default_factory=free_port)
    serve: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self.start_serve()
        if not self.in_process_worker:
            await self.start_worker()

    async def start_serve(self) -> None:
        env = {**self.env, "RAMPWIRE_SERVE_WORKER": "1" if self.in_process_worker else "0"}
        self.serve = self.started.start("serve", env, "serve", "--port", str(self.port))
        await self.started.healthy(self.url, self.serve)
        if not self.token:  # a new database: the first start prints an admin key
            found = re.search(r"admin API key \(shown once, keep it\): (\S+)", self.log("serve"))
            if found is None:
                raise RuntimeError(f"no admin key in serve's output:\n{self.log('serve')}")
            self.token = found.group(1)

    async def start_worker(self) -> None:
        self.worker = self.started.start("worker", self.env, "worker")
        await self.started.wait_for_line(self.worker, "worker started")

    async def kill(self, which: str) -> None:
        """SIGKILL ``serve`` or ``worker`` (by its pid) and reap it."""
        proc = self.serve if which == "serve" else self.worker
        if proc is not None:
            proc.kill()
            await asyncio.to_thread(proc.wait)

    def exit_codes(self) -> dict[str, int | None]:
        """None: still running."""
        running = {"serve": self.serve, "worker": self.worker}
        return {name: proc.poll() for name, proc in running.items() if proc is not None}

    def log(self, which: str) -> str:
        proc = self.serve if which == "serve" else self.worker
        return "" if proc is None else self.started.log(proc)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=REQUEST_TIMEOUT_S,
        )


@asynccontextmanager
async def deployment(
    database: str, workdir: Path, *, in_process_worker: bool = True
) -> AsyncIterator[Deployment]:
    """Start rampwire on ``database`` ("sqlite", or a PostgreSQL URL reached through a proxy);
    every process it starts is killed on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        proxy = None
        url = f"sqlite:///{workdir / 'rampwire.db'}"
        if database != "sqlite":
            target = urlsplit(database)
            proxy = stack.enter_context(
                proxy_in_thread(target.hostname or "127.0.0.1", target.port or 5432)
            )
            url = via_port(database, proxy.port)
        env = environment(workdir, RAMPWIRE_DATABASE_URL=url, RAMPWIRE_MASTER_KEY=MASTER_KEY)
        started = stack.enter_context(processes(workdir))
        running = Deployment(started, env, in_process_worker, proxy)
        await running.start()
        yield running


async def subscribe(client: httpx.AsyncClient, url: str, *event_types: str) -> dict[str, Any]:
    response = await client.post("/v1/endpoints", json={"url": url, "event_types": event_types})
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


async def create_orders(client: httpx.AsyncClient, count: int, concurrency: int = 8) -> list[str]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with gate:
            response = await client.post("/v1/orders", json={"side": "buy"})
            response.raise_for_status()
            return str(response.json()["id"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def poll_ready(url: str, seen: Counter[int | None], stop: asyncio.Event) -> None:
    """GET /readyz every 0.2 s until ``stop``, counting the answers (None: no answer)."""
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:
        while not stop.is_set():
            try:
                seen[(await client.get("/readyz")).status_code] += 1
            except httpx.HTTPError:
                seen[None] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


async def ready_again(url: str, bound_s: float) -> float | None:
    """Wait for /readyz to answer 200: when (monotonic), or None after ``bound_s``."""
    deadline = time.monotonic() + bound_s
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return time.monotonic()
            await asyncio.sleep(0.1)
    return None
