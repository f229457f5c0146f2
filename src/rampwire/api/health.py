"""Liveness and readiness: no authentication, no side effects."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response

from ..errors import StorageError
from ..storage.migrate import pending
from .problems import UNAVAILABLE_RETRY_AFTER_S, problem

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 2.0  # a database slower than this to answer is not ready


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", response_model=None)
async def readyz(request: Request) -> dict[str, Any] | Response:
    """Ready to take traffic: the database answers, its schema is current, and the background
    tasks run. ``checks`` says, for each dependency and task, ``ok`` or what is wrong; the
    delivery worker's notifications may be down without making the process unready (it polls
    meanwhile)."""
    state = request.app.state
    db = state.db
    checks: dict[str, str] = {}
    down: list[str] = []
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            missing = await pending(db)
    except (StorageError, TimeoutError) as exc:
        checks["database"] = f"unavailable: {exc}" if str(exc) else "unavailable: no answer"
        down.append("database")
    else:
        checks["database"] = "ok" if not missing else f"migrations not applied: {missing}"
        if missing:
            down.append("database")
    supervisor = getattr(state, "supervisor", None)
    if supervisor is not None:
        for name, health in supervisor.health.items():
            problem_ = supervisor.problems().get(name)
            checks[f"task:{name}"] = problem_ or health.state.value
            if problem_:
                down.append(f"task:{name}")
    worker = getattr(state, "worker", None)
    if worker is not None:
        for name, result in worker.health().items():
            checks[f"worker:{name}"] = result
    if down:
        return problem(
            503,
            "not_ready",
            f"not ready: {', '.join(down)}",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
            checks=checks,
        )
    return {"status": "ready", "database": db.dialect, "checks": checks}
