"""Sources: the providers rampwire receives webhooks from. Credentials go in, never come out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..domain.apikeys import ApiKey, Scope
from ..domain.orders import Provider
from ..errors import BadRequest, InvalidRequest
from ..ids import has_prefix
from ..ingest.sources import SOURCE_ID_PREFIX, IngestSource, SourceError, check_credentials
from ..repository.sources import SourceRepository
from ..services.ingestor import Ingestor, SourceStats
from ..settings import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from ..types import utcnow
from .bodies import json_response, require_json
from .openapi import AUTHENTICATED, BODY, FOUND, id_path
from .queries import known_query
from .schemas import SourceOut, SourcePage
from .security import require_operator
from .state import state
from .tenants import listing, owner_for_new

router = APIRouter(
    prefix="/v1/sources",
    tags=["sources"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)
SourceId = Annotated[str, id_path(SOURCE_ID_PREFIX, "source")]
MAX_NAME = 200


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Provider
    name: str = Field(min_length=1, max_length=MAX_NAME)
    credentials: dict[str, Any]
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    partner_id: str | None = Field(None, description="the partner whose orders it receives")


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    credentials: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    enabled: bool | None = None


def _sources(request: Request) -> SourceRepository:
    return state(request).sources


def _ingestor(request: Request) -> Ingestor:
    return state(request).ingestor


def source_id(value: str) -> str:
    if not has_prefix(value, SOURCE_ID_PREFIX):
        raise BadRequest(f"{value!r} is not a source id (src_ followed by 26 characters)")
    return value


def checked_credentials(
    provider: Provider, credentials: dict[str, Any], options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return check_credentials(provider, credentials, options)
    except SourceError as exc:
        raise InvalidRequest(
            f"{exc.field}: {exc.reason}", errors=[{"field": exc.field, "reason": exc.reason}]
        ) from exc


def source_json(source: IngestSource, stats: SourceStats | None = None) -> dict[str, Any]:
    seen = stats or SourceStats()
    return {
        "id": source.id,
        "provider": source.provider.value,
        "name": source.name,
        "ingest_path": f"/ingest/{source.id}",
        "enabled": source.enabled,
        "disabled_at": source.disabled_at,
        "credentials": sorted(source.credentials),  # which are set; never their values
        "options": dict(source.options),
        "stats": {
            "scope": "this process, since it started",
            "accepted": seen.accepted,
            "duplicates": seen.duplicates,
            "rejected": seen.rejected,
            "last_rejected_at": seen.last_rejected_at,
            "last_rejection": seen.last_rejection,
        },
        "created_at": source.created_at,
        "updated_at": source.updated_at,
        "partner_id": source.partner_id,
    }


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(require_json)],
    responses={201: {"model": SourceOut}, **BODY, **FOUND},
)
async def create_source(
    body: SourceIn,
    request: Request,
    key: Annotated[ApiKey, Depends(require_operator(Scope.WRITE))],
) -> Response:
    """Receive a provider's webhooks at `/ingest/{id}`, verified with these credentials; with
    `partner_id`, the orders it creates are that partner's."""
    checked_credentials(body.provider, body.credentials, body.options)  # 422 before a 404
    source = await create(request, body, await owner_for_new(request, key, body.partner_id))
    return json_response(source_json(source), 201)


async def create(request: Request, body: SourceIn, partner_id: str | None) -> IngestSource:
    """Check and store a new source (the route's and the dashboard's one way)."""
    credentials, options = checked_credentials(body.provider, body.credentials, body.options)
    now = utcnow()
    source = IngestSource(
        id=SourceRepository.new_id(),
        provider=body.provider,
        name=body.name,
        credentials=credentials,
        options=options,
        disabled_at=None if body.enabled else now,
        created_at=now,
        updated_at=now,
        partner_id=partner_id,
    )
    await _sources(request).create(source)
    return source


@router.get("", responses={200: {"model": SourcePage}, **FOUND})
async def list_sources(
    request: Request,
    key: Annotated[ApiKey, Depends(require_operator(Scope.READ))],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
    partner: str | None = None,
) -> Response:
    """Sources, newest first; `partner` lists one partner's."""
    whose = listing(key, partner).filter
    found = await _sources(request).all(limit=limit, before=cursor, partner_id=whose)
    stats = _ingestor(request).stats
    next_cursor = found[-1].id if len(found) == limit else None
    return json_response(
        {"data": [source_json(s, stats.get(s.id)) for s in found], "next_cursor": next_cursor}
    )


@router.get("/{source}", responses={200: {"model": SourceOut}, **FOUND})
async def get_source(
    source: SourceId, request: Request, _: Annotated[ApiKey, Depends(require_operator(Scope.READ))]
) -> Response:
    found = await _sources(request).get(source_id(source))
    return json_response(source_json(found, _ingestor(request).stats.get(found.id)))


@router.patch(
    "/{source}",
    dependencies=[Depends(require_json)],
    responses={200: {"model": SourceOut}, **FOUND, **BODY},
)
async def update_source(
    source: SourceId,
    body: SourcePatch,
    request: Request,
    _: Annotated[ApiKey, Depends(require_operator(Scope.WRITE))],
) -> Response:
    """Change the name, replace the credentials or the options, enable or disable."""
    current = await _sources(request).get(source_id(source))
    given = body.model_fields_set
    for name in ("name", "credentials", "options", "enabled"):
        if name in given and getattr(body, name) is None:
            raise InvalidRequest(
                f"{name}: cannot be null", errors=[{"field": name, "reason": "cannot be null"}]
            )
    credentials, options = checked_credentials(
        current.provider,
        dict(current.credentials) if body.credentials is None else body.credentials,
        dict(current.options) if body.options is None else body.options,
    )
    updated = await _sources(request).update(
        current.id,
        now=utcnow(),
        name=body.name,
        credentials=credentials if body.credentials is not None else None,
        options=options if body.options is not None else None,
        enabled=body.enabled,
    )
    _ingestor(request).forget(current.id)
    return json_response(source_json(updated, _ingestor(request).stats.get(updated.id)))


@router.delete("/{source}", status_code=204, responses=FOUND)
async def delete_source(
    source: SourceId, request: Request, _: Annotated[ApiKey, Depends(require_operator(Scope.WRITE))]
) -> Response:
    """Stop receiving: the inbound URL answers 404; the log and the orders are kept."""
    await _sources(request).delete(source_id(source), now=utcnow())
    _ingestor(request).forget(source)
    return Response(status_code=204)
