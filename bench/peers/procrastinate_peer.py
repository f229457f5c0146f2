"""The procrastinate + aiohttp peer: what a Python team would write on the PostgreSQL task queue
it would reach for. Runs in its own virtualenv (``venvs.PROCRASTINATE``), imports nothing from
rampwire; ``compare.py`` starts it and measures it from outside.

- An order write and the job that sends its webhook commit in one transaction (the outbox
  guarantee rampwire gives): the connector below runs procrastinate's defer on the caller's
  open connection when there is one.
- The task signs the payload as Standard Webhooks does (HMAC-SHA256 over ``id.timestamp.body``)
  and POSTs it with one shared aiohttp session; a non-2xx answer raises, so procrastinate
  retries it.
- The worker is configured as procrastinate's documentation recommends for throughput:
  LISTEN/NOTIFY on, concurrency for I/O-bound tasks, a pool large enough for it.

Commands (each prints one JSON line on stdout)::

    python procrastinate_peer.py setup DSN
    python procrastinate_peer.py queue DSN COUNT
    python procrastinate_peer.py worker DSN URL SECRET CONCURRENCY   # READY; stops on a stdin line
    python procrastinate_peer.py publish DSN SECONDS TASKS MAX_BACKLOG
    python procrastinate_peer.py paced DSN RATE SECONDS OUT   # OUT: [[event id, UNIX time], ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import contextvars
import hashlib
import hmac
import json
import logging
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import procrastinate
import psycopg
import psycopg.rows
import uvloop

POOL_MAX = 32  # connections: the worker's fetches and acks, and a publisher's transactions
CREATE_TASKS = 8  # concurrent transactions while queueing
DEADLINE_S = 120.0  # every loop's bound

_current: contextvars.ContextVar[psycopg.AsyncConnection[Any] | None] = contextvars.ContextVar(
    "current", default=None
)


class TransactionalConnector(procrastinate.PsycopgConnector):
    """Defers on the caller's connection (inside its transaction) when one is set."""

    @contextlib.asynccontextmanager
    async def _get_cursor(
        self, connection: psycopg.AsyncConnection[Any] | None = None
    ) -> AsyncIterator[Any]:
        async with super()._get_cursor(connection=connection or _current.get()) as cursor:
            yield cursor


def make_app(dsn: str) -> procrastinate.App:
    # this program is its own __main__; its one task is found by name, so the warning is moot
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    return procrastinate.App(
        connector=TransactionalConnector(conninfo=dsn, min_size=4, max_size=POOL_MAX)
    )


class Sender:
    """One aiohttp session per worker process, opened before the worker starts."""

    session: aiohttp.ClientSession | None = None
    url = ""
    key = b""


def sign(event_id: str, body: bytes, key: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def register(app: procrastinate.App) -> Any:
    @app.task(name="send_webhook", retry=procrastinate.RetryStrategy(max_attempts=10, wait=1))
    async def send_webhook(event_id: str, body: str) -> None:
        data = body.encode()
        assert Sender.session is not None
        headers = sign(event_id, data, Sender.key)
        async with Sender.session.post(Sender.url, data=data, headers=headers) as response:
            await response.read()
            if not 200 <= response.status < 300:
                raise RuntimeError(f"HTTP {response.status}")

    return send_webhook


def payload(order_id: str, kind: str, status: str) -> str:
    """About 1 KB, as rampwire's order events are."""
    return json.dumps(
        {
            "type": kind,
            "timestamp": time.time(),
            "data": {
                "id": order_id,
                "status": status,
                "side": "buy",
                "fiat": {"currency": "EUR", "amount": "250.00"},
                "crypto": {"asset": "USDT", "network": "POLYGON", "amount": "268.412907"},
                "wallet_address": "0x" + secrets.token_hex(20),
                "exchange_rate": "1.0736516",
                "fees": [
                    {"type": "order", "amount": "2.49", "asset": "EUR"},
                    {"type": "network", "amount": "0.07", "asset": "EUR"},
                ],
                "references": {
                    "partner_order_id": "po_" + secrets.token_hex(8),
                    "partner_customer_id": "cus_" + secrets.token_hex(6),
                    "user_email": "someone@example.com",
                },
                "metadata": {"campaign": "bench", "channel": "web"},
                "notes": "x" * 400,
            },
        }
    )


async def write_order(
    app: procrastinate.App, task: Any, order_id: str | None, status: str
) -> tuple[str, str]:
    """Create (``order_id`` None) or change an order and defer its webhook, one transaction:
    (order id, event id)."""
    event_id = "evt_" + uuid.uuid4().hex
    pool = app.connector.pool  # type: ignore[attr-defined]
    async with pool.connection() as conn, conn.transaction():
        token = _current.set(conn)
        try:
            if order_id is None:
                order_id = "ord_" + uuid.uuid4().hex
                body = payload(order_id, "order.created", status)
                await conn.execute(
                    "INSERT INTO orders (id, status, data) VALUES (%s, %s, %s)",
                    (order_id, status, body),
                )
            else:
                body = payload(order_id, "order.updated", status)
                await conn.execute(
                    "UPDATE orders SET status = %s, data = %s, updated_at = now() WHERE id = %s",
                    (status, body, order_id),
                )
            await task.defer_async(event_id=event_id, body=body)
        finally:
            _current.reset(token)
    return order_id, event_id


async def setup(app: procrastinate.App) -> dict[str, Any]:
    await app.schema_manager.apply_schema_async()
    pool = app.connector.pool  # type: ignore[attr-defined]
    async with pool.connection() as conn:
        await conn.execute(
            "CREATE TABLE orders (id text PRIMARY KEY, status text NOT NULL, data jsonb NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        )
    return {"ok": True}


async def queue(app: procrastinate.App, task: Any, count: int) -> dict[str, Any]:
    left = count
    deadline = time.monotonic() + DEADLINE_S

    async def loop() -> None:
        nonlocal left
        while left > 0 and time.monotonic() < deadline:
            left -= 1
            await write_order(app, task, None, "awaiting_payment")

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(CREATE_TASKS)))
    return {"rate": count / (time.perf_counter() - start), "left": left}


async def backlog(app: procrastinate.App) -> int:
    pool = app.connector.pool  # type: ignore[attr-defined]
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def publish(
    app: procrastinate.App, task: Any, seconds: float, tasks: int, max_backlog: int
) -> dict[str, Any]:
    """Orders created and changed twice (three webhooks each) as fast as the bound allows."""
    events = 0
    waiting = 0
    deadline = time.monotonic() + min(seconds, DEADLINE_S)
    cpu = time.process_time()
    start = time.monotonic()

    async def watch() -> None:
        nonlocal waiting
        while time.monotonic() < deadline:
            waiting = await backlog(app)
            await asyncio.sleep(0.5)  # as rampwire's publishers (bench/harness/publisher.py)

    async def loop() -> None:
        nonlocal events
        while time.monotonic() < deadline:
            if waiting >= max_backlog:
                await asyncio.sleep(0.01)
                continue
            order_id, _ = await write_order(app, task, None, "awaiting_payment")
            events += 1
            for status in ("processing", "completed"):
                await write_order(app, task, order_id, status)
                events += 1

    await asyncio.gather(watch(), *(loop() for _ in range(tasks)))
    elapsed = time.monotonic() - start
    return {"events": events, "elapsed": elapsed, "cpu": time.process_time() - cpu}


async def paced(
    app: procrastinate.App, task: Any, rate: float, seconds: float, out: str
) -> dict[str, Any]:
    """Orders created at ``rate``/s (one webhook each), each one's event id and the time its
    transaction returned recorded; at most ``CREATE_TASKS * 4`` in flight (then the pace
    slips, counted)."""
    stamps: list[tuple[str, float]] = []
    behind = 0
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        _, event_id = await write_order(app, task, None, "awaiting_payment")
        stamps.append((event_id, time.time()))

    start = time.monotonic()
    for index in range(int(rate * min(seconds, DEADLINE_S))):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= CREATE_TASKS * 4:
            behind += 1
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        pending.add(made := asyncio.create_task(one()))
        made.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=DEADLINE_S)
    with open(out, "w") as file:  # a file: a line this long on stdout came back cut
        json.dump(stamps, file)
    return {"elapsed": time.monotonic() - start, "behind": behind}


async def work(app: procrastinate.App, url: str, secret: str, concurrency: int) -> dict[str, Any]:
    Sender.url = url
    Sender.key = base64.b64decode(secret.removeprefix("whsec_"))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        Sender.session = session
        worker = asyncio.create_task(
            app.run_worker_async(concurrency=concurrency, install_signal_handlers=False)
        )
        # the caller starts its clock at READY and ends the run with a line on stdin
        print("READY", flush=True)
        await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), timeout=DEADLINE_S)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, timeout=30)
        return {"stopped": True}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    app = make_app(args.dsn)
    task = register(app)
    async with app.open_async():
        if args.command == "setup":
            return await setup(app)
        if args.command == "queue":
            return await queue(app, task, args.count)
        if args.command == "publish":
            return await publish(app, task, args.seconds, args.tasks, args.max_backlog)
        if args.command == "paced":
            return await paced(app, task, args.rate, args.seconds, args.out)
        return await work(app, args.url, args.secret, args.concurrency)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup").add_argument("dsn")
    queue_ = commands.add_parser("queue")
    queue_.add_argument("dsn")
    queue_.add_argument("count", type=int)
    worker = commands.add_parser("worker")
    for name in ("dsn", "url", "secret"):
        worker.add_argument(name)
    worker.add_argument("concurrency", type=int)
    publisher = commands.add_parser("publish")
    publisher.add_argument("dsn")
    publisher.add_argument("seconds", type=float)
    publisher.add_argument("tasks", type=int)
    publisher.add_argument("max_backlog", type=int)
    pacer = commands.add_parser("paced")
    pacer.add_argument("dsn")
    pacer.add_argument("rate", type=float)
    pacer.add_argument("seconds", type=float)
    pacer.add_argument("out")
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(uvloop.run(main(parse()))), flush=True)
