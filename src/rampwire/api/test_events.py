"""Test events: ``POST /v1/endpoints/{id}/test-events`` sends an example event of a chosen type
to one endpoint, whatever its event-type filter, through the worker like any delivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..delivery.examples import DEFAULT_TEST_EVENT, make_test_event
from ..dialects import get_dialect
from ..domain.apikeys import ApiKey, Scope
from ..domain.deliveries import Delivery
from ..domain.events import EVENT_TYPES
from ..errors import Conflict, InvalidRequest
from ..repository.test_events import send_test_event
from ..types import utcnow
from .bodies import json_response
from .deliveries import delivery_json
from .endpoints import EndpointId, endpoint_id_of
from .openapi import AUTHENTICATED, BODY, FOUND, problems
from .queries import known_query
from .schemas import DeliveryOut
from .security import require
from .state import state

router = APIRouter(
    prefix="/v1/endpoints",
    tags=["endpoints"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)


class TestEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_type: str = Field(DEFAULT_TEST_EVENT, description="any type of GET /v1/event-types")


def _invalid(reason: str) -> InvalidRequest:
    return InvalidRequest(
        f"event_type: {reason}", errors=[{"field": "event_type", "reason": reason}]
    )


async def send_test(request: Request, endpoint_id: str, event_type: str) -> Delivery:
    """Send an example ``event_type`` to the endpoint (the tenancy check is the caller's);
    422 for a type the endpoint's format cannot carry, 409 while it is disabled."""
    app = state(request)
    endpoint = await app.endpoints.get(endpoint_id_of(endpoint_id))
    if event_type not in EVENT_TYPES:
        raise _invalid(f"{event_type!r} is not an event type; see GET /v1/event-types")
    if not get_dialect(endpoint.dialect).can_encode(event_type):
        raise _invalid(f"a {endpoint.dialect} endpoint cannot receive {event_type}")
    if not endpoint.enabled:
        raise Conflict(f"endpoint {endpoint.id} is disabled: enable it to send a test event")
    now = utcnow()
    event = make_test_event(endpoint, event_type, now=now)
    delivery_id = await send_test_event(app.db, endpoint, event, now=now)
    app.wake()
    found, _ = await app.deliveries.get(delivery_id)
    return found


@router.post(
    "/{endpoint_id}/test-events",
    status_code=201,
    responses={201: {"model": DeliveryOut}, **FOUND, **BODY, **problems(409)},
)
async def create_test_event(
    endpoint_id: EndpointId,
    request: Request,
    _: Annotated[ApiKey, Depends(require(Scope.WRITE))],
    body: TestEventIn | None = None,
) -> Response:
    """Send an example event (default `order.completed`, with a sample order in the
    endpoint's format) to this endpoint only, whatever its `event_types`: a new delivery,
    retried and logged like any other. The event names no order (`order_id` null)."""
    event_type = body.event_type if body is not None else DEFAULT_TEST_EVENT
    delivery = await send_test(request, endpoint_id, event_type)
    return json_response(delivery_json(delivery), 201)
