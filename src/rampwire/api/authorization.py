"""The pre-execution authorization callback: its configuration, its decision log, and the
check the orders routes run before a buy, a sell or a read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..authorization import (
    DEFAULT_CACHE_TTL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    AuthKind,
    AuthorizationClient,
    AuthorizationConfig,
    FailureMode,
    Operation,
    OrderSummary,
    Subject,
)
from ..authorization.config import STORAGE_VERSION
from ..domain import serde
from ..domain.apikeys import ApiKey, Scope
from ..domain.orders import OrderData
from ..errors import Forbidden, InvalidRequest, NotFound
from ..repository.authorization import AuthorizationRepository
from ..settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from ..types import utcnow
from .bodies import JSON, require_json
from .endpoints import check_target_url
from .openapi import AUTHENTICATED, BODY, FOUND
from .partners import PartnerId, partner_id
from .queries import known_query
from .security import require, require_operator
from .state import state
from .tenants import listing

router = APIRouter(
    prefix="/v1/authorization",
    tags=["authorization"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)
# a partner's own callback, set by the operator
partner_router = APIRouter(
    prefix="/v1/partners",
    tags=["authorization"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)

_AUTH_FIELDS = {
    AuthKind.BEARER: ({"token"}, set()),
    AuthKind.BASIC: ({"password"}, {"username"}),
    AuthKind.HEADER: ({"value"}, {"name"}),
    AuthKind.HMAC_SHA256: ({"secret"}, set()),
}  # method: (secret fields, plain fields)


class AuthIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: AuthKind
    token: str | None = None
    username: str | None = None
    password: str | None = None
    name: str | None = None
    value: str | None = None
    secret: str | None = None


class AuthorizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    auth: AuthIn
    operations: list[Operation] = Field(default_factory=lambda: list(Operation))
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    failure_mode: FailureMode = FailureMode.CLOSED
    cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS


def config_from_request(body: AuthorizationIn) -> AuthorizationConfig:
    """Validate through the config's own storage form, so both paths check the same rules."""
    secret_fields, plain_fields = _AUTH_FIELDS[body.auth.method]
    given = {k for k, v in body.auth.model_dump().items() if v is not None and k != "method"}
    stray = given - secret_fields - plain_fields
    if stray:
        field = f"auth.{sorted(stray)[0]}"
        raise InvalidRequest(
            f"{field}: is not used by the {body.auth.method.value} method",
            errors=[{"field": field, "reason": f"not used by {body.auth.method.value}"}],
        )
    auth_doc: dict[str, Any] = {"method": body.auth.method.value}
    for name in plain_fields:
        auth_doc[name] = getattr(body.auth, name)
    document = {
        "version": STORAGE_VERSION,
        "url": body.url,
        "auth": auth_doc,
        "operations": {op.value: op in body.operations for op in Operation},
        "timeout_seconds": body.timeout_seconds,
        "failure_mode": body.failure_mode.value,
        "cache_ttl_seconds": body.cache_ttl_seconds,
    }
    secrets = {name: getattr(body.auth, name) or "" for name in secret_fields}
    return AuthorizationConfig.from_storage(document, secrets)


def _repo(request: Request) -> AuthorizationRepository:
    return state(request).authorization


async def check(
    request: Request,
    operation: Operation,
    data: OrderData,
    *,
    order_id: str | None,
    partner_id: str | None = None,
) -> str | None:
    """Ask the order's partner (its own callback, else the operator's), log the decision, and
    raise 403 ``user_not_allowed`` on a refusal.

    Returns the logged decision's id (for :func:`link`); None when no callback is configured or
    the operation is not checked.
    """
    repo = _repo(request)
    config = await repo.effective(partner_id)
    if config is None or not config.enabled_for(operation):
        return None
    try:
        subject = Subject.from_order(data)
    except ValueError as exc:
        raise InvalidRequest(
            "references.user_email (or references.partner_customer_id) is required while the "
            "authorization callback is enabled",
            errors=[{"field": "references.user_email", "reason": "is required"}],
        ) from exc
    client: AuthorizationClient = state(request).authorizer
    decision = await client.authorize(
        config, operation=operation, subject=subject, order=OrderSummary.from_order(data)
    )
    state(request).telemetry.metrics.decided(
        outcome=decision.outcome.value, seconds=decision.latency_ms / 1000
    )
    decision_id = await repo.record(decision, order_id=order_id, partner_id=partner_id)
    decision.raise_if_refused()
    return decision_id


async def link(request: Request, decision_id: str | None, order_id: str) -> None:
    """Name on the decision the order it allowed, once that order exists."""
    if decision_id is not None:
        await _repo(request).link(decision_id, order_id)


def _whose(key: ApiKey) -> str | None:
    """Whose callback ``/v1/authorization`` manages: a partner key's partner's (scope write);
    with an operator key (scope admin), the operator's default."""
    if key.partner_id is None and not key.scope.allows(Scope.ADMIN):
        raise Forbidden(
            f"this API key has scope {key.scope.value!r}; this needs 'admin'",
            required_scope=Scope.ADMIN.value,
        )
    return key.partner_id


async def save(
    request: Request, body: AuthorizationIn, partner_id: str | None
) -> AuthorizationConfig:
    """Validate and store a callback (the partner's, or with None the operator's default); the
    API's routes and the dashboard's forms both go through here."""
    config = config_from_request(body)
    await check_target_url(config.url, state(request).settings)
    await _repo(request).put(config, now=utcnow(), partner_id=partner_id)
    return config


async def _put(request: Request, body: AuthorizationIn, partner_id: str | None) -> Response:
    config = await save(request, body, partner_id)
    return Response(serde.to_json(config.to_public_dict()), media_type=JSON)


async def _get(request: Request, partner_id: str | None) -> Response:
    config = await _repo(request).get(partner_id)
    if config is None:
        raise NotFound("no authorization callback is configured")
    return Response(serde.to_json(config.to_public_dict()), media_type=JSON)


async def _delete(request: Request, partner_id: str | None) -> Response:
    if not await _repo(request).delete(partner_id):
        raise NotFound("no authorization callback is configured")
    return Response(status_code=204)


Writer = Annotated[ApiKey, Depends(require(Scope.WRITE))]
Operator = Annotated[ApiKey, Depends(require_operator(Scope.ADMIN))]


@router.put("", dependencies=[Depends(require_json)], responses=BODY)
async def put_config(body: AuthorizationIn, request: Request, key: Writer) -> Response:
    """Set the callback: URL, auth method, checked operations, timeout, failure mode, cache.
    The URL must be one webhooks may go to (the same target policy as endpoints). With a
    partner key, the partner's own callback; with an operator admin key, the default for
    partners that have none (and for the operator's own orders)."""
    return await _put(request, body, _whose(key))


@router.get("", responses=FOUND)
async def get_config(request: Request, key: Writer) -> Response:
    """The callback's settings; for each secret only whether it is set."""
    return await _get(request, _whose(key))


@router.delete("", status_code=204, responses=FOUND)
async def delete_config(request: Request, key: Writer) -> Response:
    """Stop calling this callback: a partner's orders fall back to the operator's default,
    the default's to none (every operation goes ahead unchecked)."""
    return await _delete(request, _whose(key))


@partner_router.put(
    "/{partner}/authorization", dependencies=[Depends(require_json)], responses=BODY
)
async def put_partner_config(
    partner: PartnerId, body: AuthorizationIn, request: Request, _: Operator
) -> Response:
    """Set a partner's own callback (operator keys)."""
    return await _put(request, body, await _partner(request, partner))


@partner_router.get("/{partner}/authorization", responses=FOUND)
async def get_partner_config(partner: PartnerId, request: Request, _: Operator) -> Response:
    """A partner's own callback; for each secret only whether it is set."""
    return await _get(request, await _partner(request, partner))


@partner_router.delete("/{partner}/authorization", status_code=204, responses=FOUND)
async def delete_partner_config(partner: PartnerId, request: Request, _: Operator) -> Response:
    """Remove a partner's own callback: its orders fall back to the operator's default."""
    return await _delete(request, await _partner(request, partner))


async def _partner(request: Request, partner: str) -> str:
    found = await state(request).partners.get(partner_id(partner))
    return found.id


@router.get("/decisions", responses=FOUND)
async def decisions(
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.READ))],
    order_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    partner: str | None = None,
) -> Response:
    """The decision log, newest first: outcome, reason, latency, partner status. A partner
    key reads the decisions on its partner's orders; an operator key all, or a `partner`'s."""
    whose = listing(key, partner).filter
    found = await _repo(request).decisions(order_id=order_id, limit=limit, partner_id=whose)
    return Response(serde.to_json({"data": found}), media_type=JSON)
