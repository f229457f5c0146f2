"""Event types: every event rampwire sends, what it means, and an example of its payload as a
``standard`` endpoint receives it (the API's ``GET /v1/event-types`` gives their schemas)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..api.event_types import describe, example
from ..domain.events import EVENT_TYPES
from .context import Dashboard, to_login


def add_event_types(router: APIRouter, ui: Dashboard) -> None:
    @router.get("/ui/event-types", include_in_schema=False)
    async def event_types(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        types = [
            {"type": t, "description": describe(t), "example": example(t).decode()}
            for t in EVENT_TYPES
        ]
        return ui.pages.render(request, "event_types.html", session=session, types=types)


__all__ = ["add_event_types"]
