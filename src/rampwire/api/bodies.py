"""Request and response bodies are JSON."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from ..domain import serde
from ..errors import UnsupportedMediaType

JSON = "application/json"


async def require_json(request: Request) -> None:
    """Bodies are JSON: anything else is a 415 before it is parsed. (``async``: FastAPI runs a
    plain ``def`` dependency in a thread, which costs more than the check.)"""
    check_json(request.headers.get("content-type", ""))


def check_json(content_type: str) -> None:
    """:func:`require_json` on the ``Content-Type`` header's value."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media != JSON and not media.endswith("+json"):
        shown = media or "none"
        raise UnsupportedMediaType(f"Content-Type is {shown}; send application/json")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``body`` as JSON: bytes as they are (already serialized), anything else through
    :func:`~rampwire.domain.serde.to_json`."""
    content = body if isinstance(body, bytes) else serde.to_json(body)
    return Response(content, status_code=status, media_type=JSON, headers=headers)
