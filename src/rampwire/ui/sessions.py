"""The operator's browser session: an API key exchanged for a signed, expiring cookie.

The cookie holds the key's id and scope, a CSRF token and nothing secret; it is signed with
itsdangerous under a key derived from the master key (HMAC-SHA256 with a fixed label), so no
session table is needed and every process that holds the master key accepts it. Each request
checks that the key is still active, so revoking the key ends its sessions too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..api.state import state
from ..crypto import load_master_key
from ..domain.apikeys import Scope
from ..errors import Forbidden
from ..settings import Settings

COOKIE = "rw_session"
LOGIN_COOKIE = "rw_login"  # the login form's own CSRF token (double submit)
SESSION_SECONDS = 8 * 3600  # a session lasts a working day, then the key is asked again
_LABEL = b"rampwire ui session v1"


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Session:
    key_id: str
    key_name: str
    scope: Scope
    csrf: str

    def may_write(self) -> bool:
        return self.scope.allows(Scope.WRITE)


class Sessions:
    """Signs and reads session cookies; the signing key is derived on first use."""

    def __init__(self) -> None:
        self._serializer: URLSafeTimedSerializer | None = None

    def _signer(self, settings: Settings) -> URLSafeTimedSerializer:
        if self._serializer is None:
            key = hmac.new(load_master_key(settings), _LABEL, hashlib.sha256).digest()
            self._serializer = URLSafeTimedSerializer(key, salt="rampwire-ui")
        return self._serializer

    def open(self, response: Response, request: Request, *, key_id: str) -> None:
        token = self._signer(state(request).settings).dumps(
            {"k": key_id, "c": secrets.token_urlsafe(24)}
        )
        set_cookie(response, request, COOKIE, token, max_age=SESSION_SECONDS)

    async def current(self, request: Request) -> Session:
        raw = request.cookies.get(COOKIE)
        if not raw:
            raise LoginRequired
        try:
            data: Any = self._signer(state(request).settings).loads(raw, max_age=SESSION_SECONDS)
        except BadSignature as exc:  # SignatureExpired is one too
            raise LoginRequired from exc
        if not isinstance(data, dict) or not isinstance(data.get("k"), str):
            raise LoginRequired
        key = await state(request).keys.get(data["k"])
        if key is None or not key.active or key.partner_id is not None:
            raise LoginRequired
        return Session(key_id=key.id, key_name=key.name, scope=key.scope, csrf=str(data["c"]))


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def check_csrf(request: Request, expected: str, given: str | None) -> None:
    """A state-changing form must carry the session's token and come from this origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden(f"this form was sent from another origin ({origin})", reason="csrf")
    if not given or not hmac.compare_digest(given, expected):
        raise Forbidden("the form's CSRF token is missing or stale: reload the page", reason="csrf")
