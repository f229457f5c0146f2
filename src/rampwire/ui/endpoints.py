"""Endpoint pages, the same for the operator (``/ui/endpoints``) and, scoped to its partner,
the partner portal (``/ui/portal/endpoints``): list, create, edit, disable and enable, rotate
and reveal the secret, send a test event, recover what failed since a time, pending events.

Every change goes through the API's own functions (``api.endpoints.create``, ``update``,
``rotate``, ``api.test_events.send_test``) with the viewer's key, so the API's validation and
tenancy answer for the pages too; a field error is shown next to its field. Each state-changing
request is a POST carrying the session's CSRF token, answered by a redirect (post/redirect/get),
except revealing the secret, whose answer is the page itself (no-store): a secret never sits in
a URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..api.endpoints import create as create_endpoint
from ..api.endpoints import endpoint_id_of, secrets_json
from ..api.endpoints import rotate as rotate_secret
from ..api.endpoints import update as update_endpoint
from ..api.schemas import EndpointPatch
from ..api.test_events import send_test
from ..delivery.endpoints import Endpoint
from ..dialects import get_dialect
from ..domain.apikeys import ApiKey
from ..domain.events import EVENT_TYPES
from ..errors import BadRequest, ClientError, InvalidRequest
from ..types import utcnow
from . import endpoint_forms as forms
from .context import PAGE_SIZE, Dashboard, form, parse_time, to_login
from .render import SECURITY_HEADERS
from .sessions import check_csrf
from .viewers import Viewer, ViewerOf


def operator_viewer(ui: Dashboard) -> ViewerOf:
    """The operator's viewer: its session (or the login form)."""

    async def of(request: Request) -> Viewer | Response:
        session = await ui.session(request)
        if session is None:
            return to_login(request)
        key = ApiKey(  # a stand-in of the session's key for the API's functions: id and scope
            id=session.key_id,
            name=session.key_name,
            scope=session.scope,
            token_prefix="",
            created_at=datetime.fromtimestamp(0, UTC),
        )
        return Viewer(base="/ui", key=key, session=session, headers=SECURITY_HEADERS)

    return of


def _back(path: str, notice: str) -> Response:
    return RedirectResponse(f"{path}?done={quote(notice)}", status_code=303)


def test_types(endpoint: Endpoint) -> list[str]:
    """The event types a test of this endpoint may send: those its format carries."""
    dialect = get_dialect(endpoint.dialect)
    return [t for t in EVENT_TYPES if dialect.can_encode(t)]


def add_endpoint_pages(router: APIRouter, ui: Dashboard, *, base: str, viewer: ViewerOf) -> None:
    """Register the endpoint pages under ``base`` for the viewers ``viewer`` resolves."""

    async def look(request: Request) -> Viewer | Response:
        found = await viewer(request)
        if isinstance(found, Viewer):
            await found.check_path(request)
        return found

    async def change(request: Request) -> tuple[Viewer | Response, dict[str, str]]:
        """The viewer of a state-changing form (CSRF and write scope checked), and the form."""
        found = await look(request)
        if not isinstance(found, Viewer):
            return found, {}
        fields = await form(request)
        check_csrf(request, found.session.csrf, fields.get("csrf"))
        found.require_write()
        return found, fields

    def page(
        request: Request, v: Viewer, name: str, *, status: int = 200, **context: Any
    ) -> Response:
        return ui.pages.render(
            request,
            name,
            session=v.session,
            status=status,
            headers=v.headers,
            base=v.base,
            portal=v.portal,
            **context,
        )

    def edit_page(
        request: Request,
        v: Viewer,
        endpoint: Endpoint | None,
        fields: dict[str, str],
        errors: list[dict[str, str]] | None = None,
        message: str | None = None,
        status: int = 200,
    ) -> Response:
        return page(
            request,
            v,
            "endpoint_form.html",
            status=status,
            endpoint=endpoint,
            f=fields,
            errors=forms.by_field(errors or []),
            error=message,
            dialects=forms.DIALECTS,
            orderings=forms.ORDERINGS,
            secret_fields=forms.secret_fields(),
        )

    @router.get(f"{base}/endpoints", include_in_schema=False)
    async def endpoints(request: Request) -> Response:
        if not isinstance(v := await look(request), Viewer):
            return v
        found = await ui.app(request).endpoints.all(
            limit=PAGE_SIZE,
            before=request.query_params.get("before") or None,
            partner_id=v.tenant.filter,
        )
        return page(
            request,
            v,
            "endpoints.html",
            endpoints=found,
            last_id=found[-1].id if len(found) == PAGE_SIZE else None,
            notice=request.query_params.get("done"),
        )

    @router.get(f"{base}/endpoints/new", include_in_schema=False)
    async def new(request: Request) -> Response:
        if not isinstance(v := await look(request), Viewer):
            return v
        return edit_page(request, v, None, forms.values(None))

    @router.post(f"{base}/endpoints", include_in_schema=False)
    async def create(request: Request) -> Response:
        v, fields = await change(request)
        if not isinstance(v, Viewer):
            return v
        try:
            body = forms.new_endpoint(fields, portal=v.portal)
            endpoint, _, warnings = await create_endpoint(request, v.key, body)
        except forms.FormErrors as exc:
            return edit_page(request, v, None, fields, exc.errors, exc.message, status=422)
        except InvalidRequest as exc:
            return edit_page(request, v, None, fields, forms.form_errors(exc), status=422)
        except ClientError as exc:
            return edit_page(request, v, None, fields, message=exc.message, status=exc.status)
        notice = "endpoint created" + "".join(f"; {w}" for w in warnings)
        return _back(f"{v.base}/endpoints/{endpoint.id}", notice)

    @router.get(f"{base}/endpoints/{{endpoint_id}}", include_in_schema=False)
    async def endpoint(request: Request, endpoint_id: str) -> Response:
        if not isinstance(v := await look(request), Viewer):
            return v
        return await detail(request, v, endpoint_id)

    async def detail(
        request: Request, v: Viewer, endpoint_id: str, *, secrets: Any = None
    ) -> Response:
        found = await ui.app(request).endpoints.get(endpoint_id_of(endpoint_id))
        recent = await ui.app(request).deliveries.find(endpoint_id=found.id, limit=10)
        return page(
            request,
            v,
            "endpoint.html",
            e=found,
            recent=recent,
            secrets=secrets,
            test_types=test_types(found),
            notice=request.query_params.get("done"),
        )

    @router.get(f"{base}/endpoints/{{endpoint_id}}/edit", include_in_schema=False)
    async def edit(request: Request, endpoint_id: str) -> Response:
        if not isinstance(v := await look(request), Viewer):
            return v
        found = await ui.app(request).endpoints.get(endpoint_id_of(endpoint_id))
        return edit_page(request, v, found, forms.values(found))

    @router.post(f"{base}/endpoints/{{endpoint_id}}/edit", include_in_schema=False)
    async def save(request: Request, endpoint_id: str) -> Response:
        v, fields = await change(request)
        if not isinstance(v, Viewer):
            return v
        current = await ui.app(request).endpoints.get(endpoint_id_of(endpoint_id))
        try:
            patch = forms.changed_endpoint(fields, current, portal=v.portal)
            _, warnings = await update_endpoint(request, v.key, endpoint_id, patch)
        except forms.FormErrors as exc:
            return edit_page(request, v, current, fields, exc.errors, exc.message, status=422)
        except InvalidRequest as exc:
            return edit_page(request, v, current, fields, forms.form_errors(exc), status=422)
        except ClientError as exc:
            return edit_page(request, v, current, fields, message=exc.message, status=exc.status)
        notice = "saved" + "".join(f"; {w}" for w in warnings)
        return _back(f"{v.base}/endpoints/{endpoint_id}", notice)

    @router.post(f"{base}/endpoints/{{endpoint_id}}/disable", include_in_schema=False)
    async def disable(request: Request, endpoint_id: str) -> Response:
        return await switch(request, endpoint_id, enabled=False)

    @router.post(f"{base}/endpoints/{{endpoint_id}}/enable", include_in_schema=False)
    async def enable(request: Request, endpoint_id: str) -> Response:
        return await switch(request, endpoint_id, enabled=True)

    async def switch(request: Request, endpoint_id: str, *, enabled: bool) -> Response:
        v, fields = await change(request)
        if not isinstance(v, Viewer):
            return v
        reason = fields.get("reason", "").strip() or f"disabled by {v.session.key_name}"
        patch = EndpointPatch(enabled=enabled, disabled_reason=None if enabled else reason)
        await update_endpoint(request, v.key, endpoint_id, patch)
        ui.app(request).wake()
        return _back(f"{v.base}/endpoints/{endpoint_id}", "enabled" if enabled else "disabled")

    @router.post(f"{base}/endpoints/{{endpoint_id}}/rotate", include_in_schema=False)
    async def rotate(request: Request, endpoint_id: str) -> Response:
        v, fields = await change(request)
        if not isinstance(v, Viewer):
            return v
        await rotate_secret(request, endpoint_id, fields.get("secret", "").strip() or None)
        notice = "secret rotated: the new one signs from now, the old one too for 24 hours"
        return _back(f"{v.base}/endpoints/{endpoint_id}", notice)

    @router.post(f"{base}/endpoints/{{endpoint_id}}/secret", include_in_schema=False)
    async def reveal(request: Request, endpoint_id: str) -> Response:
        v, _ = await change(request)
        if not isinstance(v, Viewer):
            return v
        found = await ui.app(request).endpoints.get(endpoint_id_of(endpoint_id))
        return await detail(request, v, endpoint_id, secrets=secrets_json(found)["secrets"])

    @router.post(f"{base}/endpoints/{{endpoint_id}}/test", include_in_schema=False)
    async def test(request: Request, endpoint_id: str) -> Response:
        v, fields = await change(request)
        if not isinstance(v, Viewer):
            return v
        event_type = fields.get("event_type") or "order.completed"
        delivery = await send_test(request, endpoint_id, event_type)
        return _back(f"{v.base}/deliveries/{delivery.id}", f"test event {event_type} sent")

    @router.post(f"{base}/endpoints/{{endpoint_id}}/recover", include_in_schema=False)
    async def recover(request: Request, endpoint_id: str) -> Response:
        v, fields = await change(request)
        if not isinstance(v, Viewer):
            return v
        since = parse_time("since", fields.get("since"))
        if since is None:
            raise BadRequest("since: give the time to recover failed deliveries from")
        app = ui.app(request)
        done = await app.deliveries.replay_failed(
            endpoint_id_of(endpoint_id), since=since, now=utcnow()
        )
        app.wake()
        notice = f"{done.sent_again} sent again, {done.retried_now} retried now"
        return _back(f"{v.base}/endpoints/{endpoint_id}", notice)

    @router.get(f"{base}/endpoints/{{endpoint_id}}/pending", include_in_schema=False)
    async def pending(request: Request, endpoint_id: str) -> Response:
        if not isinstance(v := await look(request), Viewer):
            return v
        app = ui.app(request)
        found = await app.endpoints.get(endpoint_id_of(endpoint_id))
        after = request.query_params.get("after") or None
        rows = await app.deliveries.pending_events(found.id, limit=PAGE_SIZE, after=after)
        events = []
        for delivery_id, payload in rows:
            envelope = orjson.loads(payload)
            events.append(
                {
                    "delivery_id": delivery_id,
                    "id": envelope.get("id"),
                    "type": envelope.get("type"),
                    "payload": payload.decode("utf-8", "replace"),
                }
            )
        return page(
            request,
            v,
            "pending.html",
            e=found,
            events=events,
            next_after=rows[-1][0] if len(rows) == PAGE_SIZE else None,
        )


__all__ = ["add_endpoint_pages", "operator_viewer"]
