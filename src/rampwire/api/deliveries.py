"""Deliveries and their attempts: read them, replay one, or retry one now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from ..domain import serde
from ..domain.apikeys import ApiKey, Scope
from ..domain.deliveries import (
    BODY_CAP_BYTES,
    DELIVERY_ID_PREFIX,
    Attempt,
    Delivery,
    ErrorClass,
)
from ..domain.events import EVENT_ID_PREFIX
from ..errors import BadRequest
from ..ids import has_prefix
from ..repository.deliveries import DeliveryRepository
from ..settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from ..types import utcnow
from .bodies import JSON, json_response
from .openapi import AUTHENTICATED, FOUND, id_path, problems
from .queries import known_query
from .schemas import DeliveryDetail, DeliveryOut, EventDeliveries
from .security import require
from .state import state

router = APIRouter(
    prefix="/v1", tags=["deliveries"], dependencies=[Depends(known_query)], responses=AUTHENTICATED
)
DeliveryId = Annotated[str, id_path(DELIVERY_ID_PREFIX, "delivery")]
EventId = Annotated[str, id_path(EVENT_ID_PREFIX, "event")]


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """A FIFO delivery held back by an earlier one of its order shows ``blocked`` and that one,
    not a due time that has passed (the stored status stays pending or retrying)."""
    blocked = delivery.blocked_by is not None
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "order_id": delivery.order_id,
        "status": "blocked" if blocked else delivery.status.value,
        "blocked_by": delivery.blocked_by,
        "superseded_by": delivery.superseded_by,
        "attempts": delivery.attempts,
        "next_attempt_at": None if blocked else delivery.next_attempt_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
    }


def attempt_json(attempt: Attempt, payload: bytes | None = None) -> dict[str, Any]:
    """``payload``: the event's stored payload, the body of the attempts that sent it as is."""
    body = attempt.request_body
    if body is None and payload is not None and attempt.error_class is not ErrorClass.UNENCODABLE:
        body = payload[:BODY_CAP_BYTES].decode("utf-8", "replace")
    return {
        "attempt": attempt.attempt,
        "started_at": attempt.started_at,
        "duration_ms": round(attempt.duration_us / 1000, 3),
        "request": {
            "url": attempt.request_url,
            "headers": attempt.request_headers,
            "body": body,  # the first 16 KiB sent; null: nothing sent
        },
        "response": None
        if attempt.response_status is None
        else {
            "status": attempt.response_status,
            "headers": attempt.response_headers,
            "body": attempt.response_body,  # the first 16 KiB
        },
        "error_class": None if attempt.error_class is None else attempt.error_class.value,
        "error": attempt.error,
    }


def _repo(request: Request) -> DeliveryRepository:
    return state(request).deliveries


def _id(delivery_id: str) -> str:
    if not has_prefix(delivery_id, "dlv"):
        raise BadRequest(f"{delivery_id!r} is not a delivery id")
    return delivery_id


@router.get("/deliveries/{delivery_id}", responses={200: {"model": DeliveryDetail}, **FOUND})
async def get_delivery(
    delivery_id: DeliveryId, request: Request, _: Annotated[ApiKey, Depends(require(Scope.READ))]
) -> Response:
    """One delivery and every attempt: request, response (bodies capped), duration, error."""
    repo = _repo(request)
    delivery, attempts = await repo.get(_id(delivery_id))
    payload = None
    if any(a.request_body is None for a in attempts):
        payload = await repo.event_payload(delivery.event_id)
    return json_response(
        {**delivery_json(delivery), "attempt_log": [attempt_json(a, payload) for a in attempts]}
    )


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=201,
    responses={201: {"model": DeliveryOut}, **FOUND, **problems(409)},
)
async def replay_delivery(
    delivery_id: DeliveryId, request: Request, _: Annotated[ApiKey, Depends(require(Scope.WRITE))]
) -> Response:
    """Send the same event to the same endpoint again, as a new delivery. Deliveries of that
    event to that endpoint that still wait are superseded: their retries stop, and the replay
    takes their place in the order's FIFO. 409 when its event's row is gone (nothing to send)."""
    replayed = await _repo(request).replay(_id(delivery_id), now=utcnow())
    state(request).wake()
    return Response(serde.to_json(delivery_json(replayed)), status_code=201, media_type=JSON)


@router.post(
    "/deliveries/{delivery_id}/retry",
    responses={200: {"model": DeliveryOut}, **FOUND, **problems(409)},
)
async def retry_delivery(
    delivery_id: DeliveryId, request: Request, _: Annotated[ApiKey, Depends(require(Scope.WRITE))]
) -> Response:
    """Retry now: a pending or retrying delivery not being sent is due at once, its attempts
    kept. 409 when it does not wait (succeeded, dead, cancelled, superseded) or is in flight."""
    retried = await _repo(request).retry_now(_id(delivery_id), now=utcnow())
    state(request).wake()
    return json_response(delivery_json(retried))


@router.get("/events/{event_id}/deliveries", responses={200: {"model": EventDeliveries}})
async def event_deliveries(
    event_id: EventId,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.READ))],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
) -> Response:
    """Every delivery of one event, one per endpoint (plus replays); a partner key sees those
    to its own endpoints."""
    found = await _repo(request).find(event_id=event_id, limit=limit, partner_id=key.partner_id)
    return json_response({"data": [delivery_json(d) for d in found]})
