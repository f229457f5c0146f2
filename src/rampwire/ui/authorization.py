"""The authorization callback's pages: the operator's default callback (set, remove) and the
decision log, filtered by partner or order. The callback form is the same for a partner's own
callback (:mod:`.partners` uses :func:`callback_body` and :func:`callback_form`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..api.authorization import AuthorizationIn, save
from ..authorization import AuthKind, FailureMode, Operation
from ..domain.apikeys import Scope
from ..errors import NotFound
from .context import PAGE_SIZE, Dashboard, to_login
from .forms import REFUSED, model, text
from .sessions import Session

SECRET_FIELDS = ("token", "password", "value", "secret")  # never shown back in a form


def callback_body(fields: dict[str, str]) -> AuthorizationIn:
    """The form as the API's body: blank fields are not given; one checkbox per operation."""
    auth = {name: text(fields, name) for name in ("token", "username", "password", "name")}
    auth |= {"value": text(fields, "value"), "secret": text(fields, "secret")}
    body: dict[str, Any] = {
        "url": fields.get("url", "").strip(),
        "auth": {"method": fields.get("method", ""), **{k: v for k, v in auth.items() if v}},
        "operations": [op.value for op in Operation if fields.get(f"op_{op.value}")],
        "failure_mode": fields.get("failure_mode", ""),
    }
    for name in ("timeout_seconds", "cache_ttl_seconds"):
        if (value := text(fields, name)) is not None:
            body[name] = value
    return model(AuthorizationIn, body)


def callback_form(
    config: dict[str, Any] | None, fields: dict[str, str] | None = None
) -> dict[str, Any]:
    """What the callback form shows: what was sent (after a refusal, secrets left out), else
    the stored settings, else the defaults."""
    if fields is not None:
        shown: dict[str, Any] = {
            k: v for k, v in fields.items() if k not in SECRET_FIELDS and k != "csrf"
        }
        shown["operations"] = [op.value for op in Operation if fields.get(f"op_{op.value}")]
        return shown
    if config is None:
        return {
            "operations": [op.value for op in Operation],
            "timeout_seconds": "3.0",
            "cache_ttl_seconds": "30.0",
            "failure_mode": "closed",
            "method": "bearer",
        }
    auth = config.get("auth", {})
    return {
        "url": config.get("url", ""),
        "method": auth.get("method", ""),
        "username": auth.get("username", ""),
        "name": auth.get("name", ""),
        "operations": [op for op, on in config.get("operations", {}).items() if on],
        "timeout_seconds": config.get("timeout_seconds"),
        "cache_ttl_seconds": config.get("cache_ttl_seconds"),
        "failure_mode": config.get("failure_mode", ""),
    }


CHOICES: dict[str, Any] = {  # the callback form's select options
    "methods": [m.value for m in AuthKind],
    "operations": [o.value for o in Operation],
    "failure_modes": [f.value for f in FailureMode],
}


def add_authorization(router: APIRouter, ui: Dashboard) -> None:
    async def page(
        request: Request,
        session: Session,
        *,
        error: str | None = None,
        fields: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        app = ui.app(request)
        q = request.query_params
        partner = q.get("partner") or None
        if partner is not None:
            await app.partners.get(partner)  # 404 for an unknown one, not an empty list
        config = await app.authorization.get(None)
        public = None if config is None else config.to_public_dict()
        return ui.pages.render(
            request,
            "authorization.html",
            session=session,
            config=public,
            form=callback_form(public, fields),
            decisions=await app.authorization.decisions(
                order_id=q.get("order") or None, partner_id=partner, limit=PAGE_SIZE
            ),
            partners=await app.partners.find(limit=200),
            q=dict(q),
            error=error,
            notice=q.get("done"),
            status=status,
            **CHOICES,
        )

    @router.get("/ui/authorization", include_in_schema=False)
    async def authorization(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        return await page(request, session)

    @router.post("/ui/authorization", include_in_schema=False)
    async def put(request: Request) -> Response:
        session, fields = await ui.writer(request, Scope.ADMIN)
        if session is None:
            return to_login(request)
        try:
            await save(request, callback_body(fields), None)
        except REFUSED as exc:
            return await page(request, session, error=exc.message, fields=fields, status=400)
        return RedirectResponse("/ui/authorization?done=callback+saved", status_code=303)

    @router.post("/ui/authorization/delete", include_in_schema=False)
    async def delete(request: Request) -> Response:
        session, _ = await ui.writer(request, Scope.ADMIN)
        if session is None:
            return to_login(request)
        if not await ui.app(request).authorization.delete(None):
            raise NotFound("no authorization callback is configured")
        return RedirectResponse("/ui/authorization?done=callback+removed", status_code=303)


__all__ = ["add_authorization", "callback_body", "callback_form"]
