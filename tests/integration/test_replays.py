"""Replays and "retry now" end to end, on both back-ends: the API, a real worker, real receivers
on 127.0.0.1. A replay supersedes what still waits of its event to its endpoint and takes its
place in the order's FIFO; replaying an endpoint since a time is idempotent; a FIFO delivery
held back by an earlier one says so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from tests.support.receivers import Received, raw_server, read_request, receiver

T = TypeVar("T")
WAIT_S = 20.0
LATER = {"retry_delays": [300], "jitter": 0.0}  # the next attempt in five minutes
NO_RETRY = {"retry_delays": [], "jitter": 0.0}  # one attempt, then dead
FINAL = ("succeeded", "dead", "cancelled", "superseded")
UNKNOWN = f"dlv_{'0' * 26}"


async def eventually(check: Callable[[], Awaitable[T | None]]) -> T:
    async with asyncio.timeout(WAIT_S):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.05)


async def make_endpoint(api: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    response = await api.post("/v1/endpoints", json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_order(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post("/v1/orders", json={"side": "buy"})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def listed(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's deliveries, oldest first."""
    response = await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


async def delivery(api: httpx.AsyncClient, delivery_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/deliveries/{delivery_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def reached(
    api: httpx.AsyncClient, endpoint_id: str, status: str, count: int = 1
) -> list[dict[str, Any]]:
    """The endpoint's deliveries, oldest first, once ``count`` of them show ``status``."""

    async def check() -> list[dict[str, Any]] | None:
        data = await listed(api, endpoint_id)
        return data if sum(d["status"] == status for d in data) >= count else None

    return await eventually(check)


def event_type(request: Received) -> str:
    return json.loads(request.body)["type"]  # type: ignore[no-any-return]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["detail"]
    return problem


async def test_replaying_a_retrying_fifo_delivery_supersedes_it_and_releases_the_order(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        failures = {"left": 1}

        def answer(_: Received) -> int:
            if failures["left"]:
                failures["left"] -= 1
                return 500
            return 200

        hooks.answer = answer
        endpoint = await make_endpoint(
            api, hooks.url, ordering="per_order_fifo", retry_policy=LATER
        )
        order = await make_order(api)
        [first] = await reached(api, endpoint["id"], "retrying")
        changed = await api.post(f"/v1/orders/{order['id']}/changes", json={"status": "completed"})
        assert changed.status_code == 200, changed.text

        # The next event waits for the first: it says so, and names what it waits for.
        [_, second] = await reached(api, endpoint["id"], "blocked")
        assert second["event_type"] == "order.completed"
        assert second["blocked_by"] == first["id"] and second["next_attempt_at"] is None
        assert (await delivery(api, second["id"]))["status"] == "blocked"
        assert (await delivery(api, first["id"]))["blocked_by"] is None

        replayed = await api.post(f"/v1/deliveries/{first['id']}/replay")
        assert replayed.status_code == 201, replayed.text
        replay = replayed.json()
        # The replay concludes, and the order's next event goes at once, not in five minutes.
        await hooks.wait_for(3)
        await reached(api, endpoint["id"], "succeeded", count=2)

    assert [event_type(r) for r in hooks.requests] == [
        "order.created",
        "order.created",
        "order.completed",
    ]
    original = await delivery(api, first["id"])
    assert original["status"] == "superseded" and original["superseded_by"] == replay["id"]
    assert original["next_attempt_at"] is None and original["attempts"] == 1
    assert replay["id"] in original["last_error"]
    assert (await delivery(api, replay["id"]))["status"] == "succeeded"
    assert (await delivery(api, second["id"]))["status"] == "succeeded"
    # Superseded is final: the original is not sent again, and cannot be hurried.
    assert_problem(await api.post(f"/v1/deliveries/{first['id']}/retry"), 409)


async def test_a_late_result_of_the_superseded_send_does_not_overwrite_it(
    api: httpx.AsyncClient,
) -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if not arrived.is_set():  # the first send hangs until released, then fails
            arrived.set()
            await release.wait()
            status = b"503 Service Unavailable"
        else:
            status = b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    async with raw_server(handle) as server:
        endpoint = await make_endpoint(api, server.url, retry_policy=LATER)
        await make_order(api)
        async with asyncio.timeout(WAIT_S):
            await arrived.wait()
        [original] = await listed(api, endpoint["id"])  # in flight

        replayed = await api.post(f"/v1/deliveries/{original['id']}/replay")
        assert replayed.status_code == 201, replayed.text
        replay = replayed.json()
        await reached(api, endpoint["id"], "succeeded")
        release.set()

        async def late_attempt_logged() -> dict[str, Any] | None:
            found = await delivery(api, original["id"])
            return found if found["attempt_log"] else None

        late = await eventually(late_attempt_logged)

    assert late["status"] == "superseded" and late["superseded_by"] == replay["id"]
    assert late["next_attempt_at"] is None
    assert late["attempts"] == 0  # the late result was logged, and changed nothing
    assert [a["response"]["status"] for a in late["attempt_log"]] == [503]
    assert server.connections == 2


async def test_replaying_an_endpoint_since_a_time_twice_sends_once(
    api: httpx.AsyncClient,
) -> None:
    async with receiver() as hooks:
        hooks.answer = lambda _: 503
        endpoint = await make_endpoint(api, hooks.url, retry_policy=NO_RETRY)
        since = datetime.now(UTC).isoformat()
        await make_order(api)
        await make_order(api)
        first, second = await reached(api, endpoint["id"], "dead", count=2)
        hooks.answer = lambda _: 200
        # One dead delivery sent again already, one by one: the replay since a time skips it.
        one = await api.post(f"/v1/deliveries/{first['id']}/replay")
        assert one.status_code == 201, one.text
        await reached(api, endpoint["id"], "succeeded")

        replay = f"/v1/endpoints/{endpoint['id']}/replay"
        response = await api.post(replay, json={"since": since})
        assert response.status_code == 200, response.text
        assert response.json() == {"replayed": 1, "sent_again": 1, "retried_now": 0}
        await reached(api, endpoint["id"], "succeeded", count=2)
        again = await api.post(replay, json={"since": since})
        assert again.status_code == 200, again.text
        assert again.json() == {"replayed": 0, "sent_again": 0, "retried_now": 0}

        data = await listed(api, endpoint["id"])
    assert sorted((d["event_id"], d["status"]) for d in data) == sorted(
        [
            (first["event_id"], "dead"),
            (first["event_id"], "succeeded"),
            (second["event_id"], "dead"),
            (second["event_id"], "succeeded"),
        ]
    )
    assert len(hooks.requests) == 4


async def test_retry_now_makes_a_retrying_delivery_due_at_once(api: httpx.AsyncClient) -> None:
    async with receiver() as hooks:
        answers = iter([500])
        hooks.answer = lambda _: next(answers, 200)
        endpoint = await make_endpoint(api, hooks.url, retry_policy=LATER)
        await make_order(api)
        [waiting] = await reached(api, endpoint["id"], "retrying")

        retried = await api.post(f"/v1/deliveries/{waiting['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["id"] == waiting["id"]
        assert retried.json()["attempts"] == 1  # kept: the next attempt is the second
        await hooks.wait_for(2)
        [done] = await reached(api, endpoint["id"], "succeeded")

    assert done["id"] == waiting["id"] and done["attempts"] == 2
    concluded = await api.post(f"/v1/deliveries/{done['id']}/retry")
    assert "succeeded" in assert_problem(concluded, 409)["detail"]
    assert_problem(await api.post(f"/v1/deliveries/{UNKNOWN}/retry"), 404)
    assert_problem(await api.post("/v1/deliveries/nope/retry"), 400)
    assert_problem(await api.post(f"/v1/deliveries/{UNKNOWN}/replay"), 404)
    assert_problem(await api.post("/v1/deliveries/nope/replay"), 400)
