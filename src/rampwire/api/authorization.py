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
from ..errors import InvalidRequest, NotFound
from ..repository.authorization import AuthorizationRepository
from ..settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from ..types import utcnow
from .bodies import JSON, require_json
from .endpoints import check_target_url
from .openapi import AUTHENTICATED, BODY, FOUND
from .queries import known_query
from .security import require, require_operator
from .state import state

router = APIRouter(
    prefix="/v1/authorization",
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
    request: Request, operation: Operation, data: OrderData, *, order_id: str | None
) -> str | None:
    """Ask the partner, log the decision, and raise 403 ``user_not_allowed`` on a refusal.

    Returns the logged decision's id (for :func:`link`); None when no callback is configured or
    the operation is not checked.
    """
    repo = _repo(request)
    config = await repo.get()
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
    decision_id = await repo.record(decision, order_id=order_id)
    decision.raise_if_refused()
    return decision_id


async def link(request: Request, decision_id: str | None, order_id: str) -> None:
    """Name on the decision the order it allowed, once that order exists."""
    if decision_id is not None:
        await _repo(request).link(decision_id, order_id)


@router.put("", dependencies=[Depends(require_json)], responses=BODY)
async def put_config(
    body: AuthorizationIn, request: Request, _: Annotated[ApiKey, Depends(require(Scope.ADMIN))]
) -> Response:
    """Set the callback: URL, auth method, checked operations, timeout, failure mode, cache.
    The URL must be one webhooks may go to (the same target policy as endpoints)."""
    config = config_from_request(body)
    await check_target_url(config.url, state(request).settings)
    await _repo(request).put(config, now=utcnow())
    return Response(serde.to_json(config.to_public_dict()), media_type=JSON)


@router.get("", responses=FOUND)
async def get_config(
    request: Request, _: Annotated[ApiKey, Depends(require(Scope.ADMIN))]
) -> Response:
    """The callback's settings; for each secret only whether it is set."""
    config = await _repo(request).get()
    if config is None:
        raise NotFound("no authorization callback is configured")
    return Response(serde.to_json(config.to_public_dict()), media_type=JSON)


@router.delete("", status_code=204, responses=FOUND)
async def delete_config(
    request: Request, _: Annotated[ApiKey, Depends(require(Scope.ADMIN))]
) -> Response:
    """Stop calling the partner: every operation goes ahead unchecked."""
    if not await _repo(request).delete():
        raise NotFound("no authorization callback is configured")
    return Response(status_code=204)


@router.get("/decisions")
async def decisions(
    request: Request,
    _: Annotated[ApiKey, Depends(require_operator(Scope.READ))],
    order_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
) -> Response:
    """The decision log, newest first: outcome, reason, latency, partner status."""
    found = await _repo(request).decisions(order_id=order_id, limit=limit)
    return Response(serde.to_json({"data": found}), media_type=JSON)
