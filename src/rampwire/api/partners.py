"""Partners: the tenants of this rampwire, managed with operator keys; and their keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..domain import serde
from ..domain.apikeys import ApiKey, Scope
from ..domain.partners import (
    MAX_METADATA_BYTES,
    MAX_PARTNER_NAME,
    PARTNER_ID_PREFIX,
    Partner,
    PartnerStatus,
)
from ..errors import BadRequest, InvalidRequest
from ..ids import has_prefix
from ..repository.partners import PartnerRepository
from ..settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from ..types import utcnow
from .bodies import json_response, require_json
from .openapi import AUTHENTICATED, BODY, FOUND, id_path
from .queries import known_query
from .security import require_operator
from .state import state

router = APIRouter(
    prefix="/v1/partners",
    tags=["partners"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)
PartnerId = Annotated[str, id_path(PARTNER_ID_PREFIX, "partner")]
Operator = Annotated[ApiKey, Depends(require_operator(Scope.ADMIN))]


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_PARTNER_NAME)
    metadata: dict[str, Any] = Field(default_factory=dict)


class PartnerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=MAX_PARTNER_NAME)
    metadata: dict[str, Any] | None = None
    status: PartnerStatus | None = Field(
        None, description="`suspended`: its keys are refused and its deliveries wait"
    )


class PartnerKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_PARTNER_NAME)
    scope: Scope = Field(Scope.WRITE, description="read or write (admin is the operator's)")


class PartnerOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    status: PartnerStatus
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PartnerPage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: list[PartnerOut]
    next_cursor: str | None


class PartnerKeyOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    partner_id: str
    name: str
    scope: Scope
    token: str = Field(description="shown once, never stored")


def _partners(request: Request) -> PartnerRepository:
    return state(request).partners


def partner_id(value: str) -> str:
    if not has_prefix(value, PARTNER_ID_PREFIX):
        raise BadRequest(f"{value!r} is not a partner id (ptn_ followed by 26 characters)")
    return value


def checked_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(serde.to_json(value)) > MAX_METADATA_BYTES:
        raise InvalidRequest(
            f"metadata: at most {MAX_METADATA_BYTES} bytes as JSON",
            errors=[{"field": "metadata", "reason": f"over {MAX_METADATA_BYTES} bytes"}],
        )
    return value


def partner_json(partner: Partner) -> dict[str, Any]:
    return {
        "id": partner.id,
        "name": partner.name,
        "status": partner.status.value,
        "metadata": dict(partner.metadata),
        "created_at": partner.created_at,
        "updated_at": partner.updated_at,
    }


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(require_json)],
    responses={201: {"model": PartnerOut}, **BODY},
    summary="Create a partner",
)
async def create_partner(body: PartnerIn, request: Request, _: Operator) -> Response:
    """A new partner, `active`; give it a key with `POST /v1/partners/{id}/keys`."""
    partner = await _partners(request).create(
        name=body.name, metadata=checked_metadata(body.metadata), now=utcnow()
    )
    return json_response(partner_json(partner), 201, {"Location": f"/v1/partners/{partner.id}"})


@router.get("", responses={200: {"model": PartnerPage}}, summary="List partners")
async def list_partners(
    request: Request,
    _: Operator,
    status: PartnerStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
) -> Response:
    """Partners, newest first; filter by status, page with `cursor`."""
    if cursor is not None and not has_prefix(cursor, PARTNER_ID_PREFIX):
        raise BadRequest("cursor is not one this API returned; pass next_cursor unchanged")
    found = await _partners(request).find(status=status, limit=limit, before=cursor)
    next_cursor = found[-1].id if len(found) == limit else None
    return json_response({"data": [partner_json(p) for p in found], "next_cursor": next_cursor})


@router.get("/{partner}", responses={200: {"model": PartnerOut}, **FOUND})
async def get_partner(partner: PartnerId, request: Request, _: Operator) -> Response:
    """One partner."""
    return json_response(partner_json(await _partners(request).get(partner_id(partner))))


@router.patch(
    "/{partner}",
    dependencies=[Depends(require_json)],
    responses={200: {"model": PartnerOut}, **FOUND, **BODY},
)
async def update_partner(
    partner: PartnerId, body: PartnerPatch, request: Request, _: Operator
) -> Response:
    """Rename, replace the metadata, suspend (`"status": "suspended"`) or resume
    (`"active"`): resuming sends the deliveries that waited."""
    for name in body.model_fields_set:
        if getattr(body, name) is None:
            raise InvalidRequest(
                f"{name}: cannot be null", errors=[{"field": name, "reason": "cannot be null"}]
            )
    updated = await _partners(request).update(
        partner_id(partner),
        now=utcnow(),
        name=body.name,
        metadata=None if body.metadata is None else checked_metadata(body.metadata),
        status=body.status,
    )
    if body.status is PartnerStatus.ACTIVE:
        state(request).wake()  # its waiting deliveries are claimable again
    return json_response(partner_json(updated))


@router.delete("/{partner}", status_code=204, responses=FOUND)
async def delete_partner(partner: PartnerId, request: Request, _: Operator) -> Response:
    """Remove the partner: its keys are revoked; its orders and their history are kept."""
    await _partners(request).delete(partner_id(partner), now=utcnow())
    return Response(status_code=204)


@router.post(
    "/{partner}/keys",
    status_code=201,
    dependencies=[Depends(require_json)],
    responses={201: {"model": PartnerKeyOut}, **FOUND, **BODY},
    summary="Give a partner an API key",
)
async def create_partner_key(
    partner: PartnerId, body: PartnerKeyIn, request: Request, _: Operator
) -> Response:
    """A key bound to this partner (scope read or write): it sees and changes only the
    partner's objects. The token is in this answer only."""
    found = await _partners(request).get(partner_id(partner))
    key, token = await state(request).keys.create(body.name, body.scope, partner_id=found.id)
    return json_response(
        {
            "id": key.id,
            "partner_id": found.id,
            "name": key.name,
            "scope": key.scope.value,
            "token": token,
        },
        201,
    )
