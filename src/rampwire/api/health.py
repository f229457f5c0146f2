"""Liveness and readiness: no authentication, no side effects."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..errors import StorageError
from ..storage.migrate import pending
from .problems import problem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", response_model=None)
async def readyz(request: Request) -> dict[str, str] | Response:
    """The database answers and its schema is current: ready to take traffic."""
    db = request.app.state.db
    try:
        missing = await pending(db)
    except StorageError:
        return problem(503, "not_ready", "the database does not answer")
    if missing:
        return problem(503, "not_ready", f"migrations not applied: {missing}")
    return {"status": "ready", "database": db.dialect}
