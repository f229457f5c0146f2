"""Orders: create, read, list, change, timeline."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from .. import logs
from ..authorization import Operation
from ..domain import serde
from ..domain.apikeys import ApiKey, Scope
from ..domain.currencies import amount_errors
from ..domain.events import Source
from ..domain.lifecycle import Change
from ..domain.orders import (
    ORDER_ID_PREFIX,
    PATCHABLE_FIELDS,
    Order,
    OrderData,
    OrderStatus,
    Provider,
    Side,
)
from ..domain.serde import PatchError
from ..domain.timeline import TimelineEntry, entry_body
from ..errors import BadRequest, InvalidRequest
from ..ids import has_prefix
from ..repository import IdempotencyClaim, OrderFilter, OrderRepository
from ..repository.tenancy import Kind, owner_of
from ..settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from ..types import utcnow
from . import authorization
from .bodies import json_response, require_json
from .openapi import AUTHENTICATED, BODY, FOUND, id_path, problems
from .queries import QueryTime, known_query
from .schemas import ChangeResponse, OrderChange, OrderCreate, OrderPage, Timeline
from .security import require
from .state import state
from .tenants import listing, owner_for_new

router = APIRouter(
    prefix="/v1/orders",
    tags=["orders"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)
OrderId = Annotated[str, id_path(ORDER_ID_PREFIX, "order")]
CONFLICT = problems(409)

MAX_IDEMPOTENCY_KEY_LENGTH = 255
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]+$")


def repo(request: Request) -> OrderRepository:
    return state(request).orders


def _order_id(order_id: str) -> str:
    if not has_prefix(order_id, ORDER_ID_PREFIX):
        raise BadRequest(f"{order_id!r} is not an order id (ord_ followed by 26 characters)")
    return order_id


def _source(now: datetime) -> Source:
    return Source(provider=None, provider_event="api", received_at=now)


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(require_json)],
    responses={201: {"model": Order}, **BODY, **CONFLICT, **FOUND},
    summary="Create an order",
)
async def create_order(
    body: OrderCreate,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.WRITE))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Create an order. With an `Idempotency-Key` header, a retry returns the same order (and
    the header `Idempotent-Replayed: true`); the same key with a different body is a 409."""
    now = utcnow()
    claim = None
    if idempotency_key is not None:
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH or not _IDEMPOTENCY_KEY.match(
            idempotency_key
        ):
            raise BadRequest(
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII "
                "characters without spaces"
            )
        digest = hashlib.sha256(serde.to_json(serde.dump(body))).hexdigest()
        # per partner: any of a partner's keys retrying the same create gets the same order
        scope = key.partner_id or key.id
        claim = IdempotencyClaim(api_key_id=scope, key=idempotency_key, request_hash=digest)
    partner_id = await owner_for_new(request, key, body.partner_id)
    data = OrderData(**{f.name: getattr(body, f.name) for f in dataclasses.fields(OrderData)})
    _check_amounts({name: getattr(data, name) for name in PATCHABLE_FIELDS}, prefix="")
    decision_id = None
    if claim is None or not await repo(request).is_replay(claim):
        # the order's id is made by the create, so the decision is linked to it afterwards
        decision_id = await authorization.check(
            request, Operation.for_side(data.side), data, order_id=None, partner_id=partner_id
        )
    result = await repo(request).create(
        data,
        status=body.status,
        occurred_at=body.occurred_at or now,
        source=_source(now),
        now=now,
        actor=key.id,
        idempotency=claim,
        partner_id=partner_id,
    )
    await authorization.link(request, decision_id, result.order.id)
    logs.tag(order_id=result.order.id, partner_id=partner_id)
    headers = {"Location": f"/v1/orders/{result.order.id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(result.response, 201, headers)


@router.get("", responses={200: {"model": OrderPage}, **FOUND}, summary="List orders")
async def list_orders(
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.READ))],
    status: Annotated[list[OrderStatus] | None, Query()] = None,
    provider: Provider | None = None,
    side: Side | None = None,
    created_from: QueryTime | None = None,
    created_to: QueryTime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
    partner: str | None = None,
) -> Response:
    """Orders, newest first (a partner key: its partner's; an operator key: all, or one
    `partner`'s). Filter by status (repeat it for several), provider, side and a
    creation range (`created_from` inclusive, `created_to` exclusive: ISO 8601 with a timezone,
    or seconds since 1970); page with `cursor`. A stored order that cannot be read is left out
    and its id listed in `unreadable`."""
    if cursor is not None and not has_prefix(cursor, ORDER_ID_PREFIX):
        raise BadRequest("cursor is not one this API returned; pass next_cursor unchanged")
    filters = OrderFilter(
        statuses=tuple(status or ()),
        provider=None if provider is None else provider.value,
        side=None if side is None else side.value,
        created_from=created_from,
        created_to=created_to,
        partner_id=listing(key, partner).filter,
    )
    found = await repo(request).find(filters, limit=limit, before=cursor)
    page: dict[str, object] = {
        "data": [serde.dump(o) for o in found.orders],
        "next_cursor": found.last_id if found.rows == limit else None,
    }
    if found.unreadable:
        page["unreadable"] = found.unreadable
    return json_response(serde.to_json(page))


@router.get("/{order_id}", responses={200: {"model": Order}, **FOUND, **CONFLICT})
async def get_order(
    order_id: OrderId, request: Request, key: Annotated[ApiKey, Depends(require(Scope.READ))]
) -> Response:
    """One order, as it is now."""
    order = await repo(request).get(_order_id(order_id), key.tenant)
    await authorization.check(
        request,
        Operation.READ,
        order,
        order_id=order.id,
        partner_id=await _owner(request, key, order),
    )
    return json_response(serde.order_to_json(order))


@router.post(
    "/{order_id}/changes",
    dependencies=[Depends(require_json)],
    responses={200: {"model": ChangeResponse}, **BODY, **FOUND, **CONFLICT},
    summary="Change an order's status or fields",
)
async def change_order(
    order_id: OrderId,
    body: OrderChange,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.WRITE))],
) -> Response:
    """Apply a status change, field updates (`set`), or both. The caller is the authority on
    its own orders: a change that would move the order backwards, or replace a final status,
    is refused with 409 and nothing is written. Returns the order and the event produced
    (null when nothing changed)."""
    _order_id(order_id)
    if body.status is None and not body.set:
        raise InvalidRequest(
            "give a status, fields to set, or both",
            errors=[{"field": "body", "reason": "needs status or set"}],
        )
    try:
        patch = serde.load_patch(body.set)
    except PatchError as exc:
        raise _invalid(exc.errors, prefix="set.") from exc
    _check_amounts(patch, prefix="set.")
    now = utcnow()
    result = await repo(request).change(
        order_id,
        Change(occurred_at=body.occurred_at or now, status=body.status, patch=patch),
        source=_source(now),
        strict=True,
        now=now,
        actor=key.id,
        note=body.note,
        tenant=key.tenant,
    )
    event = result.events[0].payload if result.events else b"null"
    return json_response(
        b'{"order":' + serde.order_to_json(result.order) + b',"event":' + event + b"}"
    )


@router.get("/{order_id}/timeline", responses={200: {"model": Timeline}, **FOUND, **CONFLICT})
async def order_timeline(
    order_id: OrderId, request: Request, key: Annotated[ApiKey, Depends(require(Scope.READ))]
) -> Response:
    """Every change that touched the order, in arrival order: applied, stale or unchanged."""
    order = await repo(request).get(_order_id(order_id), key.tenant)
    await authorization.check(
        request,
        Operation.READ,
        order,
        order_id=order.id,
        partner_id=await _owner(request, key, order),
    )
    entries = await repo(request).timeline(order_id, key.tenant)
    return json_response(serde.to_json({"order_id": order_id, "data": [_item(e) for e in entries]}))


async def _owner(request: Request, key: ApiKey, order: Order) -> str | None:
    """The order's partner, whose callback answers for its users: a partner key's own."""
    return key.partner_id or await owner_of(state(request).db, Kind.ORDER, order.id)


def _check_amounts(values: dict[str, Any], *, prefix: str) -> None:
    """The rules on a caller's amounts (:func:`rampwire.currencies.amount_errors`): ISO 4217
    fiat currencies and their minor units, places, bounds, signs."""
    errors = amount_errors(values)
    if errors:
        raise _invalid(errors, prefix=prefix)


def _invalid(errors: list[tuple[str, str]], *, prefix: str) -> InvalidRequest:
    named = [{"field": f"{prefix}{name}", "reason": reason} for name, reason in errors]
    return InvalidRequest("; ".join(f"{e['field']}: {e['reason']}" for e in named), errors=named)


def _item(entry: TimelineEntry) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "kind": entry.kind.value,
        "recorded_at": entry.recorded_at,
        "occurred_at": entry.occurred_at,
        **entry_body(entry),
    }
