"""API keys: every key, the operator's and the partners', a new key (its token shown once, on
the answer to the form, never in a URL) and revoking one. Keys are the admin's, as in the API
and ``rampwire keys``; revoking the key of a session ends that session at its next request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..api.partners import PartnerKeyIn, partner_id
from ..domain.apikeys import KEY_ID_PREFIX, Scope
from ..errors import BadRequest
from ..ids import has_prefix
from .context import PAGE_SIZE, Dashboard, safe_next, to_login
from .forms import REFUSED, model
from .sessions import Session


def add_keys(router: APIRouter, ui: Dashboard) -> None:
    async def page(
        request: Request,
        session: Session,
        *,
        error: str | None = None,
        fields: dict[str, str] | None = None,
        token: dict[str, Any] | None = None,
        status: int = 200,
    ) -> Response:
        app = ui.app(request)
        q = request.query_params
        whose = q.get("partner") or None
        kind = q.get("kind") or None
        if kind not in (None, "operator", "partner"):
            raise BadRequest(f"kind must be operator or partner, not {kind!r}")
        keys = await app.keys.find(
            limit=PAGE_SIZE,
            before=q.get("before") or None,
            partner_id=partner_id(whose) if whose else None,
            operator=None if kind is None else kind == "operator",
        )
        partners = await app.partners.find(limit=200)
        return ui.pages.render(
            request,
            "keys.html",
            session=session,
            keys=keys,
            last_id=keys[-1].id if len(keys) == PAGE_SIZE else None,
            names={p.id: p.name for p in partners},
            partners=partners,
            scopes=[s.value for s in Scope],
            q=dict(q),
            form=fields or {},
            token=token,
            error=error,
            notice=q.get("done"),
            status=status,
        )

    @router.get("/ui/keys", include_in_schema=False)
    async def keys(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        return await page(request, session)

    @router.post("/ui/keys", include_in_schema=False)
    async def create(request: Request) -> Response:
        session, fields = await ui.writer(request, Scope.ADMIN)
        if session is None:
            return to_login(request)
        app = ui.app(request)
        try:
            body = model(
                PartnerKeyIn,
                {"name": fields.get("name", ""), "scope": fields.get("scope") or "read"},
            )
            owner = fields.get("partner") or None
            if owner is not None:
                owner = (await app.partners.get(partner_id(owner))).id
            key, token = await app.keys.create(body.name, body.scope, partner_id=owner)
        except REFUSED as exc:
            return await page(request, session, error=exc.message, fields=fields, status=400)
        shown = {"id": key.id, "name": key.name, "token": token}
        return await page(request, session, token=shown)

    @router.post("/ui/keys/{key_id}/revoke", include_in_schema=False)
    async def revoke(request: Request, key_id: str) -> Response:
        session, fields = await ui.writer(request, Scope.ADMIN)
        if session is None:
            return to_login(request)
        if not has_prefix(key_id, KEY_ID_PREFIX):
            raise BadRequest(f"{key_id!r} is not a key id (key_ followed by 26 characters)")
        await ui.app(request).keys.revoke(key_id)
        back = safe_next(fields.get("next") or "/ui/keys")
        joiner = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{joiner}done=revoked+{key_id}", status_code=303)


__all__ = ["add_keys"]
