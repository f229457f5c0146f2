"""Receivers that misbehave: each attempt ends within the timeout and is recorded with its error
class; targets refused at send time; an endpoint failing for days is disabled and announced.

SQLite only: none of this depends on the back-end. The worker runs with short timeouts (connect
0.5 s, total 1 s) and each endpoint retries once, almost at once, so a test takes about a second.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from tests.support.apps import api_client
from tests.support.receivers import Handler, raw_server, read_request, receiver

from rampwire.crypto import secret_box
from rampwire.delivery.endpoints import Endpoint, SigningSecret, new_secret
from rampwire.delivery.retry import RETRY_AFTER_CAP
from rampwire.domain.deliveries import BODY_CAP_BYTES
from rampwire.repository.endpoints import EndpointRepository
from rampwire.services.worker import WorkerOptions
from rampwire.settings import Secret, Settings
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database, migrate, open_database
from rampwire.storage.database import to_us
from rampwire.types import utcnow

T = TypeVar("T")
TOTAL_TIMEOUT_S = 1.0
OPTIONS = WorkerOptions(
    connect_timeout_s=0.5, total_timeout_s=TOTAL_TIMEOUT_S, poll_interval_s=0.05
)
MAX_RECORDED_MS = (TOTAL_TIMEOUT_S + 2.0) * 1000  # the timeout, plus a generous margin
ONE_QUICK_RETRY = {"retry_delays": [0.05], "jitter": 0.0}
WAIT_S = 15.0
HUGE_BODY_BYTES = 10 * 1024 * 1024


@dataclass
class Hostile:
    api: httpx.AsyncClient
    db: Database


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    db = open_database(sqlite_url)
    await db.open()
    try:
        await migrate(db)
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def hostile_app(
    tmp_path: Path,
    sqlite_url: str,
    db: Database,
    *,
    options: WorkerOptions = OPTIONS,
    target_policy: TargetPolicy | None = None,
) -> AsyncIterator[Hostile]:
    """The app with its worker and an authenticated client; 127.0.0.1 allowed unless told."""
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path,
        target_policy=target_policy or TargetPolicy(allow_private=True),
    )
    async with api_client(settings, db, worker_options=options) as client:
        yield Hostile(api=client, db=db)


@pytest.fixture
async def hostile(tmp_path: Path, sqlite_url: str, sqlite_db: Database) -> AsyncIterator[Hostile]:
    async with hostile_app(tmp_path, sqlite_url, sqlite_db) as running:
        yield running


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = WAIT_S) -> T:
    async with asyncio.timeout(timeout):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.05)


async def make_endpoint(api: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "event_types": ["order.created"], "retry_policy": ONE_QUICK_RETRY}
    response = await api.post("/v1/endpoints", json={**body, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_order(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/orders", json={"side": "buy"})
    assert response.status_code == 201, response.text


async def attempted(
    api: httpx.AsyncClient, endpoint_id: str, attempts: int, timeout: float = WAIT_S
) -> dict[str, Any]:
    """The endpoint's only delivery once ``attempts`` attempts are recorded, with its log."""

    async def check() -> dict[str, Any] | None:
        data = (await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")).json()["data"]
        if not data or data[0]["attempts"] < attempts or data[0]["status"] == "pending":
            return None
        return (await api.get(f"/v1/deliveries/{data[0]['id']}")).json()  # type: ignore[no-any-return]

    return await eventually(check, timeout)


# --- the receivers --------------------------------------------------------------------------


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, never answer; return when the client gives up."""
    await read_request(reader)
    while await reader.read(65536):
        pass


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # closes with linger 0: a TCP RST


def answer(head: bytes, body: bytes = b"") -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()

    return handle


async def huge_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
        % HUGE_BODY_BYTES
    )
    chunk = b"x" * 65536
    for _ in range(HUGE_BODY_BYTES // len(chunk)):
        writer.write(chunk)
        await writer.drain()  # raises once the client hangs up after its 16 KiB


def trickle(prefix: bytes) -> Handler:
    """Send ``prefix``, then one more byte every 0.2 s, forever."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(prefix)
        while True:
            await asyncio.sleep(0.2)
            writer.write(b"a")
            await writer.drain()

    return handle


async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Promise 100 bytes, send 2, hang up."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok")
    await writer.drain()


def nowhere() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"


# (handler or None for a closed port, attempts recorded, final status, error class per attempt);
# a 302, a 500 and a huge answer have tests of their own below
CASES: dict[str, tuple[Handler | None, int, str, str]] = {
    "hangs": (hang, 1, "retrying", "timeout"),  # a timeout waits at least 60 s to retry
    "resets": (reset, 2, "dead", "connection"),
    "trickles-the-head": (trickle(b"HTTP/1.1 200 OK\r\nX-Slow: "), 1, "retrying", "timeout"),
    "trickles-the-body": (
        trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"),
        1,
        "retrying",
        "timeout",
    ),
    "nothing-listens": (None, 2, "dead", "connection"),
    "cuts-the-body-short": (cut_short, 2, "dead", "connection"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_attempt_is_recorded_with_its_error_class_within_the_timeout(
    hostile: Hostile, case: str
) -> None:
    handle, attempts, status, error_class = CASES[case]
    async with raw_server(handle or hang) as server:
        url = nowhere() if handle is None else server.url
        endpoint = await make_endpoint(hostile.api, url)
        await make_order(hostile.api)
        delivery = await attempted(hostile.api, endpoint["id"], attempts)
    assert delivery["status"] == status
    log = delivery["attempt_log"]
    assert [a["error_class"] for a in log] == [error_class] * attempts
    for attempt in log:
        assert attempt["duration_ms"] < MAX_RECORDED_MS, attempt
        assert attempt["request"]["url"] == url
        assert attempt["response"] is None and attempt["error"]
    if handle is not None:
        assert server.connections == attempts


async def test_a_huge_answer_is_stored_capped_at_16_kib(hostile: Hostile) -> None:
    async with raw_server(huge_body) as server:
        endpoint = await make_endpoint(hostile.api, server.url)
        await make_order(hostile.api)
        delivery = await attempted(hostile.api, endpoint["id"], 1)
    [attempt] = delivery["attempt_log"]
    assert delivery["status"] == "succeeded" and attempt["error_class"] is None
    assert attempt["response"]["status"] == 200
    assert attempt["response"]["headers"]["content-length"] == str(HUGE_BODY_BYTES)
    assert attempt["response"]["body"] == "x" * BODY_CAP_BYTES
    assert attempt["duration_ms"] < MAX_RECORDED_MS
    assert BODY_CAP_BYTES == 16 * 1024


async def test_a_redirect_is_recorded_and_not_followed(hostile: Hostile) -> None:
    async with raw_server(hang) as elsewhere:
        location = elsewhere.url.replace("/hooks", "/elsewhere").encode()
        redirect = answer(b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\n")
        async with raw_server(redirect) as server:
            endpoint = await make_endpoint(hostile.api, server.url)
            await make_order(hostile.api)
            delivery = await attempted(hostile.api, endpoint["id"], 2)
        assert elsewhere.connections == 0
    assert delivery["status"] == "dead" and server.connections == 2
    for attempt in delivery["attempt_log"]:
        assert attempt["error_class"] == "redirect"
        assert attempt["response"]["status"] == 302
        assert location.decode() in attempt["error"]
        assert attempt["duration_ms"] < MAX_RECORDED_MS


async def test_a_500_keeps_its_answer_in_the_log(hostile: Hostile) -> None:
    oops = answer(b"HTTP/1.1 500 Internal Server Error\r\nX-Trace: abc\r\n", b"oops")
    async with raw_server(oops) as server:
        endpoint = await make_endpoint(hostile.api, server.url)
        await make_order(hostile.api)
        delivery = await attempted(hostile.api, endpoint["id"], 2)
    assert delivery["last_status_code"] == 500
    for attempt in delivery["attempt_log"]:
        assert attempt["response"]["status"] == 500
        assert attempt["response"]["body"] == "oops"
        assert attempt["response"]["headers"]["x-trace"] == "abc"
        assert attempt["error"] == "HTTP 500" and attempt["error_class"] == "http_status"
        assert attempt["duration_ms"] < MAX_RECORDED_MS
    assert delivery["status"] == "dead" and server.connections == 2


async def test_an_absurd_retry_after_is_recorded_and_capped(hostile: Hostile) -> None:
    absurd = answer(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 99999999999999999999\r\n")
    async with raw_server(absurd) as server:
        endpoint = await make_endpoint(hostile.api, server.url)
        await make_order(hostile.api)
        delivery = await attempted(hostile.api, endpoint["id"], 1)
    [attempt] = delivery["attempt_log"]
    assert delivery["status"] == "retrying" and attempt["error_class"] == "http_status"
    asked = datetime.fromisoformat(delivery["next_attempt_at"])
    waited = asked - datetime.fromisoformat(attempt["started_at"])
    assert RETRY_AFTER_CAP <= waited < RETRY_AFTER_CAP + timedelta(minutes=1)


# --- refused at send time -------------------------------------------------------------------


async def test_a_private_target_is_refused_at_send_time(
    tmp_path: Path, sqlite_url: str, sqlite_db: Database
) -> None:
    """An endpoint stored without the API's check (or before the policy tightened) still never
    reaches a private address: the worker's connector refuses it."""
    async with receiver() as hooks:
        now = utcnow()
        settings = Settings(database_url=sqlite_url, data_dir=tmp_path)
        endpoint = await EndpointRepository(sqlite_db, secret_box(settings)).create(
            Endpoint(
                id=EndpointRepository.new_id(),
                url=hooks.url,
                event_types=("order.created",),
                dialect="standard",
                secrets=(SigningSecret(value=Secret(new_secret()), created_at=now),),
                retry_policy=ONE_QUICK_RETRY,
                created_at=now,
                updated_at=now,
            )
        )
        strict = TargetPolicy()
        async with hostile_app(tmp_path, sqlite_url, sqlite_db, target_policy=strict) as running:
            await make_order(running.api)
            delivery = await attempted(running.api, endpoint.id, 2)
        assert hooks.requests == []
    assert delivery["status"] == "dead"
    for attempt in delivery["attempt_log"]:
        assert attempt["error_class"] == "forbidden_target"
        assert "127.0.0.1" in attempt["error"] and "loopback" in attempt["error"]
        assert attempt["response"] is None


# --- failing for days -----------------------------------------------------------------------


async def test_an_endpoint_failing_for_days_is_disabled_and_announced(
    tmp_path: Path, sqlite_url: str, sqlite_db: Database
) -> None:
    options = WorkerOptions(
        connect_timeout_s=0.5,
        total_timeout_s=TOTAL_TIMEOUT_S,
        poll_interval_s=0.05,
        disable_after=timedelta(days=2),
    )
    single = {"retry_delays": [], "jitter": 0.0}
    async with receiver() as failing, receiver() as watcher:
        failing.answer = lambda _: 500
        async with hostile_app(tmp_path, sqlite_url, sqlite_db, options=options) as running:
            api = running.api
            stale = await make_endpoint(api, failing.url, retry_policy=single)
            recent = await make_endpoint(api, failing.url, retry_policy=single)
            audience = await make_endpoint(api, watcher.url, event_types=["endpoint.*"])
            now = utcnow()
            async with sqlite_db.transaction() as conn:
                for endpoint, days in ((stale, 3), (recent, 1)):
                    await conn.execute(
                        "UPDATE endpoints SET failing_since = $1 WHERE id = $2",
                        to_us(now - timedelta(days=days)),
                        endpoint["id"],
                    )
            await make_order(api)
            [announcement] = await watcher.wait_for(1)
            await attempted(api, recent["id"], 1)
            stale_now = (await api.get(f"/v1/endpoints/{stale['id']}")).json()
            recent_now = (await api.get(f"/v1/endpoints/{recent['id']}")).json()
            await attempted(api, audience["id"], 1)

    event = Webhook(audience["secret"]).verify(announcement.body, announcement.headers)
    assert event["type"] == "endpoint.disabled"
    assert event["data"]["endpoint_id"] == stale["id"]
    assert event["data"]["url"] == failing.url
    assert "2 days" in event["data"]["reason"]
    assert stale_now["enabled"] is False and "2 days" in stale_now["disabled_reason"]
    assert recent_now["enabled"] is True and recent_now["failing_since"] is not None
    assert len(watcher.requests) == 1
    assert json.loads(announcement.body)["id"] == announcement.headers["webhook-id"]
