"""The request id: taken from the client's ``X-Request-Id`` when it is a plain token (so a
partner's id follows its call into rampwire's logs), made otherwise, echoed in the answer, and
bound to every log line written while the request is handled (:func:`rampwire.logs.bind`);
with tracing on, a server span around the request (:class:`~rampwire.tracing.Tracing`).
A pure ASGI front, like :class:`~rampwire.api.limits.BodyLimit`: it costs one header scan."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import logs
from ..ids import new_id
from ..tracing import Tracing

HEADER = b"x-request-id"
_ID = re.compile(r"/[a-z]{2,4}_[0-9A-Za-z]{10,}")  # a rampwire id as a path segment
_PLAIN = re.compile(rb"[A-Za-z0-9._:-]{1,64}")  # anything else is not repeated into the logs


class RequestContext:
    def __init__(self, app: ASGIApp, tracing: Tracing | None = None) -> None:
        self.app = app
        self._tracing = tracing or Tracing()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        request_id = given.decode() if given and _PLAIN.fullmatch(given) else new_id("req")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with logs.bind(request_id=request_id):
            if not self._tracing.enabled:
                await self.app(scope, receive, send_with_id)
                return
            path = logs.redact(scope["path"])  # a Saber URL token stays out of traces too
            # span names stay few: ids become {id}, and ingest's source is an attribute
            route = "/ingest" if path.startswith("/ingest/") else _ID.sub("/{id}", path)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            attributes = {"http.request.method": scope["method"], "url.path": path}
            with self._tracing.request(f"{scope['method']} {route}", headers, **attributes):
                await self.app(scope, receive, send_with_id)
