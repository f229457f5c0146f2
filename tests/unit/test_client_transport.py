"""The client's transport at its seam (httpx.MockTransport): what is retried, how long it
waits, what is raised, and the Idempotency-Key of creates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from rampwire.client import AsyncClient, ConnectionFailed, ProblemError, Retries
from rampwire.client.transport import retry_after

ORDER = {
    "id": "ord_1",
    "status": "created",
    "side": "sell",
    "version": 1,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


def client(
    handler: Callable[[httpx.Request], httpx.Response], waits: list[float], attempts: int = 4
) -> AsyncClient:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AsyncClient(
        "http://rampwire.test",
        api_key="rw_key",
        http=http,
        sleep=sleep,
        retries=Retries(attempts=attempts, jitter=lambda high: high),
    )


def problem(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"type": f"urn:rampwire:problem:{code}", "title": "T", "status": status, "detail": "d"}
    return httpx.Response(status, json=body, headers=headers)


async def test_a_429_is_retried_after_its_retry_after() -> None:
    answers = [
        problem(429, "too_many_requests", **{"Retry-After": "3"}),
        httpx.Response(200, json=ORDER),
    ]
    waits: list[float] = []
    async with client(lambda request: answers.pop(0), waits) as api:
        order = await api.orders.get("ord_1")
    assert (order.id, waits) == ("ord_1", [3.0])


async def test_a_503_without_retry_after_backs_off_exponentially_then_gives_up() -> None:
    waits: list[float] = []
    async with client(lambda request: problem(503, "database_unavailable"), waits) as api:
        with pytest.raises(ProblemError) as raised:
            await api.orders.get("ord_1")
    assert raised.value.status == 503 and raised.value.code == "database_unavailable"
    assert waits == [0.5, 1.0, 2.0]  # 4 attempts, 3 pauses


async def test_a_retry_after_beyond_the_bound_is_raised_at_once() -> None:
    waits: list[float] = []
    handler = lambda request: problem(429, "too_many_requests", **{"Retry-After": "3600"})  # noqa: E731
    async with client(handler, waits) as api:
        with pytest.raises(ProblemError) as raised:
            await api.orders.get("ord_1")
    assert (raised.value.status, waits) == (429, [])


async def test_a_problem_is_raised_with_its_fields_and_not_retried() -> None:
    body = {
        "type": "urn:rampwire:problem:validation_error",
        "title": "Invalid request",
        "status": 422,
        "detail": "side: is required",
        "instance": "/v1/orders",
        "errors": [{"field": "side", "reason": "is required"}],
    }
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(422, json=body)

    async with client(handler, []) as api:
        with pytest.raises(ProblemError) as raised:
            await api.orders.create(side="")
    error = raised.value
    assert (error.status, error.code, error.title) == (422, "validation_error", "Invalid request")
    assert (error.detail, error.instance) == ("side: is required", "/v1/orders")
    assert error.errors == [{"field": "side", "reason": "is required"}]
    assert len(calls) == 1


async def test_creates_carry_one_generated_idempotency_key_across_retries() -> None:
    keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("Idempotency-Key"))
        if len(keys) == 1:
            raise httpx.ReadTimeout("lost", request=request)
        return httpx.Response(201, json=ORDER)

    async with client(handler, []) as api:
        await api.orders.create(side="sell")
        await api.orders.create(side="sell", idempotency_key="mine-1")
    assert keys[0] is not None and keys[0] == keys[1] and keys[2] == "mine-1"


async def test_a_post_without_idempotency_key_is_not_sent_twice_after_a_lost_answer() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("lost", request=request)

    async with client(handler, []) as api:
        with pytest.raises(ConnectionFailed):
            await api.orders.change("ord_1", status="completed")
    assert len(calls) == 1


async def test_a_refused_connection_is_retried_for_any_method() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"order": ORDER, "event": None})

    waits: list[float] = []
    async with client(handler, waits) as api:
        changed = await api.orders.change("ord_1", status="completed")
    assert changed.order.id == "ord_1" and waits == [0.5, 1.0]


async def test_pages_follow_the_cursor_until_the_last_page() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        seen.append(cursor)
        page = {None: (["ord_a", "ord_b"], "ord_b"), "ord_b": (["ord_c"], None)}[cursor]
        data = [{**ORDER, "id": i} for i in page[0]]
        return httpx.Response(200, json={"data": data, "next_cursor": page[1]})

    async with client(handler, []) as api:
        ids = [order.id async for order in api.orders.list(page_size=2, status="created")]
    assert ids == ["ord_a", "ord_b", "ord_c"] and seen == [None, "ord_b"]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after("7") == 7.0
    assert retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after("soon") is None and retry_after(None) is None
