"""The inbound URL of each source, and the raw inbound log.

``POST /ingest/{source_id}`` (and ``/ingest/{source_id}/{token}`` for a Saber source verified by
a URL token) takes no API key: the provider's signature is the proof. Answers:

- 200 once the request is recorded and applied (committed), or when it is a duplicate;
- 401 when it is not proven authentic, 400 when it is not the provider's format, 415 when it is
  not JSON, 413 when too large, 404 for an unknown source: nothing is written;
- 503 when the source is disabled, storage fails or the order it changes is stored unreadable,
  so the provider retries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette import types as asgi
from starlette.requests import ClientDisconnect

from .. import logs
from ..domain import serde
from ..domain.apikeys import ApiKey, Scope
from ..errors import BadRequest, ClientError, StorageError, UnreadableOrder
from ..ids import has_prefix
from ..ingest.inbound import INBOUND_ID_PREFIX, InboundOutcome, InboundRecord, InboundRequest
from ..repository.inbound import InboundRepository
from ..services.ingestor import Ingestor, SourceDisabled
from ..settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from ..tracing import Tracing
from ..types import record_maker, utcnow
from . import context, limits
from .bodies import JSON, check_json, json_response
from .openapi import AUTHENTICATED, FOUND, id_path, problems
from .problems import client_problem, problem
from .proxies import FORWARDED_FOR
from .queries import known_query
from .schemas import InboundDetail, InboundPage, IngestAnswer
from .security import require_operator
from .sources import SourceId, source_id
from .state import AppState, app_state, state

router = APIRouter(tags=["ingest"])
RecordId = Annotated[str, id_path(INBOUND_ID_PREFIX, "inbound request")]
# What a provider may be answered: no API key here, the signature is the proof.
INGEST_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": IngestAnswer},
    **problems(400, 401, 404, 413, 415, 429, 503),
}
RETRY_AFTER_S = 5
_FORWARDED_FOR = FORWARDED_FOR.encode("latin-1")
_JSON = JSON.encode("latin-1")
# made through its slots, once per request (headers, body, received_at, peer_ip, url_token)
_request = record_maker(InboundRequest)
_DUPLICATE = serde.to_json({"received": True, "duplicate": True})
_RECEIVED: Mapping[str, Any] = MappingProxyType({"received": True, "duplicate": False})
_NOTHING: Mapping[str, Any] = MappingProxyType({})


def _ingestor(request: Request) -> Ingestor:
    return state(request).ingestor


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers as ``dict(request.headers)`` gives them: names as sent (the
    server lower-cases them), latin-1, the first value of a name sent twice."""
    headers: dict[str, str] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def _inbound(request: Request) -> InboundRepository:
    return state(request).inbound


def record_json(
    record: InboundRecord, *, full: bool = False, head: Mapping[str, Any] = _NOTHING
) -> dict[str, Any]:
    """The record as the API shows it; ``head``: fields put first (the ingest answer's)."""
    # str() of a StrEnum is its value, without the enum's Python property ``.value``
    body: dict[str, Any] = {
        **head,
        "id": record.id,
        "source_id": record.source_id,
        "provider": str(record.provider),
        "received_at": record.received_at,
        "processed_at": record.processed_at,
        "verification": "verified",  # refused requests are never recorded
        "outcome": str(record.outcome),
        "detail": record.detail,
        "provider_order_id": record.provider_order_id,
        "provider_event": record.provider_event,
        "order_id": record.order_id,
        "event_ids": list(record.event_ids),
        "attempts": record.attempts,
    }
    if full:
        body |= {
            "dedupe_key": record.dedupe_key,
            "peer_ip": record.peer_ip,
            "headers": record.headers,
            "body": record.body,
        }
    return body


async def _apply(
    app: AppState,
    source: str,
    token: str | None,
    headers: dict[str, str],
    raw_headers: Sequence[tuple[bytes, bytes]],
    peer: str | None,
    body: bytes,
    *,
    source_bound: bool = False,
) -> Response | bytes:
    """One inbound request whose body is read, from the ASGI scope's own values (building a
    ``Request``, its ``Headers`` and its body stream costs more than this route's other
    Python): a refusal's problem document, or the 200's JSON body (:class:`IngestFront` or
    ``json_response`` sends it). ``headers``: ``raw_headers`` as :func:`_headers` gives them.
    Before the body is read, its callers check the media type and the source's quota.
    ``source_bound``: ``source`` is the ``source_id`` the log lines carry already."""
    if app.proxies:  # X-Forwarded-For is read only when proxies are trusted
        forwarded = [v.decode("latin-1") for k, v in raw_headers if k == _FORWARDED_FOR]
        peer = app.proxies.client(peer, forwarded)
    inbound = _request((headers, body, datetime.now(UTC), peer, token))  # utcnow(), inline
    try:
        if not source_bound:  # the access line too: the request's bind ends it
            logs.tag(source_id=source)
        result = await app.ingestor.receive(source_id(source), inbound, now=inbound.received_at)
    except SourceDisabled as exc:
        return problem(
            503, "source_disabled", exc.message, headers={"Retry-After": str(RETRY_AFTER_S)}
        )
    except UnreadableOrder as exc:  # 503, not the API's 409: the provider sends it again
        return problem(
            503,
            UnreadableOrder.code,
            f"{exc.message}; nothing was applied, send it again once it is repaired",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            order_id=exc.extensions.get("order_id"),
        )
    except StorageError:
        return problem(
            503,
            "storage_unavailable",
            "the request could not be stored; nothing was applied, send it again",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    if result.record is None:
        return _DUPLICATE
    return serde.to_json(record_json(result.record, head=_RECEIVED))


async def _route(source: str, request: Request, token: str | None) -> Response:
    peer = request.client.host if request.client else None
    raw = request.scope["headers"]
    app = state(request)
    headers = _headers(raw)
    check_json(headers.get("content-type", ""))  # the front does these two the same way
    if app.ingest_quotas is not None:
        app.ingest_quotas.take(source, f"source {source}")
    answer = await _apply(app, source, token, headers, raw, peer, await request.body())
    return json_response(answer) if isinstance(answer, bytes) else answer


# The two routes below document the inbound URLs (OpenAPI) and answer them when the app runs
# without :class:`IngestFront`; with it, that front answers them first, through ``_receive``.


@router.post("/ingest/{source}", responses=INGEST_ANSWERS)
async def ingest(source: SourceId, request: Request) -> Response:
    """A provider's webhook, verified with the source's credentials."""
    return await _route(source, request, None)


@router.post("/ingest/{source}/{token}", responses=INGEST_ANSWERS)
async def ingest_with_token(source: SourceId, token: str, request: Request) -> Response:
    """The same, for a Saber source verified by a secret token in its URL."""
    return await _route(source, request, token)


_INGEST_PATH = re.compile(r"/ingest/([^/]+)(?:/([^/]+))?")


class IngestFront:
    """``POST /ingest/{source}[/{token}]`` answered before the framework's layers (pure ASGI,
    the outermost middleware but starlette's ``ServerErrorMiddleware``): it is the hottest
    route, and the middleware, routing and exception layers cost more than verifying the
    request. It does itself what the other layers do for any route, with the same answers: the
    request id (:mod:`.context`: echoed, bound to the log lines), the server span, the body limit
    (:mod:`.limits`: 413, or 400 for a Content-Length that is no number), a problem document for
    a client's error; an unexpected error goes on to ``ServerErrorMiddleware``, the app's 500
    handler (with the request id, kept in the scope, as for every route). Every other request
    passes on to ``app``."""

    def __init__(self, app: asgi.ASGIApp, *, max_bytes: int, tracing: Tracing) -> None:
        self.app = app
        self._max_bytes = max_bytes
        self._tracing = tracing

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        matched = (
            _INGEST_PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if matched is None:
            await self.app(scope, receive, send)
            return
        source, token = matched[1], matched[2]
        raw = scope["headers"]
        headers: dict[str, str] = {}  # as _headers() makes them, in the same pass
        refusal = 0  # the body limit's, by the first Content-Length that fails it
        for name, value in raw:
            if name == b"content-length" and not refusal:
                try:
                    refusal = 413 if int(value) > self._max_bytes else 0
                except ValueError:
                    refusal = 400
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        path = scope["path"]
        if token is not None:  # a Saber URL token stays out of logs and traces
            path = logs.redact(path)  # (a path without one has nothing to redact)
        ids = context.log_context(headers.get("x-request-id"), path)
        scope[context.SCOPE_KEY] = ids["request_id"]
        bound = logs.enter(ids)  # logs.bind's block, written out: this wraps every request
        try:
            if not self._tracing.enabled:
                await self._reply(scope, receive, send, source, token, headers, ids, refusal)
                return
            with context.server_span(self._tracing, scope, path):
                await self._reply(scope, receive, send, source, token, headers, ids, refusal)
        finally:
            bound.var.reset(bound)

    async def _reply(
        self,
        scope: asgi.Scope,
        receive: asgi.Receive,
        send: asgi.Send,
        source: str,
        token: str | None,
        headers: dict[str, str],
        ids: dict[str, str],
        refusal: int,
    ) -> None:
        """``ids``: what the log lines carry (:func:`.context.log_context`)."""
        max_bytes = self._max_bytes
        request_id = ids["request_id"]
        if refusal:
            if refusal == 413:
                await limits.too_large(context.with_request_id(send, request_id), max_bytes)
            else:
                await limits.bad_length(context.with_request_id(send, request_id))
            return
        app = app_state(scope["app"])
        try:
            check_json(headers.get("content-type", ""))  # as _route does, before the body
            if app.ingest_quotas is not None:
                app.ingest_quotas.take(source, f"source {source}")
            # the body as Request.body() reads it, counted against the limit as it arrives
            chunks: list[bytes] = []
            received = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > max_bytes:
                    await limits.too_large(context.with_request_id(send, request_id), max_bytes)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            client = scope.get("client")
            answer = await _apply(
                app,
                source,
                token,
                headers,
                scope["headers"],
                client[0] if client else None,
                b"".join(chunks),
                # a source id the path names is bound already (context.log_context)
                source_bound=ids.get("source_id") == source,
            )
        except ClientError as exc:
            answer = client_problem(exc, scope["path"])
        if isinstance(answer, bytes):  # a 200: the two messages json_response(answer) sends
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-length", b"%d" % len(answer)),
                        (b"content-type", _JSON),
                        (context.HEADER, request_id.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": answer})
        else:
            await answer(scope, receive, context.with_request_id(send, request_id))


def _record_id(value: str) -> str:
    if not has_prefix(value, INBOUND_ID_PREFIX):
        raise BadRequest(f"{value!r} is not an inbound request id (inb_ followed by 26 characters)")
    return value


@router.get(
    "/v1/inbound",
    dependencies=[Depends(known_query)],
    responses={200: {"model": InboundPage}, **AUTHENTICATED},
)
async def list_inbound(
    request: Request,
    _: Annotated[ApiKey, Depends(require_operator(Scope.READ))],
    source: str | None = None,
    outcome: InboundOutcome | None = None,
    order_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
) -> Response:
    """Received requests, newest first, with what became of each."""
    found = await _inbound(request).find(
        limit=limit,
        before=cursor,
        source_id=None if source is None else source_id(source),
        outcome=outcome,
        order_id=order_id,
    )
    next_cursor = found[-1].id if len(found) == limit else None
    return json_response({"data": [record_json(r) for r in found], "next_cursor": next_cursor})


@router.get(
    "/v1/inbound/{record}",
    dependencies=[Depends(known_query)],
    responses={200: {"model": InboundDetail}, **AUTHENTICATED, **FOUND},
)
async def get_inbound(
    record: RecordId, request: Request, _: Annotated[ApiKey, Depends(require_operator(Scope.READ))]
) -> Response:
    """One received request: its headers and body as received, and its outcome."""
    return json_response(record_json(await _inbound(request).get(_record_id(record)), full=True))


@router.post(
    "/v1/inbound/{record}/reprocess",
    dependencies=[Depends(known_query)],
    responses={200: {"model": InboundDetail}, **AUTHENTICATED, **FOUND},
)
async def reprocess_inbound(
    record: RecordId, request: Request, _: Annotated[ApiKey, Depends(require_operator(Scope.WRITE))]
) -> Response:
    """Verify the logged request again and apply it (after a fix, or once its order exists)."""
    found = await _inbound(request).get(_record_id(record))
    done = await _ingestor(request).reprocess(found, now=utcnow())
    return json_response(record_json(done, full=True))
