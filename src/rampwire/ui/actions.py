"""The dashboard's state-changing requests: log in, log out, replay or retry a delivery,
reprocess an inbound request. Each is a POST form carrying the session's CSRF token, answered
with a redirect (post/redirect/get), so reloading a page never repeats an action."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..types import utcnow
from .context import Dashboard, form, safe_next, to_login
from .sessions import COOKIE, LOGIN_COOKIE, Session, check_csrf, set_cookie

LOGIN_FORM_SECONDS = 600  # how long a login form stays valid


def _back(path: str, notice: str) -> Response:
    return RedirectResponse(f"{path}?done={quote(notice)}", status_code=303)


def add_actions(router: APIRouter, ui: Dashboard) -> None:
    async def writer(request: Request) -> tuple[Session | None, dict[str, str]]:
        return await ui.writer(request)

    @router.get("/ui/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        return _login_page(request, ui, error=None, status=200)

    @router.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        fields = await form(request)
        check_csrf(request, request.cookies.get(LOGIN_COOKIE, ""), fields.get("csrf"))
        token = fields.get("key", "").strip()
        found = await ui.app(request).keys.authenticate(token) if token else None
        # The dashboard is the operator's: a partner key does not open it (its portal is to come).
        key = found[0] if found is not None and found[0].partner_id is None else None
        if key is None:
            return _login_page(request, ui, error="This key is unknown or revoked.", status=401)
        response = RedirectResponse(safe_next(fields.get("next")), status_code=303)
        ui.sessions.open(response, request, key_id=key.id)
        response.delete_cookie(LOGIN_COOKIE, path="/ui")
        return response

    @router.post("/ui/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        session = await ui.session(request)
        if session is not None:
            check_csrf(request, session.csrf, (await form(request)).get("csrf"))
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
        return response

    @router.post("/ui/deliveries/{delivery_id}/replay", include_in_schema=False)
    async def replay(request: Request, delivery_id: str) -> Response:
        session, _ = await writer(request)
        if session is None:
            return to_login(request)
        app = ui.app(request)
        new = await app.deliveries.replay(delivery_id, now=utcnow())
        app.wake()
        return _back(f"/ui/deliveries/{new.id}", f"replay of {delivery_id}")

    @router.post("/ui/deliveries/{delivery_id}/retry", include_in_schema=False)
    async def retry(request: Request, delivery_id: str) -> Response:
        session, _ = await writer(request)
        if session is None:
            return to_login(request)
        app = ui.app(request)
        await app.deliveries.retry_now(delivery_id, now=utcnow())
        app.wake()
        return _back(f"/ui/deliveries/{delivery_id}", "due now")

    @router.post("/ui/inbound/{record_id}/reprocess", include_in_schema=False)
    async def reprocess(request: Request, record_id: str) -> Response:
        session, _ = await writer(request)
        if session is None:
            return to_login(request)
        app = ui.app(request)
        record = await app.inbound.get(record_id)
        done = await app.ingestor.reprocess(record, now=utcnow())
        app.wake()
        return _back("/ui/inbound", f"{record_id} reprocessed: {done.outcome.value}")


def _login_page(request: Request, ui: Dashboard, *, error: str | None, status: int) -> Response:
    csrf = secrets.token_urlsafe(24)
    response = ui.pages.render(
        request,
        "login.html",
        session=None,
        csrf=csrf,
        error=error,
        next=safe_next(request.query_params.get("next")),
        status=status,
    )
    set_cookie(response, request, LOGIN_COOKIE, csrf, max_age=LOGIN_FORM_SECONDS)
    return response


__all__ = ["add_actions"]
