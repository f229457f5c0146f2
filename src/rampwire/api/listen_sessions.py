"""Listen sessions (``rampwire listen``): events streamed to a client the server cannot reach.

``POST /v1/listen-sessions`` opens one (event-type patterns, a dialect, whose orders) and
answers its signing secret; ``GET .../stream`` streams the matching events as server-sent
events, each the exact request a delivery in that dialect would send; ``DELETE`` closes it.
Server-sent events rather than a WebSocket: plain HTTP that every proxy passes, resumed by the
standard ``Last-Event-ID`` header, and the stream only flows one way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..delivery.endpoints import EndpointError, check_dialect, check_patterns, matches, new_secret
from ..dialects.errors import DialectError
from ..domain.apikeys import ApiKey, Scope
from ..domain.events import EVENT_ID_PREFIX, ORDER_EVENT_TYPES
from ..errors import BadRequest
from ..ids import has_prefix
from ..repository.listen_sessions import (
    LISTEN_SESSION_ID_PREFIX,
    ListenSession,
    ListenSessionRepository,
    new_session_id,
)
from ..services import listening
from ..settings import Secret
from ..types import utcnow
from .bodies import json_response, require_json
from .openapi import AUTHENTICATED, BODY, FOUND, id_path
from .queries import known_query
from .schemas import _Out
from .security import require
from .state import state
from .tenants import owner_for_new

router = APIRouter(
    prefix="/v1/listen-sessions",
    tags=["listen sessions"],
    dependencies=[Depends(known_query)],
    responses=AUTHENTICATED,
)
SessionId = Annotated[str, id_path(LISTEN_SESSION_ID_PREFIX, "listen session")]


class ListenSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_types: list[str] = Field(
        default_factory=lambda: ["order.*"], description='patterns, such as "order.*"'
    )
    dialect: str = Field(
        "standard", description="standard, revolut, saber, fireblocks, koywe or transak"
    )
    partner_id: str | None = Field(
        None,
        description="an operator key's session on one partner's orders; a partner key's"
        " session streams its own partner's orders, an operator's without it every order's",
    )


class ListenSessionOut(_Out):
    id: str
    event_types: list[str]
    dialect: str
    partner_id: str | None
    created_at: datetime
    read_at: datetime = Field(description="when a stream was last open")
    expires_at: datetime = Field(description="when it expires unless a stream is opened")
    stream_url: str


class ListenSessionCreated(ListenSessionOut):
    secret: str | None = Field(
        description="what the events are signed with (whsec_ for standard, the provider's"
        " secret otherwise); null for fireblocks: rampwire's RSA key signs (its JWKS)"
    )


def _sessions(request: Request) -> ListenSessionRepository:
    return state(request).listen_sessions


def _idle(request: Request) -> timedelta:
    return timedelta(seconds=state(request).settings.listen_idle_s)


def _id(session_id: str) -> str:
    if not has_prefix(session_id, LISTEN_SESSION_ID_PREFIX):
        raise BadRequest(
            f"{session_id!r} is not a listen session id (lsn_ followed by 26 characters)"
        )
    return session_id


def _bad(field: str, reason: str) -> BadRequest:
    return BadRequest(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


def _patterns(given: list[str], dialect_name: str) -> tuple[tuple[str, ...], str]:
    try:
        dialect = check_dialect(dialect_name)
        patterns = check_patterns(given, dialect)
    except EndpointError as exc:
        raise _bad(exc.field, exc.reason) from exc
    for index, pattern in enumerate(patterns):
        if not any(matches([pattern], t) for t in ORDER_EVENT_TYPES):
            raise _bad(f"event_types.{index}", f"{pattern!r} matches no order event")
    return patterns, dialect.value


def _json(session: ListenSession, request: Request) -> dict[str, object]:
    return {
        "id": session.id,
        "event_types": list(session.event_types),
        "dialect": session.dialect,
        "partner_id": session.partner_id,
        "created_at": session.created_at,
        "read_at": session.read_at,
        "expires_at": session.read_at + _idle(request),
        "stream_url": str(request.url_for("stream_listen_session", session_id=session.id)),
    }


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(require_json)],
    responses={201: {"model": ListenSessionCreated}, **BODY, **FOUND},
)
async def create_listen_session(
    body: ListenSessionIn,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.READ))],
) -> Response:
    """Open a session that streams the matching order events from now on (`rampwire listen`).
    It expires once no stream has been open for `RAMPWIRE_LISTEN_IDLE_SECONDS` (60 s)."""
    patterns, dialect = _patterns(body.event_types, body.dialect)
    owner = await owner_for_new(request, key, body.partner_id)
    secret = new_secret(check_dialect(dialect))
    now = utcnow()
    session = ListenSession(
        id=new_session_id(),
        partner_id=owner,
        event_types=patterns,
        dialect=dialect,
        secret=None if secret is None else Secret(secret),
        after_id=listening.id_floor(EVENT_ID_PREFIX, now),
        created_at=now,
        read_at=now,
    )
    await _sessions(request).create(session)
    return json_response({**_json(session, request), "secret": secret}, 201)


@router.get("/{session_id}", responses={200: {"model": ListenSessionOut}, **FOUND})
async def get_listen_session(
    session_id: SessionId,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.READ))],
) -> Response:
    found = await _sessions(request).get(
        _id(session_id), key.tenant, now=utcnow(), idle=_idle(request)
    )
    return json_response(_json(found, request))


@router.get(
    "/{session_id}/stream",
    name="stream_listen_session",
    responses={
        200: {
            "description": "server-sent events: `event: webhook`, `id:` the event id, `data:`"
            " {event_id, type, order_id, status, headers, body} (the signed request)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **FOUND,
    },
)
async def stream_listen_session(
    session_id: SessionId,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.READ))],
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The session's events as server-sent events, from where its last stream stopped or
    after `Last-Event-ID`. A stream ends after 15 s; reconnect with the last id received."""
    app = state(request)
    session = await _sessions(request).get(
        _id(session_id), key.tenant, now=utcnow(), idle=_idle(request)
    )
    after = session.after_id
    if last_event_id is not None:
        if not has_prefix(last_event_id, EVENT_ID_PREFIX):
            raise BadRequest(f"Last-Event-ID: {last_event_id!r} is not an event id (evt_...)")
        after = max(last_event_id, listening.id_floor(EVENT_ID_PREFIX, session.created_at))
    try:
        signer = await listening.Signer.of(session, app.signing_keys, app.webhook_keys)
    except DialectError as exc:  # a session's own secret is always usable; kept for safety
        raise BadRequest(f"this session cannot sign: {exc}") from exc
    await _sessions(request).touch(session.id, after_id=after, now=utcnow())
    events = listening.stream(
        session,
        _sessions(request),
        signer,
        after=after,
        idle=_idle(request),
        disconnected=request.is_disconnected,
    )
    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


@router.delete(
    "/{session_id}", status_code=204, responses={204: {"description": "closed"}, **FOUND}
)
async def delete_listen_session(
    session_id: SessionId,
    request: Request,
    key: Annotated[ApiKey, Depends(require(Scope.READ))],
) -> Response:
    """Close the session (`rampwire listen` does on Ctrl-C); its open streams end."""
    sessions = _sessions(request)
    await sessions.get(_id(session_id), key.tenant, now=utcnow(), idle=_idle(request))
    await sessions.delete(session_id)
    return Response(status_code=204)
