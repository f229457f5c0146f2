"""Event types: what each webhook rampwire sends carries, as JSON Schema.

``GET /v1/event-types`` lists every type with the schema of its envelope, and the OpenAPI
document's ``webhooks`` section (OpenAPI 3.1) is built from the same models, so the two cannot
disagree. The models describe what :mod:`rampwire.events` writes; they validate nothing at run
time (the envelope is written once, at commit, and sent byte for byte).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..dialects.base import DialectName
from ..dialects.samples import sample_order
from ..domain import serde
from ..domain.apikeys import ApiKey, Scope
from ..domain.events import (
    EVENT_TYPES,
    Source,
    created_event,
    endpoint_disabled_event,
    stuck_event,
)
from ..domain.orders import Order, OrderStatus, Side
from .bodies import JSON
from .openapi import AUTHENTICATED, SCHEMA_REF, schemas_of
from .queries import known_query
from .security import require

router = APIRouter(
    prefix="/v1/event-types",
    tags=["event types"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Anomaly(_Closed):
    code: str = Field(description="terminal_conflict or amount_mismatch")
    detail: str
    statuses: list[str]


class Stuck(_Closed):
    status: OrderStatus
    since: datetime
    sla_seconds: int
    for_seconds: int


class OrderEventData(_Closed):
    order: Order = Field(description="the order after the change")
    previous_status: OrderStatus | None = Field(description="null for a new order")
    sequence: int = Field(description="the order's version after the change")
    source: Source


class AnomalyEventData(OrderEventData):
    anomaly: Anomaly


class StuckEventData(OrderEventData):
    stuck: Stuck


class EndpointDisabledData(_Closed):
    endpoint_id: str
    url: str
    reason: str
    disabled_at: datetime


class _Envelope(_Closed):
    id: str = Field(description="evt_...; also the webhook-id header, stable across retries")
    type: str
    created_at: datetime


class OrderEvent(_Envelope):
    data: OrderEventData


class AnomalyEvent(_Envelope):
    data: AnomalyEventData


class StuckEvent(_Envelope):
    data: StuckEventData


class EndpointDisabledEvent(_Envelope):
    data: EndpointDisabledData


class EventType(_Closed):
    type: str
    description: str
    payload_schema: dict[str, Any] = Field(
        alias="schema", description="JSON Schema (2020-12) of the event's envelope"
    )


class EventTypes(_Closed):
    data: list[EventType]


def _model(event_type: str) -> type[_Envelope]:
    return {
        "order.anomaly": AnomalyEvent,
        "order.stuck": StuckEvent,
        "endpoint.disabled": EndpointDisabledEvent,
    }.get(event_type, OrderEvent)


def describe(event_type: str) -> str:
    special = {
        "order.updated": "fields of an order changed, its status did not",
        "order.anomaly": "a change raised an anomaly (a conflicting final status, amounts that"
        " disagree); sent beside the change's own event",
        "order.stuck": "an order stayed in its status past that status's SLA",
        "endpoint.disabled": "an endpoint stopped receiving (410 Gone, or failing for days)",
    }
    if event_type in special:
        return special[event_type]
    status = event_type.removeprefix("order.")
    return f"an order moved to {status}, or was created in it"


def _typed(schema: dict[str, Any], event_type: str) -> dict[str, Any]:
    schema["properties"]["type"] = {"const": event_type, "type": "string"}
    schema["title"] = event_type
    return schema


@cache
def catalogue() -> bytes:
    """The body of ``GET /v1/event-types``, built once: each schema self-contained."""
    data = [
        {
            "type": event_type,
            "description": describe(event_type),
            "schema": _typed(
                _model(event_type).model_json_schema(mode="serialization"), event_type
            ),
        }
        for event_type in EVENT_TYPES
    ]
    return serde.to_json({"data": data})


_EXAMPLE_AT = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@cache
def example(event_type: str) -> bytes:
    """An example envelope of ``event_type`` as a ``standard`` endpoint receives it, built by
    the same functions that write real events (ids random, the order a sample's)."""
    now = _EXAMPLE_AT
    if event_type == "endpoint.disabled":
        event = endpoint_disabled_event(
            "ep_01KBQ3G9P8V7X1Y2Z3A4B5C6D7", "https://example.com/hooks", "410 Gone", now=now
        )
        return event.payload
    named = event_type.removeprefix("order.")
    status = OrderStatus(named) if named in set(OrderStatus) else OrderStatus.PROCESSING
    order = sample_order(
        DialectName.STANDARD, status, Side.BUY, now=now, rng=random.Random(event_type)
    )
    source = Source(received_at=now)
    if event_type == "order.stuck":
        stuck = {"status": status.value, "since": now, "sla_seconds": 3600, "for_seconds": 3700}
        return stuck_event(order, stuck, source, now=now).payload
    envelope = serde.from_json(created_event(order, source, now=now).payload)
    envelope["type"] = event_type
    if event_type in ("order.updated", "order.anomaly"):
        envelope["data"]["previous_status"] = status.value
    if event_type == "order.anomaly":
        envelope["data"]["anomaly"] = {
            "code": "terminal_conflict",
            "detail": "failed after completed: kept completed",
            "statuses": ["completed", "failed"],
        }
    return serde.to_json(envelope)


def webhooks() -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI ``webhooks`` section, and the component schemas it refers to."""
    schemas = schemas_of(OrderEvent, AnomalyEvent, StuckEvent, EndpointDisabledEvent)
    hooks: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        envelope = {"$ref": SCHEMA_REF.format(model=_model(event_type).__name__)}
        schema = {"allOf": [envelope, {"properties": {"type": {"const": event_type}}}]}
        hooks[event_type] = {
            "post": {
                "summary": event_type,
                "description": describe(event_type)
                + ". Signed per the endpoint's dialect (standard: Standard Webhooks headers).",
                "operationId": f"webhook_{event_type.replace('.', '_')}",
                "tags": ["webhooks"],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": schema}},
                },
                "responses": {"2XX": {"description": "received; anything else is retried"}},
            }
        }
    return hooks, schemas


@router.get("", responses={200: {"model": EventTypes}})
async def event_types(
    request: Request, _: Annotated[ApiKey, Depends(require(Scope.READ))]
) -> Response:
    """Every event type rampwire sends, with the JSON Schema of its payload (the envelope, as a
    `standard` endpoint receives it; provider dialects re-encode it in their own format)."""
    return Response(catalogue(), media_type=JSON)
