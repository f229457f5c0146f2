"""The request id: taken from the client's ``X-Request-Id`` when it is a plain token (so a
partner's id follows its call into rampwire's logs), made otherwise, echoed in the answer, and
bound to every log line written while the request is handled (:func:`rampwire.logs.bind`),
with the ids the path names (``/v1/orders/ord_...``: ``order_id``); the routes add what they
learn (the key's partner, a new order's id) with :func:`rampwire.logs.tag`, in time for the
access log line. With tracing on, a server span around the request
(:class:`~rampwire.tracing.Tracing`). A pure ASGI front, like
:class:`~rampwire.api.limits.BodyLimit`: it costs a header scan and a search of the path."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import logs
from ..delivery.endpoints import ENDPOINT_ID_PREFIX
from ..domain.deliveries import DELIVERY_ID_PREFIX
from ..domain.events import EVENT_ID_PREFIX
from ..domain.orders import ORDER_ID_PREFIX
from ..domain.partners import PARTNER_ID_PREFIX
from ..ids import new_id
from ..ingest.sources import SOURCE_ID_PREFIX
from ..tracing import Tracing

HEADER = b"x-request-id"
# where the request's id is kept in its ASGI scope, for the layer outside this one: starlette's
# ServerErrorMiddleware, whose 500 answer and log line carry it too (api.problems)
SCOPE_KEY = "rampwire.request_id"
_ID = re.compile(r"/([a-z]{2,4})_[0-9A-Za-z]{10,}")  # a rampwire id as a path segment
_LOGGED = {  # an id's prefix: the log field it goes to
    ORDER_ID_PREFIX: "order_id",
    ENDPOINT_ID_PREFIX: "endpoint_id",
    DELIVERY_ID_PREFIX: "delivery_id",
    EVENT_ID_PREFIX: "event_id",
    SOURCE_ID_PREFIX: "source_id",
    PARTNER_ID_PREFIX: "partner_id",
}
_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # anything else is not repeated into the logs
_PROPAGATED = frozenset((b"traceparent", b"tracestate"))  # W3C trace context, as ASGI names them


def with_request_id(send: Send, request_id: str) -> Send:
    """``send``, with ``X-Request-Id: request_id`` added to the answer's headers."""
    value = request_id.encode()

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (HEADER, value)]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_id


def log_context(given: str | None, path: str) -> dict[str, str]:
    """What a request binds to its log lines, in this order: ``request_id``, the client's
    ``X-Request-Id`` (``given``, latin-1) when it is a plain token, a new id otherwise; then the
    ids its (redacted) path names, by their log field."""
    ids = {"request_id": given if given and _PLAIN.fullmatch(given) else new_id("req")}
    for found in _ID.finditer(path):
        name = _LOGGED.get(found[1])
        if name is not None:
            ids[name] = found[0][1:]
    return ids


def server_span(tracing: Tracing, scope: Scope, path: str) -> AbstractContextManager[None]:
    """The request's server span (``tracing`` enabled), named by its route."""
    # span names stay few: ids become {id}, and ingest's source is an attribute
    route = "/ingest" if path.startswith("/ingest/") else _ID.sub("/{id}", path)
    # the propagator reads two headers: only they are decoded (most requests have none)
    headers = {
        k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _PROPAGATED
    }
    attributes = {"http.request.method": scope["method"], "url.path": path}
    return tracing.request(f"{scope['method']} {route}", headers, **attributes)


class RequestContext:
    def __init__(self, app: ASGIApp, tracing: Tracing | None = None) -> None:
        self.app = app
        self._tracing = tracing or Tracing()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        path = logs.redact(scope["path"])  # a Saber URL token stays out of logs and traces
        ids = log_context(given.decode("latin-1") if given else None, path)
        request_id_ = scope[SCOPE_KEY] = ids["request_id"]
        send_with_id = with_request_id(send, request_id_)
        bound = logs.enter(ids)  # logs.bind's block, written out
        try:
            if not self._tracing.enabled:
                await self.app(scope, receive, send_with_id)
                return
            with server_span(self._tracing, scope, path):
                await self.app(scope, receive, send_with_id)
        finally:
            bound.var.reset(bound)
