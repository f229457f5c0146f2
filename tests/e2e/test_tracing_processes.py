"""Traces across processes: an order change made through ``rampwire serve`` is delivered by a
separate ``rampwire worker`` process on the same PostgreSQL, and the worker's attempt span is in
the API request's trace, a child of its span and linked to it, because the event row keeps the
request's trace context. Both processes export over OTLP/HTTP to a collector stand-in on
127.0.0.1; the receiver sees the worker's attempt span in ``traceparent``."""

from __future__ import annotations

import asyncio
import base64
import signal
from pathlib import Path

import httpx
import pytest
from tests.support.otlp import spans
from tests.support.processes import environment, free_port, processes
from tests.support.receivers import Received, receiver

from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.storage import migrate, open_database

MASTER_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
CHANGE_SPAN = "POST /v1/orders/{id}/changes"


@pytest.mark.postgres
async def test_a_worker_process_continues_the_api_requests_trace(
    tmp_path: Path, postgres_url: str
) -> None:
    db = open_database(postgres_url)
    await db.open()
    try:
        await migrate(db)
        _, key = await KeyRepository(db).create("e2e", Scope.WRITE)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        async with receiver() as collector, receiver() as hooks:
            env = environment(
                tmp_path,
                RAMPWIRE_DATABASE_URL=postgres_url,
                RAMPWIRE_MASTER_KEY=MASTER_KEY,
                RAMPWIRE_TRACING_SAMPLE="1",
                OTEL_EXPORTER_OTLP_ENDPOINT=collector.url.removesuffix("/hooks"),
                OTEL_EXPORTER_OTLP_COMPRESSION="none",
                OTEL_BSP_SCHEDULE_DELAY="100",
            )
            # serve's own worker only fails: the delivery is left for the worker process
            serving = True

            def answer(_: Received) -> int:
                return 503 if serving else 200

            hooks.answer = answer
            with processes(tmp_path) as started:
                serve = started.start(
                    "serve",
                    {**env, "OTEL_RESOURCE_ATTRIBUTES": "rampwire.test.process=serve"},
                    "serve",
                    "--port",
                    str(port),
                )
                await started.healthy(url, serve)
                async with httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {key}"}
                ) as client:
                    body = {
                        "url": hooks.url,
                        "event_types": ["order.completed"],
                        "retry_policy": {"retry_delays": [0.5] * 30, "jitter": 0.0},
                        "traceparent": True,
                    }
                    endpoint = await client.post("/v1/endpoints", json=body)
                    assert endpoint.status_code == 201, endpoint.text
                    order = (await client.post("/v1/orders", json={"side": "buy"})).json()
                    change = await client.post(
                        f"/v1/orders/{order['id']}/changes", json={"status": "completed"}
                    )
                    assert change.status_code == 200, change.text
                    await hooks.wait_for(1)
                assert await started.stop(serve) in (0, -signal.SIGTERM), started.log(serve)
                served = len(hooks.requests)
                serving = False
                worker = started.start(
                    "worker",
                    {**env, "OTEL_RESOURCE_ATTRIBUTES": "rampwire.test.process=worker"},
                    "worker",
                )
                async with asyncio.timeout(30):
                    while True:
                        async with db.connection() as conn:
                            status = await conn.fetchval("SELECT status FROM deliveries")
                        if status == "succeeded":
                            break
                        await asyncio.sleep(0.1)
                assert await started.stop(worker) == 0, started.log(worker)
            exported = spans(collector.requests)
    finally:
        await db.close()

    [request] = [s for s in exported if s.name == CHANGE_SPAN]
    assert request.resource["rampwire.test.process"] == "serve"
    by_worker = [
        s
        for s in exported
        if s.name == "webhook attempt" and s.resource["rampwire.test.process"] == "worker"
    ]
    assert len(by_worker) == 1  # the worker's one attempt, answered 200
    [attempt] = by_worker
    assert attempt.trace_id == request.trace_id
    assert attempt.parent_span_id == request.span_id
    assert attempt.links == [(request.trace_id, request.span_id)]
    assert attempt.attributes["status"] == "succeeded"
    # the receiver saw the worker's attempt span, after serve's failed ones
    last = hooks.requests[-1]
    assert len(hooks.requests) == served + 1
    version, trace_id, span_id, flags = last.headers["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", request.trace_id, attempt.span_id)
    assert int(flags, 16) & 1  # sampled
