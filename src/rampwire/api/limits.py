"""Request body limits, enforced before the body reaches a route (pure ASGI middleware)."""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or by counting chunks."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await bad_length(send)
                    return
                if declared > self.max_bytes:
                    await too_large(send, self.max_bytes)
                    return
        received = 0
        over = False

        async def limited() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True  # raised as an HTTPException so the framework passes it on
                    raise HTTPException(413, too_large_detail(self.max_bytes))
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except Exception:
            if over and not started:
                await too_large(send, self.max_bytes)
            else:
                raise


def too_large_detail(max_bytes: int) -> str:
    return f"the body is larger than the limit of {max_bytes} bytes"


async def too_large(send: Send, max_bytes: int) -> None:
    """413: the body is over ``max_bytes`` (declared or counted)."""
    await refuse(send, 413, "payload_too_large", too_large_detail(max_bytes))


async def bad_length(send: Send) -> None:
    """400: a Content-Length that is not a number."""
    await refuse(send, 400, "bad_request", "Content-Length is not a number")


async def refuse(send: Send, status: int, code: str, detail: str) -> None:
    """A refusal's problem document, and the connection closed after it."""
    body = orjson.dumps(
        {
            "type": PROBLEM_TYPE_PREFIX + code,
            "title": "Request refused",
            "status": status,
            "detail": detail,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
