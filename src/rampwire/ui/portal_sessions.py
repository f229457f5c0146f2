"""The partner portal's session: opened by a one-time portal link, scoped to one partner.

The cookie, ``rw_portal`` (path ``/ui/portal``, so it never reaches an operator page), holds the
partner's id, the link's id and a CSRF token, signed like the operator's session but under its
own key (another label): neither cookie passes for the other. Each request checks that the
partner still exists and is active: suspending or deleting it ends its portal sessions.

**Embedding.** A portal framed by another site is a third-party context, where browsers send
only ``SameSite=None; Secure`` cookies. So the cookie is ``SameSite=None; Secure; Partitioned``
when ``RAMPWIRE_PORTAL_FRAME_ANCESTORS`` names origins and the request came over https, and
``SameSite=Strict`` otherwise. The trade-off: a ``None`` cookie travels with cross-site requests,
so CSRF rests on the per-session token every form carries and on the ``Origin`` check
(:func:`~rampwire.ui.sessions.check_csrf`), not on the cookie's SameSite; ``Partitioned``
(CHIPS) keeps that cookie to the framing site, so it follows no one elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..api.state import state
from ..crypto import load_master_key
from ..domain.apikeys import ApiKey, Scope
from ..domain.partners import Partner
from ..errors import Forbidden, NotFound
from ..settings import Settings
from .render import portal_headers
from .sessions import SESSION_SECONDS, Session

PORTAL_COOKIE = "rw_portal"
PORTAL_PATH = "/ui/portal"
_LABEL = b"rampwire portal session v1"


class PortalClosed(Exception):
    """No valid portal session: the page says to ask for a new link."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PortalSession:
    partner: Partner
    link_id: str
    csrf: str

    def key(self) -> ApiKey:
        """The stand-in partner key every portal request is checked with (write scope: a
        partner manages its own endpoints); it is never stored and opens nothing else."""
        return ApiKey(
            id=f"portal:{self.link_id}",
            name=f"{self.partner.name} (portal)",
            scope=Scope.WRITE,
            token_prefix="",
            created_at=datetime.fromtimestamp(0, UTC),
            partner_id=self.partner.id,
        )

    def session(self) -> Session:
        return Session(
            key_id=f"portal:{self.link_id}",
            key_name=self.partner.name,
            scope=Scope.WRITE,
            csrf=self.csrf,
        )


class PortalSessions:
    def __init__(self) -> None:
        self._serializer: URLSafeTimedSerializer | None = None

    def _signer(self, settings: Settings) -> URLSafeTimedSerializer:
        if self._serializer is None:
            key = hmac.new(load_master_key(settings), _LABEL, hashlib.sha256).digest()
            self._serializer = URLSafeTimedSerializer(key, salt="rampwire-portal")
        return self._serializer

    def open(self, response: Response, request: Request, *, partner_id: str, link_id: str) -> None:
        settings = state(request).settings
        token = self._signer(settings).dumps(
            {"p": partner_id, "l": link_id, "c": secrets.token_urlsafe(24)}
        )
        embedded = bool(settings.portal_frame_ancestors) and request.url.scheme == "https"
        response.set_cookie(
            PORTAL_COOKIE,
            token,
            max_age=SESSION_SECONDS,
            path=PORTAL_PATH,
            httponly=True,
            secure=embedded or request.url.scheme == "https",
            samesite="none" if embedded else "strict",
        )
        if embedded:  # starlette writes Partitioned on Python 3.14 only: add it to the header
            name, value = response.raw_headers[-1]
            assert name == b"set-cookie" and value.startswith(PORTAL_COOKIE.encode())
            response.raw_headers[-1] = (name, value + b"; Partitioned")

    @staticmethod
    def close(response: Response) -> None:
        response.delete_cookie(PORTAL_COOKIE, path=PORTAL_PATH, httponly=True)

    async def current(self, request: Request) -> PortalSession:
        """The request's portal session; :class:`PortalClosed` when there is none, and a 403
        when its partner is suspended."""
        raw = request.cookies.get(PORTAL_COOKIE)
        if not raw:
            raise PortalClosed
        try:
            data: Any = self._signer(state(request).settings).loads(raw, max_age=SESSION_SECONDS)
        except BadSignature as exc:
            raise PortalClosed from exc
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "plc"):
            raise PortalClosed
        try:
            partner = await state(request).partners.get(data["p"])
        except NotFound as exc:
            raise PortalClosed from exc
        if not partner.active:
            raise Forbidden(
                f"partner {partner.id} is suspended: its portal is closed until it is resumed",
                partner_id=partner.id,
                reason="partner_suspended",
            )
        return PortalSession(partner=partner, link_id=data["l"], csrf=data["c"])


def headers(request: Request) -> dict[str, str]:
    return portal_headers(state(request).settings.portal_frame_ancestors)
