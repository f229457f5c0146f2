"""Live updates by server-sent events: the delivery log's rows as they appear and change.

A stream reads the newest page of deliveries (the same filtered query as the page) once a
second and sends the rows that are new or changed since it last looked (the whole page the
first time); ``ui.js`` inserts or replaces them, built with ``textContent``, never as markup.
A stream ends after ``STREAM_SECONDS`` and the browser's ``EventSource`` reconnects by itself,
so an open tab never holds a server's graceful shutdown for long.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from ..domain.deliveries import Delivery, DeliveryStatus
from ..errors import Unauthorized
from ..types import utcnow
from .context import PAGE_SIZE, Dashboard, parse_partner
from .pages import choice
from .render import SECURITY_HEADERS

POLL_SECONDS = 1.0  # how often a stream looks for new or changed deliveries
STREAM_SECONDS = 15.0  # then the stream ends and EventSource opens a new one
RECONNECT_MS = 500


def _row(d: Delivery) -> dict[str, object]:
    return {
        "id": d.id,
        "status": d.status.value,
        "event_type": d.event_type,
        "order_id": d.order_id,
        "endpoint_id": d.endpoint_id,
        "attempts": d.attempts,
        "last": d.last_status_code or d.last_error or "",
        "updated_at": d.updated_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def add_live(router: APIRouter, ui: Dashboard) -> None:
    @router.get("/ui/live/deliveries", include_in_schema=False)
    async def deliveries(request: Request) -> Response:
        if await ui.session(request) is None:
            raise Unauthorized("log in at /ui/login first")
        q = request.query_params
        status = choice("status", q.get("status"), DeliveryStatus)
        endpoint = q.get("endpoint") or None
        partner = parse_partner(q.get("partner"))
        repo = ui.app(request).deliveries

        async def stream() -> AsyncIterator[bytes]:
            seen: dict[str, tuple[str, int]] = {}
            yield f"retry: {RECONNECT_MS}\n\n".encode()
            started = utcnow()
            while (utcnow() - started).total_seconds() < STREAM_SECONDS:
                if await request.is_disconnected():
                    return
                found = await repo.find(
                    endpoint_id=endpoint,
                    statuses=(status,) if status else (),
                    limit=PAGE_SIZE,
                    for_partner=partner,
                )
                for d in reversed(found):  # oldest first, so the newest ends on top
                    mark = (d.status.value, d.attempts)
                    if seen.get(d.id) != mark:  # the first look sends the whole page
                        seen[d.id] = mark
                        yield b"event: delivery\ndata: " + orjson.dumps(_row(d)) + b"\n\n"
                await asyncio.sleep(POLL_SECONDS)

        headers = {**SECURITY_HEADERS, "x-accel-buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
