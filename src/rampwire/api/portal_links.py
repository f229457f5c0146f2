"""Partner portal links: ``POST /v1/partners/{id}/portal-links`` makes a one-time URL that
opens the partner portal (:mod:`rampwire.ui.portal`) scoped to that partner."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..domain.apikeys import ApiKey, Scope
from ..errors import Forbidden
from ..repository.portal_links import PortalLinkRepository
from ..types import utcnow
from .bodies import json_response
from .openapi import AUTHENTICATED, FOUND
from .partners import PartnerId, partner_id
from .queries import known_query
from .security import require_operator
from .state import state

router = APIRouter(
    prefix="/v1/partners",
    tags=["partners"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)
PORTAL_OPEN_PATH = "/ui/portal/open"


class PortalLinkOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="opens the partner's portal once; give it to the partner")
    expires_at: datetime


@router.post(
    "/{partner}/portal-links",
    status_code=201,
    responses={201: {"model": PortalLinkOut}, **FOUND},
    summary="Make a one-time partner portal link",
)
async def create_portal_link(
    partner: PartnerId,
    request: Request,
    key: Annotated[ApiKey, Depends(require_operator(Scope.WRITE))],
) -> Response:
    """A URL that opens the partner portal, scoped to this partner (its endpoints, their
    deliveries, secrets, test events, replays, and the event types), **once**, within
    `RAMPWIRE_PORTAL_LINK_TTL` seconds (default 3600). The token is in this answer only.
    A suspended partner gets none (403)."""
    app = state(request)
    found = await app.partners.get(partner_id(partner))
    if not found.active:
        raise Forbidden(
            f"partner {found.id} is suspended: resume it before opening its portal",
            partner_id=found.id,
            reason="partner_suspended",
        )
    link, token = await PortalLinkRepository(app.db).create(
        found.id,
        ttl=timedelta(seconds=app.settings.portal_link_ttl_s),
        now=utcnow(),
        created_by=key.id,
    )
    url = f"{str(request.base_url).rstrip('/')}{PORTAL_OPEN_PATH}?token={token}"
    return json_response({"url": url, "expires_at": link.expires_at}, 201)
