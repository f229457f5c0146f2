"""Partners' pages: the list and a new partner; a partner's page with its name and metadata,
suspend and resume, its API keys (a new one's token shown once) and its own authorization
callback. Every change goes through the API's body models and repositories, so the form is
refused exactly where the API would be; all of it needs an admin key, as in the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..api.authorization import save
from ..api.partners import PartnerIn, PartnerKeyIn, checked_metadata
from ..api.partners import partner_id as checked_partner_id
from ..domain import serde
from ..domain.apikeys import Scope
from ..domain.partners import Partner, PartnerStatus
from ..errors import NotFound
from ..types import utcnow
from .authorization import CHOICES, callback_body, callback_form
from .context import PAGE_SIZE, Dashboard, to_login
from .forms import REFUSED, json_object, model
from .pages import choice
from .sessions import Session


def _metadata_text(partner: Partner | None) -> str:
    if partner is None or not partner.metadata:
        return ""
    return serde.to_json(dict(partner.metadata)).decode()


def add_partners(router: APIRouter, ui: Dashboard) -> None:
    async def listing(
        request: Request,
        session: Session,
        *,
        error: str | None = None,
        fields: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        q = request.query_params
        found = await ui.app(request).partners.find(
            status=choice("status", q.get("status"), PartnerStatus),
            limit=PAGE_SIZE,
            before=q.get("before") or None,
        )
        return ui.pages.render(
            request,
            "partners.html",
            session=session,
            partners=found,
            last_id=found[-1].id if len(found) == PAGE_SIZE else None,
            q=dict(q),
            statuses=[s.value for s in PartnerStatus],
            form=fields or {},
            error=error,
            notice=q.get("done"),
            status=status,
        )

    async def detail(
        request: Request,
        session: Session,
        found: str,
        *,
        error: str | None = None,
        error_at: str = "",
        fields: dict[str, str] | None = None,
        token: dict[str, Any] | None = None,
        status: int = 200,
    ) -> Response:
        app = ui.app(request)
        partner = await app.partners.get(checked_partner_id(found))
        config = await app.authorization.get(partner.id)
        public = None if config is None else config.to_public_dict()
        at = error_at if error else ""
        return ui.pages.render(
            request,
            "partner.html",
            session=session,
            p=partner,
            metadata=fields.get("metadata", "")
            if at == "edit" and fields
            else _metadata_text(partner),
            partner_name=fields.get("name", partner.name)
            if at == "edit" and fields
            else partner.name,
            keys=await app.keys.all(partner_id=partner.id),
            config=public,
            form=callback_form(public, fields if at == "callback" else None),
            key_form=fields if at == "key" and fields else {},
            scopes=[Scope.READ.value, Scope.WRITE.value],
            error=error,
            error_at=at,
            token=token,
            notice=request.query_params.get("done"),
            status=status,
            **CHOICES,
        )

    async def admin(request: Request) -> tuple[Session | None, dict[str, str]]:
        return await ui.writer(request, Scope.ADMIN)

    async def refused(
        request: Request,
        session: Session,
        found: str,
        at: str,
        message: str,
        fields: dict[str, str],
    ) -> Response:
        """The partner's page again, status 400, the refusal shown by the form (``at``) that
        was sent, with what was typed in it."""
        return await detail(
            request, session, found, error=message, error_at=at, fields=fields, status=400
        )

    @router.get("/ui/partners", include_in_schema=False)
    async def partners(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        return await listing(request, session)

    @router.post("/ui/partners", include_in_schema=False)
    async def create(request: Request) -> Response:
        session, fields = await admin(request)
        if session is None:
            return to_login(request)
        try:
            body = model(
                PartnerIn,
                {"name": fields.get("name", ""), "metadata": json_object(fields, "metadata") or {}},
            )
            new = await ui.app(request).partners.create(
                name=body.name, metadata=checked_metadata(body.metadata), now=utcnow()
            )
        except REFUSED as exc:
            return await listing(request, session, error=exc.message, fields=fields, status=400)
        return RedirectResponse(f"/ui/partners/{new.id}?done=partner+created", status_code=303)

    @router.get("/ui/partners/{partner_id}", include_in_schema=False)
    async def partner(request: Request, partner_id: str) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        return await detail(request, session, partner_id)

    @router.post("/ui/partners/{partner_id}", include_in_schema=False)
    async def edit(request: Request, partner_id: str) -> Response:
        session, fields = await admin(request)
        if session is None:
            return to_login(request)
        try:
            metadata = json_object(fields, "metadata") or {}
            body = model(PartnerIn, {"name": fields.get("name", ""), "metadata": metadata})
            await ui.app(request).partners.update(
                checked_partner_id(partner_id),
                now=utcnow(),
                name=body.name,
                metadata=checked_metadata(body.metadata),
            )
        except REFUSED as exc:
            return await refused(request, session, partner_id, "edit", exc.message, fields)
        return RedirectResponse(f"/ui/partners/{partner_id}?done=saved", status_code=303)

    @router.post("/ui/partners/{partner_id}/status", include_in_schema=False)
    async def set_status(request: Request, partner_id: str) -> Response:
        session, fields = await admin(request)
        if session is None:
            return to_login(request)
        wanted = choice("status", fields.get("status"), PartnerStatus)
        if wanted is None:
            message = "status: choose active or suspended"
            return await refused(request, session, partner_id, "edit", message, {})
        app = ui.app(request)
        await app.partners.update(checked_partner_id(partner_id), now=utcnow(), status=wanted)
        if wanted is PartnerStatus.ACTIVE:
            app.wake()  # its waiting deliveries are claimable again
        return RedirectResponse(f"/ui/partners/{partner_id}?done={wanted.value}", status_code=303)

    @router.post("/ui/partners/{partner_id}/keys", include_in_schema=False)
    async def new_key(request: Request, partner_id: str) -> Response:
        session, fields = await admin(request)
        if session is None:
            return to_login(request)
        app = ui.app(request)
        partner = await app.partners.get(checked_partner_id(partner_id))
        try:
            body = model(
                PartnerKeyIn,
                {"name": fields.get("name", ""), "scope": fields.get("scope") or "write"},
            )
            key, token = await app.keys.create(body.name, body.scope, partner_id=partner.id)
        except REFUSED as exc:
            return await refused(request, session, partner_id, "key", exc.message, fields)
        # Answered here, not redirected: the token is in this page only, never in a URL.
        return await detail(
            request, session, partner_id, token={"id": key.id, "name": key.name, "token": token}
        )

    @router.post("/ui/partners/{partner_id}/authorization", include_in_schema=False)
    async def callback(request: Request, partner_id: str) -> Response:
        session, fields = await admin(request)
        if session is None:
            return to_login(request)
        partner = await ui.app(request).partners.get(checked_partner_id(partner_id))
        try:
            await save(request, callback_body(fields), partner.id)
        except REFUSED as exc:
            return await refused(request, session, partner_id, "callback", exc.message, fields)
        return RedirectResponse(f"/ui/partners/{partner_id}?done=callback+saved", status_code=303)

    @router.post("/ui/partners/{partner_id}/authorization/delete", include_in_schema=False)
    async def remove_callback(request: Request, partner_id: str) -> Response:
        session, _ = await admin(request)
        if session is None:
            return to_login(request)
        partner = await ui.app(request).partners.get(checked_partner_id(partner_id))
        if not await ui.app(request).authorization.delete(partner.id):
            raise NotFound("this partner has no callback of its own")
        return RedirectResponse(f"/ui/partners/{partner_id}?done=callback+removed", status_code=303)


__all__ = ["add_partners"]
