"""Endpoints: create, list, get, update, delete; secrets and their rotation; replay and pull."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from ..delivery.endpoints import (
    ENDPOINT_ID_PREFIX,
    Endpoint,
    EndpointError,
    SigningSecret,
    check_dialect,
    check_headers,
    check_patterns,
    check_secret,
    check_signatures,
    masked_headers,
    new_secret,
    unmask_headers,
)
from ..delivery.retry import policy_from_json
from ..dialects.base import DialectName
from ..domain import serde
from ..domain.apikeys import ApiKey, Scope
from ..domain.deliveries import DeliveryStatus
from ..errors import BadRequest, InvalidRequest
from ..ids import has_prefix
from ..repository.deliveries import DeliveryRepository
from ..repository.endpoints import EndpointRepository
from ..settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Secret, Settings
from ..ssrf import ForbiddenTarget, check_url, resolve_and_check
from ..types import utcnow
from .bodies import JSON, json_response, require_json
from .deliveries import delivery_json
from .openapi import AUTHENTICATED, BODY, FOUND, id_path
from .queries import known_query
from .schemas import (
    DeliveryPage,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    Headers,
    PendingEvents,
    ReplayIn,
    ReplayResult,
    RotateIn,
    Secrets,
)
from .security import require
from .state import state
from .tenants import listing, owner_for_new, subscribed_partners

router = APIRouter(
    prefix="/v1/endpoints",
    tags=["endpoints"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)
EndpointId = Annotated[str, id_path(ENDPOINT_ID_PREFIX, "endpoint")]


def _endpoints(request: Request) -> EndpointRepository:
    return state(request).endpoints


def _deliveries(request: Request) -> DeliveryRepository:
    return state(request).deliveries


def endpoint_id_of(endpoint_id: str) -> str:
    if not has_prefix(endpoint_id, "ep"):
        raise BadRequest(f"{endpoint_id!r} is not an endpoint id (ep_ followed by 26 characters)")
    return endpoint_id


def _invalid(field: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


async def check_target_url(
    url: str, settings: Settings, *, field: str = "url", warn_unresolved: bool = False
) -> list[str]:
    """Refuse (422 naming ``field``) a URL the target policy forbids, loopback, private and
    metadata addresses among them, by its literal host or what its name resolves to.

    A name that does not resolve is refused too, or, with ``warn_unresolved``, accepted with the
    returned warning: its DNS may not exist yet, and every send checks the target again.
    """
    try:
        target = check_url(url, settings.target_policy)
        await resolve_and_check(target.host, target.port, settings.target_policy)
    except ForbiddenTarget as exc:
        raise _invalid(field, exc.message) from exc
    except OSError as exc:
        reason = f"the host does not resolve ({exc})"
        if not warn_unresolved:
            raise _invalid(field, reason) from exc
        return [f"{field}: {reason}; saved anyway, each delivery checks it again when sent"]
    return []


def _check(changes: dict[str, Any], dialect: DialectName) -> dict[str, Any]:
    """Validate the fields that need more than their types; raise 422 naming the field."""
    try:
        if changes.get("event_types") is not None:
            changes["event_types"] = check_patterns(changes["event_types"], dialect)
        if changes.get("headers") is not None:
            changes["headers"] = check_headers(changes["headers"])
        if changes.get("secret") is not None:
            check_secret(changes["secret"], dialect)
        if changes.get("signatures") is not None:
            changes["signatures"] = check_signatures(changes["signatures"], dialect)
    except EndpointError as exc:
        raise _invalid(exc.field, exc.reason) from exc
    if changes.get("retry_policy") is not None:
        try:
            policy_from_json(changes["retry_policy"])
        except ValueError as exc:
            raise _invalid("retry_policy", str(exc)) from exc
    return changes


def _dialect(name: str) -> DialectName:
    try:
        return check_dialect(name)
    except EndpointError as exc:
        raise _invalid(exc.field, exc.reason) from exc


def endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "dialect": endpoint.dialect,
        "headers": masked_headers(endpoint.headers),
        "enabled": endpoint.enabled,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "rate_limit": endpoint.rate_limit,
        "max_in_flight": endpoint.max_in_flight,
        "ordering": endpoint.ordering.value,
        "retry_policy": endpoint.retry_policy,
        "signatures": list(endpoint.signatures),
        "traceparent": endpoint.traceparent,
        "last_success_at": endpoint.last_success_at,
        "failing_since": endpoint.failing_since,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "partner_id": endpoint.partner_id,
        "partners": list(endpoint.partners),
    }


def secrets_json(endpoint: Endpoint) -> dict[str, Any]:
    now = utcnow()
    return {
        "secrets": [
            {"secret": s.value.reveal(), "created_at": s.created_at, "expires_at": s.expires_at}
            for s in sorted(endpoint.secrets, key=lambda s: s.created_at, reverse=True)
            if s.active(now)
        ]
    }


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(require_json)],
    responses={201: {"model": EndpointCreated}, **BODY, **FOUND},
)
async def create_endpoint(
    body: EndpointIn, request: Request, key: Annotated[ApiKey, Depends(require(Scope.WRITE))]
) -> Response:
    """Subscribe a URL to events: a partner key's endpoint gets its partner's orders' events;
    an operator's gets the operator's orders' and those of the `partners` it lists. The
    response carries the signing secret (also readable at `/v1/endpoints/{id}/secret`)."""
    endpoint, secret, warnings = await create(request, key, body)
    return json_response({**endpoint_json(endpoint), "secret": secret, "warnings": warnings}, 201)


async def create(
    request: Request, key: ApiKey, body: EndpointIn
) -> tuple[Endpoint, str | None, list[str]]:
    """A new endpoint of ``key``'s tenant (the API's and the dashboard's one way to make one):
    the endpoint, its secret, and warnings; 422 naming the field for anything invalid."""
    owner = await owner_for_new(request, key, body.partner_id)
    partners = await subscribed_partners(request, key, owner, body.partners)
    dialect = _dialect(body.dialect)
    fields = _check(body.model_dump(), dialect)
    warnings = await check_target_url(body.url, state(request).settings, warn_unresolved=True)
    now = utcnow()
    secret = fields["secret"] or new_secret(dialect)
    endpoint = Endpoint(
        id=EndpointRepository.new_id(),
        url=body.url,
        description=body.description,
        event_types=fields["event_types"],
        dialect=dialect.value,
        headers=fields["headers"],
        secrets=() if secret is None else (SigningSecret(value=Secret(secret), created_at=now),),
        rate_limit=body.rate_limit,
        max_in_flight=body.max_in_flight,
        ordering=body.ordering,
        retry_policy=body.retry_policy,
        signatures=fields["signatures"],
        traceparent=body.traceparent,
        disabled_at=None if body.enabled else now,
        disabled_reason=None if body.enabled else (body.disabled_reason or "disabled"),
        created_at=now,
        updated_at=now,
        partner_id=owner,
        partners=partners,
    )
    await _endpoints(request).create(endpoint)
    return endpoint, secret, warnings


@router.get("", responses={200: {"model": EndpointPage}, **FOUND})
async def list_endpoints(
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.READ))],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
    partner: str | None = None,
) -> Response:
    """Endpoints, newest first: a partner key's own; an operator key's all, or a `partner`'s."""
    whose = listing(key, partner).filter
    found = await _endpoints(request).all(limit=limit, before=cursor, partner_id=whose)
    next_cursor = found[-1].id if len(found) == limit else None
    return json_response({"data": [endpoint_json(e) for e in found], "next_cursor": next_cursor})


@router.get("/{endpoint_id}", responses={200: {"model": EndpointOut}, **FOUND})
async def get_endpoint(
    endpoint_id: EndpointId, request: Request, _: Annotated[ApiKey, Depends(require(Scope.READ))]
) -> Response:
    return json_response(endpoint_json(await _endpoints(request).get(endpoint_id_of(endpoint_id))))


@router.patch(
    "/{endpoint_id}",
    dependencies=[Depends(require_json)],
    responses={200: {"model": EndpointOut}, **FOUND, **BODY},
)
async def update_endpoint(
    endpoint_id: EndpointId,
    body: EndpointPatch,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.WRITE))],
) -> Response:
    """Change some settings; `enabled: false` (with `disabled_reason`) pauses deliveries."""
    updated, warnings = await update(request, key, endpoint_id, body)
    return json_response({**endpoint_json(updated), "warnings": warnings})


async def update(
    request: Request, key: ApiKey, endpoint_id: str, body: EndpointPatch
) -> tuple[Endpoint, list[str]]:
    """Change the fields ``body`` sets (the API's and the dashboard's one way): the endpoint
    and warnings; 422 naming the field for anything invalid."""
    endpoints = _endpoints(request)
    current = await endpoints.get(endpoint_id_of(endpoint_id))
    fields = {name: getattr(body, name) for name in body.model_fields_set}
    if "partners" in fields:
        fields["partners"] = await subscribed_partners(
            request, key, current.partner_id, fields["partners"]
        )
    if fields.get("headers") is not None:
        try:
            fields["headers"] = unmask_headers(fields["headers"], current.headers)
        except EndpointError as exc:
            raise _invalid(exc.field, exc.reason) from exc
    changes = _check(fields, _dialect(current.dialect))
    warnings = []
    if "url" in changes:
        if changes["url"] is None:
            raise _invalid("url", "cannot be null")
        settings = state(request).settings
        warnings = await check_target_url(changes["url"], settings, warn_unresolved=True)
    for name in (
        "event_types", "headers", "max_in_flight", "ordering", "enabled", "signatures",
        "traceparent",
    ):  # fmt: skip
        if name in changes and changes[name] is None:
            raise _invalid(name, "cannot be null")
    updated = await endpoints.update(current.id, changes, now=utcnow())
    _changed(request, current.id)
    return updated, warnings


def _changed(request: Request, endpoint_id: str) -> None:
    """This process's worker sends with the endpoint's new settings from its next send."""
    worker = state(request).worker
    if worker is not None:
        worker.forget(endpoint_id)


@router.delete("/{endpoint_id}", status_code=204, responses=FOUND)
async def delete_endpoint(
    endpoint_id: EndpointId, request: Request, _: Annotated[ApiKey, Depends(require(Scope.WRITE))]
) -> Response:
    """Remove the endpoint; waiting deliveries are cancelled, the history is kept."""
    await _endpoints(request).delete(endpoint_id_of(endpoint_id), now=utcnow())
    return Response(status_code=204)


@router.get("/{endpoint_id}/secret", responses={200: {"model": Secrets}, **FOUND})
async def get_secret(
    endpoint_id: EndpointId, request: Request, _: Annotated[ApiKey, Depends(require(Scope.WRITE))]
) -> Response:
    """The signing secrets in use, newest first (two during a rotation's 24 h overlap)."""
    return json_response(secrets_json(await _endpoints(request).get(endpoint_id_of(endpoint_id))))


@router.get("/{endpoint_id}/headers", responses={200: {"model": Headers}, **FOUND})
async def get_headers(
    endpoint_id: EndpointId, request: Request, _: Annotated[ApiKey, Depends(require(Scope.WRITE))]
) -> Response:
    """The custom headers with their values (elsewhere the values are masked: they are often
    credentials)."""
    return json_response(
        {"headers": dict((await _endpoints(request).get(endpoint_id_of(endpoint_id))).headers)}
    )


@router.post("/{endpoint_id}/secret/rotate", responses={200: {"model": Secrets}, **FOUND, **BODY})
async def rotate_secret(
    endpoint_id: EndpointId,
    request: Request,
    _: Annotated[ApiKey, Depends(require(Scope.WRITE))],
    body: RotateIn | None = None,
) -> Response:
    """Start signing with a new secret; the old one keeps signing for 24 hours."""
    given = body.secret if body is not None else None
    return json_response(secrets_json(await rotate(request, endpoint_id, given)))


async def rotate(request: Request, endpoint_id: str, secret: str | None) -> Endpoint:
    """Sign with ``secret`` (generated when None) from now on, the old one for 24 h more."""
    endpoints = _endpoints(request)
    current = await endpoints.get(endpoint_id_of(endpoint_id))
    dialect = _dialect(current.dialect)
    secret = secret if secret is not None else new_secret(dialect)
    if secret is None:
        raise _invalid("dialect", f"{dialect.value} endpoints have no secret to rotate")
    _check({"secret": secret}, dialect)
    rotated = await endpoints.rotate_secret(current.id, secret, now=utcnow())
    _changed(request, current.id)
    return rotated


@router.get("/{endpoint_id}/deliveries", responses={200: {"model": DeliveryPage}, **FOUND})
async def endpoint_deliveries(
    endpoint_id: EndpointId,
    request: Request,
    _: Annotated[ApiKey, Depends(require(Scope.READ))],
    status: Annotated[list[DeliveryStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
) -> Response:
    """This endpoint's deliveries, newest first, with their status."""
    await _endpoints(request).get(endpoint_id_of(endpoint_id))
    found = await _deliveries(request).find(
        endpoint_id=endpoint_id, statuses=tuple(status or ()), limit=limit, before=cursor
    )
    next_cursor = found[-1].id if len(found) == limit else None
    return json_response({"data": [delivery_json(d) for d in found], "next_cursor": next_cursor})


@router.post(
    "/{endpoint_id}/replay",
    dependencies=[Depends(require_json)],
    responses={200: {"model": ReplayResult}, **FOUND, **BODY},
)
async def replay_endpoint(
    endpoint_id: EndpointId,
    body: ReplayIn,
    request: Request,
    _: Annotated[ApiKey, Depends(require(Scope.WRITE))],
) -> Response:
    """Retry now every retrying delivery made since `since`, and send again the events whose
    newest delivery is dead or cancelled (not those sent again already: calling twice sends
    nothing more). `replayed` is the sum of `sent_again` and `retried_now`."""
    if body.since.tzinfo is None:
        raise _invalid("since", "must carry a timezone")
    await _endpoints(request).get(endpoint_id_of(endpoint_id))
    done = await _deliveries(request).replay_failed(endpoint_id, since=body.since, now=utcnow())
    state(request).wake()
    return json_response(
        {
            "replayed": done.sent_again + done.retried_now,
            "sent_again": done.sent_again,
            "retried_now": done.retried_now,
        }
    )


@router.get("/{endpoint_id}/pending-events", responses={200: {"model": PendingEvents}, **FOUND})
async def pending_events(
    endpoint_id: EndpointId,
    request: Request,
    _: Annotated[ApiKey, Depends(require(Scope.READ))],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
) -> Response:
    """Pull: the events this endpoint has not received yet, oldest first, from `cursor`."""
    await _endpoints(request).get(endpoint_id_of(endpoint_id))
    rows = await _deliveries(request).pending_events(endpoint_id, limit=limit, after=cursor)
    items = b",".join(
        b'{"delivery_id":"' + d.encode() + b'","event":' + payload + b"}" for d, payload in rows
    )
    next_cursor = rows[-1][0] if len(rows) == limit else None
    tail = serde.to_json(next_cursor)
    return Response(b'{"data":[' + items + b'],"next_cursor":' + tail + b"}", media_type=JSON)
