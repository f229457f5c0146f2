"""Request and response bodies are JSON."""

from __future__ import annotations

from fastapi import Request

from ..errors import UnsupportedMediaType

JSON = "application/json"


async def require_json(request: Request) -> None:
    """Bodies are JSON: anything else is a 415 before it is parsed. (``async``: FastAPI runs a
    plain ``def`` dependency in a thread, which costs more than the check.)"""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != JSON and not media.endswith("+json"):
        shown = media or "none"
        raise UnsupportedMediaType(f"Content-Type is {shown}; send application/json")
