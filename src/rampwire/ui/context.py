"""What the dashboard's routes share: templates, sessions, the repositories it adds, and the
small helpers every handler uses (the session or a redirect to the login form; form fields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from ..api.state import AppState, state
from ..domain.apikeys import Scope
from ..domain.partners import PARTNER_ID_PREFIX
from ..errors import BadRequest, Forbidden
from ..ids import has_prefix
from ..repository.order_events import OrderEventRepository
from ..repository.overview import OverviewRepository
from .render import Pages
from .sessions import LoginRequired, Session, Sessions, check_csrf

PAGE_SIZE = 50  # rows per list page


@dataclass(kw_only=True)
class Dashboard:
    pages: Pages = field(default_factory=Pages)
    sessions: Sessions = field(default_factory=Sessions)

    async def session(self, request: Request) -> Session | None:
        try:
            return await self.sessions.current(request)
        except LoginRequired:
            return None

    async def writer(
        self, request: Request, need: Scope = Scope.WRITE
    ) -> tuple[Session | None, dict[str, str]]:
        """The session of a form that may change something (CSRF and scope checked), and the
        form; no session: (None, {}), the caller redirects to the login form."""
        session = await self.session(request)
        if session is None:
            return None, {}
        fields = await form(request)
        check_csrf(request, session.csrf, fields.get("csrf"))
        if not session.scope.allows(need):
            raise Forbidden(
                f"the key {session.key_name!r} has scope {session.scope.value};"
                f" this needs {need.value}"
            )
        return session, fields

    def overview(self, request: Request) -> OverviewRepository:
        return OverviewRepository(state(request).db)

    def order_events(self, request: Request) -> OrderEventRepository:
        return OrderEventRepository(state(request).db)

    def app(self, request: Request) -> AppState:
        return state(request)


def to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the last value of a repeated name)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest("send the form as application/x-www-form-urlencoded")
    try:
        return dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise BadRequest("the form is not UTF-8") from exc


def parse_time(name: str, value: str | None) -> datetime | None:
    """A time from a datetime-local field or an ISO 8601 string; naive means UTC."""
    if not value:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a date and time such as 2026-01-31T12:00") from exc
    if found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found


def parse_partner(value: str | None) -> str | None:
    """A partner filter: a partner id, or None for every owner (a malformed id is a 400)."""
    if not value:
        return None
    if not has_prefix(value, PARTNER_ID_PREFIX):
        raise BadRequest(
            f"partner must be a partner id (ptn_ followed by 26 characters), not {value!r}"
        )
    return value


def safe_next(target: str | None) -> str:
    """Only a path of this dashboard: never another site (an open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/overview"
