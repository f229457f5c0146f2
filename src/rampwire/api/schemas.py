"""Request and response shapes that exist only at the HTTP edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..delivery.endpoints import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_SIGNATURES,
    MAX_MAX_IN_FLIGHT,
    MAX_RATE_LIMIT,
    Ordering,
)
from ..domain.deliveries import ErrorClass
from ..domain.events import Source
from ..domain.orders import Order, OrderData, OrderStatus, Provider
from ..ingest.inbound import InboundOutcome
from ..types import Timestamp

_FORBID = ConfigDict(extra="forbid")


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderCreate(OrderData):
    """A new order: its data, and optionally a first status other than ``created``."""

    status: OrderStatus = OrderStatus.CREATED
    occurred_at: Timestamp | None = None  # when it happened; now if omitted
    # the partner it belongs to, given by an operator key; a partner key's orders are its own
    partner_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderChange:
    """A status change, field updates, or both. ``set`` holds order fields by name."""

    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    status: OrderStatus | None = None
    set: dict[str, Any] = field(default_factory=dict)
    occurred_at: Timestamp | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeResponse:
    order: Order
    event: dict[str, Any] | None  # the event envelope, as subscribers receive it


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderPage:
    data: list[Order]
    next_cursor: str | None  # pass as ``cursor`` for the next page; null on the last
    unreadable: list[str] | None = None  # stored orders of the page that could not be read


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineItem:
    seq: int
    kind: str  # created, applied, stale, unchanged
    recorded_at: Timestamp
    occurred_at: Timestamp
    status: str | None
    from_status: str
    to_status: str
    version: int
    changed_fields: list[str]
    event_ids: list[str]
    source: Source
    anomaly: dict[str, Any] | None
    actor: str | None
    note: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Timeline:
    order_id: str
    data: list[TimelineItem]


# What the routes answer. They send prebuilt JSON (``serde``), so these models only describe it,
# in the OpenAPI document; a test validates real answers against them (schemathesis).


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointOut(_Out):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    dialect: str
    headers: dict[str, str] = Field(description="custom headers, their values masked")
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    rate_limit: int | None = Field(description="requests/s; null: no limit")
    max_in_flight: int
    ordering: Ordering
    retry_policy: dict[str, Any] | None
    signatures: list[str] = Field(description="v1 (HMAC), v1a (ed25519) or both")
    traceparent: bool = Field(description="deliveries carry the attempt span's traceparent")
    last_success_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime
    partner_id: str | None = Field(description="the partner that owns it; null: the operator")
    partners: list[str] = Field(
        description='an operator endpoint\'s partners whose orders it also gets; ["*"]: all'
    )


class EndpointCreated(EndpointOut):
    secret: str | None = Field(description="the signing secret; null for fireblocks")


class EndpointPage(_Out):
    data: list[EndpointOut]
    next_cursor: str | None


class SecretOut(_Out):
    secret: str
    created_at: datetime
    expires_at: datetime | None


class Secrets(_Out):
    secrets: list[SecretOut] = Field(description="newest first")


class Headers(_Out):
    headers: dict[str, str]


class ReplayResult(_Out):
    replayed: int
    sent_again: int
    retried_now: int


class PendingEvent(_Out):
    delivery_id: str
    event: dict[str, Any] = Field(description="the event envelope, as subscribers receive it")


class PendingEvents(_Out):
    data: list[PendingEvent]
    next_cursor: str | None


class DeliveryOut(_Out):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    order_id: str | None
    status: str = Field(
        description="pending, retrying, succeeded, dead, cancelled, superseded, or blocked"
        " (an earlier delivery of its order still waits: `blocked_by`)"
    )
    blocked_by: str | None
    superseded_by: str | None
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class AttemptRequest(_Out):
    url: str
    headers: dict[str, str]
    body: str | None = Field(description="null: the event payload, unchanged")


class AttemptResponse(_Out):
    status: int
    headers: dict[str, str] | None
    body: str | None = Field(description="the first 16 KiB")


class AttemptOut(_Out):
    attempt: int
    started_at: datetime
    duration_ms: float
    request: AttemptRequest
    response: AttemptResponse | None
    error_class: ErrorClass | None
    error: str | None


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut]


class DeliveryPage(_Out):
    data: list[DeliveryOut]
    next_cursor: str | None


class EventDeliveries(_Out):
    data: list[DeliveryOut]


class SourceStatsOut(_Out):
    scope: str
    accepted: int
    duplicates: int
    rejected: int
    last_rejected_at: datetime | None
    last_rejection: str | None


class SourceOut(_Out):
    id: str
    provider: Provider
    name: str
    ingest_path: str
    enabled: bool
    disabled_at: datetime | None
    credentials: list[str] = Field(description="which credentials are set; never their values")
    options: dict[str, Any]
    stats: SourceStatsOut
    created_at: datetime
    updated_at: datetime
    partner_id: str | None = Field(description="the partner whose orders it receives")


class SourcePage(_Out):
    data: list[SourceOut]
    next_cursor: str | None


class InboundOut(_Out):
    id: str
    source_id: str
    provider: Provider
    received_at: datetime
    processed_at: datetime
    verification: str
    outcome: InboundOutcome
    detail: str | None
    provider_order_id: str | None
    provider_event: str | None
    order_id: str | None
    event_ids: list[str]
    attempts: int


class InboundDetail(InboundOut):
    dedupe_key: str
    peer_ip: str | None
    headers: dict[str, str]
    body: str


class InboundPage(_Out):
    data: list[InboundOut]
    next_cursor: str | None


class IngestAnswer(BaseModel):
    """``received``; for a new request (``duplicate`` false), its inbound record too."""

    model_config = ConfigDict(extra="allow")
    received: bool
    duplicate: bool


# Endpoints: what POST and PATCH /v1/endpoints take (validated further by ``api.endpoints``).

MAX_DESCRIPTION = 500


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    event_types: list[str] = Field(default_factory=lambda: ["*"])
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    disabled_reason: str | None = Field(None, max_length=MAX_DESCRIPTION)
    rate_limit: int | None = Field(None, ge=1, le=MAX_RATE_LIMIT, description="requests/s")
    max_in_flight: int = Field(DEFAULT_MAX_IN_FLIGHT, ge=1, le=MAX_MAX_IN_FLIGHT)
    ordering: Ordering = Ordering.NONE
    dialect: str = Field(
        "standard", description="standard, revolut, saber, fireblocks, koywe or transak"
    )
    retry_policy: dict[str, Any] | None = Field(
        None, description="overrides the dialect's retry policy"
    )
    partner_id: str | None = Field(
        None, description="an operator key's endpoint for a partner; a partner key's is its own"
    )
    partners: list[str] | None = Field(
        None,
        description='an operator endpoint also gets these partners\' orders; ["*"]: every one',
    )
    secret: str | None = Field(
        None,
        description="whsec_ for standard, the provider's secret or access token otherwise;"
        " generated when omitted (none for fireblocks: rampwire's RSA key signs)",
    )
    signatures: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SIGNATURES),
        description="standard endpoints: v1 (HMAC with the secret), v1a (rampwire's ed25519"
        " key, /.well-known/webhook-public-keys) or both",
    )
    traceparent: bool = Field(
        False,
        description="send a W3C traceparent header naming each attempt's span (with tracing on)",
    )


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    headers: dict[str, str] | None = None
    enabled: bool | None = None
    disabled_reason: str | None = Field(None, max_length=MAX_DESCRIPTION)
    rate_limit: int | None = Field(None, ge=1, le=MAX_RATE_LIMIT)
    max_in_flight: int | None = Field(None, ge=1, le=MAX_MAX_IN_FLIGHT)
    ordering: Ordering | None = None
    retry_policy: dict[str, Any] | None = None
    partners: list[str] | None = None
    signatures: list[str] | None = None
    traceparent: bool | None = None


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str | None = None


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: datetime
