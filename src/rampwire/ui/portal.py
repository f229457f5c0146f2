"""The partner portal at ``/ui/portal``: what one partner may see and do, nothing else.

A partner arrives with a one-time link (``POST /v1/partners/{id}/portal-links``). Opening it
(a GET) shows a page whose button POSTs the token: link previews, mail scanners and
prefetchers GET (some run scripts too), so only a person's press spends the link. The POST
consumes the link (used or expired: a 410 page, nothing opened) and sets the portal cookie
(:mod:`.portal_sessions`). The portal has the partner's endpoints (:mod:`.endpoints`, the
operator's pages scoped to it), their deliveries with attempts and replay, and the event types.
Every object a path names is checked with the partner's stand-in key, as a partner key's API
calls are: another partner's id is not found. The operator's pages never see the portal's
cookie (its path is ``/ui/portal``).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..api.event_types import catalogue
from ..domain.deliveries import DeliveryStatus
from ..repository.portal_links import PortalLinkRepository
from ..repository.tenancy import Kind, check_owner
from ..types import utcnow
from .context import PAGE_SIZE, Dashboard, form
from .endpoints import add_endpoint_pages
from .pages import choice
from .portal_sessions import PORTAL_PATH, PortalClosed, PortalSessions, headers
from .sessions import check_csrf
from .viewers import Viewer

BASE = PORTAL_PATH
MAX_ENDPOINTS = 200  # a partner's endpoints on its delivery log's filter and page


def add_portal(router: APIRouter, ui: Dashboard) -> None:
    sessions = PortalSessions()

    def closed(request: Request, message: str, status: int) -> Response:
        return ui.pages.render(
            request,
            "portal_closed.html",
            session=None,
            status=status,
            headers=headers(request),
            message=message,
            refused=status >= 400,
        )

    async def viewer(request: Request) -> Viewer | Response:
        try:
            found = await sessions.current(request)
        except PortalClosed:
            message = "This portal session has ended or was never opened."
            return closed(request, message, 401)
        return Viewer(base=BASE, key=found.key(), session=found.session(), headers=headers(request))

    async def look(request: Request) -> Viewer | Response:
        found = await viewer(request)
        if isinstance(found, Viewer):
            await found.check_path(request)
        return found

    def page(request: Request, v: Viewer, name: str, **context: Any) -> Response:
        return ui.pages.render(
            request, name, session=v.session, headers=v.headers, base=BASE, portal=True, **context
        )

    @router.get(f"{BASE}/open", include_in_schema=False)
    async def landing(request: Request) -> Response:
        token = request.query_params.get("token", "")
        # the token is in the URL: a Referer names the origin only (no-referrer would make the
        # button's POST send `Origin: null`, refused as another site)
        private = {**headers(request), "referrer-policy": "origin"}
        return ui.pages.render(
            request, "portal_open.html", session=None, headers=private, token=token
        )

    @router.post(f"{BASE}/open", include_in_schema=False)
    async def open_portal(request: Request) -> Response:
        fields = await form(request)
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return closed(request, f"This link was sent from another site ({origin}).", 403)
        app = ui.app(request)
        link = await PortalLinkRepository(app.db).consume(fields.get("token", ""), now=utcnow())
        if link is None:
            message = "This portal link was used already or has expired: ask for a new one."
            return closed(request, message, 410)
        partner = await app.partners.get(link.partner_id)
        if not partner.active:
            return closed(request, f"{partner.name}'s portal is closed (suspended).", 403)
        response = RedirectResponse(f"{BASE}/endpoints", status_code=303)
        sessions.open(response, request, partner_id=partner.id, link_id=link.id)
        return response

    @router.post(f"{BASE}/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        if isinstance(v := await viewer(request), Viewer):
            check_csrf(request, v.session.csrf, (await form(request)).get("csrf"))
        response = closed(request, "You have left the portal.", 200)
        sessions.close(response)
        return response

    @router.get(BASE, include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse(f"{BASE}/endpoints", status_code=303)

    add_endpoint_pages(router, ui, base=BASE, viewer=viewer)

    @router.get(f"{BASE}/deliveries", include_in_schema=False)
    async def deliveries(request: Request) -> Response:
        if not isinstance(v := await look(request), Viewer):
            return v
        q = request.query_params
        app = ui.app(request)
        endpoint = q.get("endpoint") or None
        if endpoint is not None:
            await check_owner(app.db, v.tenant, Kind.ENDPOINT, endpoint)
        status = choice("status", q.get("status"), DeliveryStatus)
        endpoints = await app.endpoints.all(limit=MAX_ENDPOINTS, partner_id=v.key.partner_id)
        found = await app.deliveries.find_for_endpoints(
            [endpoint] if endpoint is not None else [e.id for e in endpoints],
            statuses=(status,) if status else (),
            before=q.get("before") or None,
            limit=PAGE_SIZE,
        )
        return page(
            request,
            v,
            "deliveries.html",
            deliveries=found,
            endpoints=endpoints,
            last_id=found[-1].id if len(found) == PAGE_SIZE else None,
            q=dict(q),
            statuses=[s.value for s in DeliveryStatus],
            live=False,
        )

    @router.get(f"{BASE}/deliveries/{{delivery_id}}", include_in_schema=False)
    async def delivery(request: Request, delivery_id: str) -> Response:
        if not isinstance(v := await look(request), Viewer):
            return v
        app = ui.app(request)
        found, attempts = await app.deliveries.get(delivery_id)
        payload = await app.deliveries.event_payload(found.event_id)
        return page(
            request,
            v,
            "delivery.html",
            d=found,
            attempts=attempts,
            payload=None if payload is None else payload.decode("utf-8", "replace"),
            notice=request.query_params.get("done"),
        )

    async def writer(request: Request) -> Viewer | Response:
        v = await look(request)
        if isinstance(v, Viewer):
            check_csrf(request, v.session.csrf, (await form(request)).get("csrf"))
        return v

    @router.post(f"{BASE}/deliveries/{{delivery_id}}/replay", include_in_schema=False)
    async def replay(request: Request, delivery_id: str) -> Response:
        if not isinstance(v := await writer(request), Viewer):
            return v
        app = ui.app(request)
        new = await app.deliveries.replay(delivery_id, now=utcnow())
        app.wake()
        return RedirectResponse(
            f"{BASE}/deliveries/{new.id}?done=replay+of+{delivery_id}", status_code=303
        )

    @router.post(f"{BASE}/deliveries/{{delivery_id}}/retry", include_in_schema=False)
    async def retry(request: Request, delivery_id: str) -> Response:
        if not isinstance(v := await writer(request), Viewer):
            return v
        app = ui.app(request)
        await app.deliveries.retry_now(delivery_id, now=utcnow())
        app.wake()
        return RedirectResponse(f"{BASE}/deliveries/{delivery_id}?done=due+now", status_code=303)

    @router.get(f"{BASE}/event-types", include_in_schema=False)
    async def event_types(request: Request) -> Response:
        if not isinstance(v := await look(request), Viewer):
            return v
        types = orjson.loads(catalogue())["data"]
        for item in types:
            item["schema_text"] = orjson.dumps(item["schema"], option=orjson.OPT_INDENT_2).decode()
        return page(request, v, "portal_event_types.html", types=types)


__all__ = ["add_portal"]
