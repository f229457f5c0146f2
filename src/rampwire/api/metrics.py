"""``GET /metrics``: this process's Prometheus metrics, for the bearer of
``RAMPWIRE_METRICS_TOKEN`` (not an API key: a scraper needs no access to orders). Without that
token the route does not exist (404); ``RAMPWIRE_METRICS_ADDR`` serves the same text on an
address of its own instead (:func:`rampwire.metrics.serve`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..errors import NotFound, Unauthorized
from ..metrics import PATH, authorized
from .state import state

router = APIRouter(tags=["health"])


@router.get(PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    shared = state(request)
    token = shared.settings.metrics_token
    if token is None or not shared.settings.metrics:
        raise NotFound("no /metrics here: set RAMPWIRE_METRICS_TOKEN (or RAMPWIRE_METRICS_ADDR)")
    if not authorized(request.headers.get("authorization"), token.reveal()):
        raise Unauthorized("/metrics needs 'Authorization: Bearer <RAMPWIRE_METRICS_TOKEN>'")
    body = await shared.telemetry.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
