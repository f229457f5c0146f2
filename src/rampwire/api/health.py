"""Liveness and readiness: no authentication, no side effects."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response

from ..errors import StorageError
from ..storage.migrate import pending
from .openapi import problems
from .problems import UNAVAILABLE_RETRY_AFTER_S, problem
from .state import AppState, app_state

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 2.0  # a database slower than this to answer is not ready


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", response_model=None, responses=problems(503))
async def readyz(request: Request) -> dict[str, Any] | Response:
    """Ready to take traffic: the database answers, its schema is current, and the background
    tasks run. ``checks`` says, for each dependency and task, ``ok`` or what is wrong; the
    delivery worker's notifications may be down without making the process unready (it polls
    meanwhile)."""
    state = app_state(request.app)
    db = state.db
    checks: dict[str, str] = {"database": await _database(state)}
    down = [] if checks["database"] == "ok" else ["database"]
    supervisor = state.supervisor
    if supervisor is not None:
        for name, health in supervisor.health.items():
            problem_ = supervisor.problems().get(name)
            checks[f"task:{name}"] = problem_ or health.state.value
            if problem_:
                down.append(f"task:{name}")
    worker = state.worker
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


async def _database(state: AppState) -> str:
    """``ok``, or what is wrong with the database, within :data:`READY_TIMEOUT_S`. The check
    runs as its own task, one at a time: a query cancelled on a stalled connection can take
    asyncpg's command timeout to give its connection back, and readiness must not wait for it."""
    check = state.ready_check
    if check is None or check.done():
        check = state.ready_check = asyncio.create_task(pending(state.db))
        check.add_done_callback(_retrieved)
    done, _ = await asyncio.wait({check}, timeout=READY_TIMEOUT_S)
    if not done:
        return "unavailable: no answer"
    exc = check.exception()
    if isinstance(exc, StorageError):
        return f"unavailable: {exc}"
    if exc is not None:
        raise exc
    missing = check.result()
    return "ok" if not missing else f"migrations not applied: {missing}"


def _retrieved(task: asyncio.Task[list[int]]) -> None:
    if not task.cancelled():
        task.exception()  # read by the next readiness check, or by nobody: not an error
