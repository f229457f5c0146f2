"""OpenTelemetry traces with an in-memory exporter: one API change gives a trace in which the
delivery attempts of its event (three: two failures, then a success) are spans of that trace,
each linked to the request's span; with ``traceparent`` on, the receiver sees the attempt's
span in the header. Tracing off (the default) sends no header."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.support.receivers import Received, receiver

from rampwire.api.app import create_app
from rampwire.domain.apikeys import Scope
from rampwire.repository import KeyRepository
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.tracing import Tracing


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    settings: Settings, db: Database, exporter: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings, db=db, tracing=Tracing(provider))
    _, key = await KeyRepository(db).create("tests", Scope.WRITE)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://rampwire.test",
            headers={"Authorization": f"Bearer {key}"},
        ) as client,
    ):
        yield client
    provider.shutdown()


async def _settled(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(20):
        while True:
            data = (await api.get(f"/v1/endpoints/{endpoint_id}/deliveries")).json()["data"]
            if data and all(d["status"] in ("succeeded", "dead") for d in data):
                return data  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


def _attempts(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == "webhook attempt"]


async def test_a_change_and_its_three_attempts_are_one_trace(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    api = traced
    calls: list[Received] = []

    def flaky(got: Received) -> int:
        calls.append(got)
        return 503 if len(calls) <= 2 else 200

    async with receiver() as hooks:
        hooks.answer = flaky
        body = {
            "url": hooks.url,
            "event_types": ["order.completed"],
            "retry_policy": {"retry_delays": [0.05, 0.05], "jitter": 0.0},
            "traceparent": True,
        }
        endpoint = (await api.post("/v1/endpoints", json=body)).json()
        order = (await api.post("/v1/orders", json={"side": "buy"})).json()
        change = await api.post(f"/v1/orders/{order['id']}/changes", json={"status": "completed"})
        assert change.status_code == 200, change.text
        [delivery] = await _settled(api, endpoint["id"])
        async with asyncio.timeout(10):
            while len(_attempts(exporter)) < 3:
                await asyncio.sleep(0.02)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3

    [request] = [
        s for s in exporter.get_finished_spans() if s.name == "POST /v1/orders/{id}/changes"
    ]
    attempts = _attempts(exporter)
    assert len(attempts) == 3
    trace_id = request.context.trace_id
    for span in attempts:
        assert span.context.trace_id == trace_id  # one trace: request → attempts
        assert span.parent is not None and span.parent.span_id == request.context.span_id
        assert [link.context.span_id for link in span.links] == [request.context.span_id]
        assert span.attributes is not None
        assert span.attributes["delivery_id"] == delivery["id"]
    assert [s.attributes["status"] for s in attempts if s.attributes] == [
        "retrying",
        "retrying",
        "succeeded",
    ]
    # the receiver saw each attempt's own span in traceparent
    sent = [r.headers["traceparent"] for r in calls]
    expected = [
        f"00-{trace_id:032x}-{s.context.span_id:016x}-{int(s.context.trace_flags):02x}"
        for s in attempts
    ]
    assert sent == expected


async def test_no_traceparent_when_tracing_is_off(api: httpx.AsyncClient) -> None:
    async with receiver() as hooks:
        body = {"url": hooks.url, "event_types": ["order.created"]}
        assert (await api.post("/v1/endpoints", json=body)).status_code == 201
        assert (await api.post("/v1/orders", json={"side": "buy"})).status_code == 201
        [got] = await hooks.wait_for(1)
    assert "traceparent" not in {k.lower() for k in got.headers}
