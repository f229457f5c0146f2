"""The overview page and its live stream, from one computation of the figures: the same
numbers as the same strings, so what the stream sends is what a reload would show.

``/ui/live/overview`` (server-sent events) reads the overview (the page's queries: windows over
indexed columns, no scan) every ``POLL_SECONDS`` and sends it when it changed; ``ui.js`` writes
the numbers with ``textContent`` and redraws the bar charts from the series. A stream ends
after ``live.STREAM_SECONDS`` and the browser reconnects, as for the delivery log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from ..api.state import AppState
from ..errors import Unauthorized
from ..repository.overview import Overview
from ..types import utcnow
from . import charts
from .context import Dashboard, to_login
from .live import RECONNECT_MS, STREAM_SECONDS
from .render import SECURITY_HEADERS, ms

POLL_SECONDS = 2.0  # the overview's queries take milliseconds; a tile need not be fresher


def numbers(o: Overview, now: datetime) -> dict[str, str]:
    """Each tile's figure as shown."""
    oldest = "—"
    if o.oldest_due_at is not None:
        oldest = f"{max(0.0, (now - o.oldest_due_at).total_seconds()):.1f} s ago"
    rate = o.success_rate
    return {
        "attempts": str(sum(o.succeeded) + sum(o.failed)),
        "succeeded": str(sum(o.succeeded)),
        "failed": str(sum(o.failed)),
        "success_rate": "—" if rate is None else f"{rate * 100:.1f} %",
        "p50": ms(o.p50_us),
        "p99": ms(o.p99_us),
        "backlog": str(o.backlog),
        "oldest_due": oldest,
        "anomalies": str(o.anomalies),
        "stuck": str(o.stuck),
    }


async def ingest_rows(app: AppState, o: Overview) -> list[dict[str, Any]]:
    """One row per source: accepted per minute (the inbound log), refused (this process)."""
    sources = {s.id: s for s in await app.sources.all(limit=200)}
    rows = []
    for source_id in sorted(set(sources) | set(o.ingest)):
        stats = app.ingestor.stats.get(source_id)
        per_minute = o.ingest.get(source_id, [0] * o.window_minutes)
        source = sources.get(source_id)
        rows.append(
            {
                "id": source_id,
                "name": source.name if source else source_id,
                "provider": source.provider.value if source else "",
                "accepted": sum(per_minute),
                "refused": stats.rejected if stats else 0,
                "per_minute": per_minute,
                "chart": charts.bars([per_minute], classes=["ok"], label="accepted per minute"),
            }
        )
    return rows


def add_overview(router: APIRouter, ui: Dashboard) -> None:
    @router.get("/ui/overview", include_in_schema=False)
    async def page(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        now = utcnow()
        o = await ui.overview(request).read(now=now)
        return ui.pages.render(
            request,
            "overview.html",
            session=session,
            o=o,
            n=numbers(o, now),
            ingest=await ingest_rows(ui.app(request), o),
            deliveries_chart=charts.bars(
                [o.succeeded, o.failed],
                classes=["ok", "bad"],
                label="attempts per minute: succeeded and failed",
            ),
        )

    @router.get("/ui/live/overview", include_in_schema=False)
    async def overview(request: Request) -> Response:
        if await ui.session(request) is None:
            raise Unauthorized("log in at /ui/login first")
        app = ui.app(request)
        repo = ui.overview(request)

        async def stream() -> AsyncIterator[bytes]:
            yield f"retry: {RECONNECT_MS}\n\n".encode()
            last = b""
            started = utcnow()
            while (utcnow() - started).total_seconds() < STREAM_SECONDS:
                if await request.is_disconnected():
                    return
                now = utcnow()
                o = await repo.read(now=now)
                rows = await ingest_rows(app, o)
                data = orjson.dumps(
                    {
                        "numbers": numbers(o, now),
                        "deliveries": [o.succeeded, o.failed],
                        "ingest": {
                            r["id"]: {
                                "accepted": r["accepted"],
                                "refused": r["refused"],
                                "per_minute": r["per_minute"],
                            }
                            for r in rows
                        },
                    }
                )
                if data != last:  # the first look always sends
                    last = data
                    yield b"event: overview\ndata: " + data + b"\n\n"
                await asyncio.sleep(POLL_SECONDS)

        headers = {**SECURITY_HEADERS, "x-accel-buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


__all__ = ["add_overview", "ingest_rows", "numbers"]
