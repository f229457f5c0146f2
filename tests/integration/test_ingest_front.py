"""The inbound URL's answers at the ASGI edge: what the framework's layers (request id, body
limit, problem documents, the 500 handler) give every route, the ingest route gets too, on both
back-ends. Driven through the raw ASGI interface, so a body can arrive in chunks with no
Content-Length and a client can disconnect."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.requests import ClientDisconnect
from tests.support.apps import api_key, in_process
from tests.support.ingest_kit import make_source, webhook

from rampwire import logs
from rampwire.api import create_app
from rampwire.api.problems import PROBLEM_TYPE_PREFIX
from rampwire.api.state import app_state
from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.apikeys import Scope
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.settings import Settings
from rampwire.storage import Database
from rampwire.types import utcnow

LIMIT = 2_000  # bytes: the body limit these tests set
PROBLEM = "application/problem+json"


@dataclass
class Served:
    app: FastAPI
    api: httpx.AsyncClient
    source_id: str


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    def problem(self) -> dict[str, Any]:
        assert self.header(b"content-type") == PROBLEM.encode()
        found: dict[str, Any] = orjson.loads(self.body)
        return found


@pytest.fixture
async def served(settings: Settings, db: Database) -> AsyncIterator[Served]:
    limited = settings.replace(max_body_bytes=LIMIT, ingest_rate_limit=5, rate_burst=5)
    app = create_app(limited, db=db)
    async with in_process(app, await api_key(db, Scope.WRITE)) as api:
        source = await make_source(api, Provider.REVOLUT)
        yield Served(app, api, source["id"])


async def call(
    app: FastAPI,
    path: str,
    headers: Sequence[tuple[bytes, bytes]],
    chunks: Sequence[bytes] = (b"{}",),
    *,
    disconnect: bool = False,
    method: str = "POST",
) -> Answer:
    """One request through the app's ASGI interface, the body in ``chunks``."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"rampwire.test"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages = [{"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return Answer(start["status"], list(start["headers"]), body)


def signed(served: Served) -> tuple[list[tuple[bytes, bytes]], bytes]:
    now = utcnow()
    order = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=now)
    request = webhook(
        Provider.REVOLUT, order, OrderStatus.PROCESSING, now=now + timedelta(seconds=1)
    )
    headers = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    return headers, request.body


JSON_HEADERS = [(b"content-type", b"application/json")]


def refusal_headers(answer: Answer) -> list[bytes]:
    return [k for k, _ in answer.headers]


async def test_a_declared_body_over_the_limit_is_413_and_closes(served: Served) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(LIMIT + 1).encode())]
    answer = await call(served.app, f"/ingest/{served.source_id}", headers, [b"x" * (LIMIT + 1)])
    assert answer.status == 413
    assert refusal_headers(answer) == [
        b"content-type",
        b"content-length",
        b"connection",
        b"x-request-id",
    ]
    assert answer.header(b"connection") == b"close"
    assert answer.problem() == {
        "type": PROBLEM_TYPE_PREFIX + "payload_too_large",
        "title": "Request refused",
        "status": 413,
        "detail": f"the body is larger than the limit of {LIMIT} bytes",
    }


async def test_a_content_length_that_is_no_number_is_400(served: Served) -> None:
    headers = [(b"content-length", b"twelve"), *JSON_HEADERS]
    answer = await call(served.app, f"/ingest/{served.source_id}", headers)
    assert answer.status == 400
    assert answer.header(b"connection") == b"close"
    assert answer.header(b"x-request-id")
    assert answer.problem()["detail"] == "Content-Length is not a number"


async def test_a_body_counted_over_the_limit_is_413(served: Served) -> None:
    chunks = [b"x" * 1_000, b"x" * 1_000, b"x"]  # no Content-Length: counted as it arrives
    answer = await call(served.app, f"/ingest/{served.source_id}", JSON_HEADERS, chunks)
    assert answer.status == 413
    assert answer.header(b"connection") == b"close"
    assert answer.header(b"x-request-id")
    assert answer.problem()["type"].endswith(":payload_too_large")


async def test_a_body_in_chunks_under_the_limit_is_verified_and_applied(served: Served) -> None:
    headers, body = signed(served)
    half = len(body) // 2
    answer = await call(
        served.app, f"/ingest/{served.source_id}", headers, [body[:half], body[half:]]
    )
    assert answer.status == 200, answer.body
    assert orjson.loads(answer.body)["outcome"] == "applied"
    assert [k for k, _ in answer.headers] == [b"content-length", b"content-type", b"x-request-id"]


async def test_a_plain_request_id_is_echoed_and_another_replaced(served: Served) -> None:
    headers, body = signed(served)
    plain = await call(
        served.app, f"/ingest/{served.source_id}", [*headers, (b"x-request-id", b"abc.123")], [body]
    )
    assert plain.status == 200
    assert plain.header(b"x-request-id") == b"abc.123"
    odd = await call(
        served.app, f"/ingest/{served.source_id}", [*headers, (b"x-request-id", b"a b")], [body]
    )
    assert odd.status == 200  # the same request again: a duplicate
    assert orjson.loads(odd.body) == {"received": True, "duplicate": True}
    given = odd.header(b"x-request-id")
    assert given is not None and given.startswith(b"req_")


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/ingest/src_00000000000000000000000000", JSON_HEADERS, 404, "not_found"),
        ("/ingest/{source}", [(b"content-type", b"text/plain")], 415, "unsupported_media_type"),
        ("/ingest/{source}", JSON_HEADERS, 401, None),
    ],
)
async def test_refusals_are_problem_documents_with_the_request_id(
    served: Served, path: str, headers: list[tuple[bytes, bytes]], status: int, code: str | None
) -> None:
    path = path.format(source=served.source_id)
    answer = await call(served.app, path, [*headers, (b"x-request-id", b"given-1")])
    assert answer.status == status
    assert answer.header(b"x-request-id") == b"given-1"
    problem = answer.problem()
    assert problem["status"] == status
    assert problem["instance"] == path
    if code is not None:
        assert problem["type"].endswith(f":{code}")


async def test_over_the_source_quota_is_429_with_retry_after(served: Served) -> None:
    answers = [
        await call(served.app, f"/ingest/{served.source_id}", JSON_HEADERS) for _ in range(8)
    ]
    over = [a for a in answers if a.status == 429]
    assert over, [a.status for a in answers]
    assert over[0].header(b"retry-after")
    assert over[0].header(b"x-request-id")
    assert over[0].problem()["type"].endswith(":rate_limited")


async def test_an_unexpected_error_is_a_logged_500_raised_on_to_the_server(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(app_state(served.app).ingestor, "receive", broken)
    headers, body = signed(served)
    with pytest.raises(RuntimeError, match="broken on purpose"):
        await call(served.app, f"/ingest/{served.source_id}", headers, [body])
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=served.app, raise_app_exceptions=False),
        base_url="http://rampwire.test",
    )
    caplog.clear()  # the first call's line
    caplog.handler.addFilter(logs.Context())  # as the configured handlers do
    with caplog.at_level(logging.ERROR, logger="rampwire.api"):
        async with client:
            answer = await client.post(
                f"/ingest/{served.source_id}",
                content=body,
                headers={**dict(served_headers(headers)), "X-Request-Id": "call-500"},
            )
    assert answer.status_code == 500
    assert answer.json()["type"].endswith(":internal_error")
    assert "broken on purpose" not in answer.text
    assert answer.headers["x-request-id"] == "call-500"  # kept in the scope for the 500
    [logged] = [r for r in caplog.records if r.exc_info]
    assert logged.__dict__["request_id"] == "call-500"


def served_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode(), v.decode()) for k, v in headers]


async def test_a_client_gone_before_its_body_is_raised_on(served: Served) -> None:
    with pytest.raises(ClientDisconnect):
        await call(served.app, f"/ingest/{served.source_id}", JSON_HEADERS, disconnect=True)


async def test_other_methods_and_paths_are_the_routers(served: Served) -> None:
    get = await call(served.app, f"/ingest/{served.source_id}", JSON_HEADERS, method="GET")
    assert get.status == 405
    assert get.header(b"x-request-id")
    deeper = await call(served.app, f"/ingest/{served.source_id}/a/b", JSON_HEADERS)
    assert deeper.status == 404
    assert deeper.problem()["type"].endswith(":not_found")


async def test_the_ingestor_sees_the_request_and_source_ids_bound_in_that_order(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The front binds the source id the path names with the request id, so it leaves out
    the tag that would bind it again: the ids are those the tag gave."""
    ingestor = app_state(served.app).ingestor
    seen: list[list[tuple[str, str]]] = []
    receive = ingestor.receive

    async def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(list(logs.context().items()))
        return await receive(*args, **kwargs)

    monkeypatch.setattr(ingestor, "receive", watched)
    headers, body = signed(served)
    answer = await call(
        served.app, f"/ingest/{served.source_id}", [*headers, (b"x-request-id", b"r-1")], [body]
    )
    assert answer.status == 200
    assert seen == [[("request_id", "r-1"), ("source_id", served.source_id)]]
    assert not logs.context()
