"""The dashboard's read-only pages: orders, an order, deliveries, a delivery, and the inbound
log (the overview is :mod:`.overview`). Each reads through the repositories; none needs
JavaScript."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..domain import serde
from ..domain.deliveries import DeliveryStatus
from ..domain.orders import OrderStatus, Provider, Side
from ..errors import BadRequest, NotFound
from ..ingest.inbound import InboundOutcome
from ..repository.orders import OrderFilter
from . import charts
from .context import PAGE_SIZE, Dashboard, parse_partner, parse_time, to_login
from .render import ASSETS, asset


def choice(name: str, value: str | None, kind: Any) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in kind)
        raise BadRequest(f"{name} must be one of {allowed}, not {value!r}") from exc


def add_pages(router: APIRouter, ui: Dashboard) -> None:
    @router.get("/ui", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/ui/overview", status_code=303)

    @router.get("/ui/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in ASSETS:
            raise NotFound(f"no asset {name!r}")
        return asset(name)

    @router.get("/ui/orders", include_in_schema=False)
    async def orders(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        q = request.query_params
        app = ui.app(request)
        reference = (q.get("q") or "").strip()
        if reference:
            ids = await ui.order_events(request).by_reference(reference)
            if len(ids) == 1:
                return RedirectResponse(f"/ui/orders/{ids[0]}", status_code=303)
            found = [await app.orders.get(i) for i in ids]
            last_id = None
        else:
            status = choice("status", q.get("status"), OrderStatus)
            filters = OrderFilter(
                statuses=(status,) if status else (),
                provider=choice("provider", q.get("provider"), Provider),
                side=choice("side", q.get("side"), Side),
                created_from=parse_time("from", q.get("from")),
                created_to=parse_time("to", q.get("to")),
                partner_id=parse_partner(q.get("partner")),
            )
            page = await app.orders.find(filters, limit=PAGE_SIZE, before=q.get("before") or None)
            found = page.orders
            last_id = page.last_id if page.rows == PAGE_SIZE else None
        return ui.pages.render(
            request,
            "orders.html",
            session=session,
            orders=found,
            last_id=last_id,
            q=dict(q),
            statuses=[s.value for s in OrderStatus],
            providers=[p.value for p in Provider],
            sides=[s.value for s in Side],
            partners=await app.partners.find(limit=200),
        )

    @router.get("/ui/orders/{order_id}", include_in_schema=False)
    async def order(request: Request, order_id: str) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        app = ui.app(request)
        found = await app.orders.get(order_id)
        timeline = await app.orders.timeline(order_id)
        events = await ui.order_events(request).events(order_id)
        deliveries = {e.id: await app.deliveries.find(event_id=e.id, limit=50) for e in events}
        decisions = await app.authorization.decisions(order_id=order_id, limit=20)
        lanes = charts.lanes(
            [
                charts.Lane(
                    seq=t.seq,
                    occurred_at=t.occurred_at,
                    recorded_at=t.recorded_at,
                    label=t.status or t.to_status,
                    kind=t.kind.value,
                )
                for t in timeline
            ]
        )
        fields = {k: v for k, v in serde.dump(found).items() if v not in (None, [], {})}
        return ui.pages.render(
            request,
            "order.html",
            session=session,
            order=found,
            fields=fields,
            timeline=timeline,
            events=events,
            deliveries=deliveries,
            decisions=decisions,
            lanes=lanes,
        )

    @router.get("/ui/deliveries", include_in_schema=False)
    async def deliveries(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        q = request.query_params
        app = ui.app(request)
        status = choice("status", q.get("status"), DeliveryStatus)
        found = await app.deliveries.find(
            endpoint_id=q.get("endpoint") or None,
            statuses=(status,) if status else (),
            limit=PAGE_SIZE,
            before=q.get("before") or None,
            for_partner=parse_partner(q.get("partner")),
        )
        endpoints = await app.endpoints.all(limit=200)
        return ui.pages.render(
            request,
            "deliveries.html",
            session=session,
            deliveries=found,
            endpoints=endpoints,
            last_id=found[-1].id if len(found) == PAGE_SIZE else None,
            q=dict(q),
            statuses=[s.value for s in DeliveryStatus],
            partners=await app.partners.find(limit=200),
        )

    @router.get("/ui/deliveries/{delivery_id}", include_in_schema=False)
    async def delivery(request: Request, delivery_id: str) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        app = ui.app(request)
        found, attempts = await app.deliveries.get(delivery_id)
        payload = await app.deliveries.event_payload(found.event_id)
        return ui.pages.render(
            request,
            "delivery.html",
            session=session,
            d=found,
            attempts=attempts,
            payload=None if payload is None else payload.decode("utf-8", "replace"),
            notice=request.query_params.get("done"),
        )

    @router.get("/ui/inbound", include_in_schema=False)
    async def inbound(request: Request) -> Response:
        if (session := await ui.session(request)) is None:
            return to_login(request)
        q = request.query_params
        app = ui.app(request)
        found = await app.inbound.find(
            limit=PAGE_SIZE,
            before=q.get("before") or None,
            source_id=q.get("source") or None,
            outcome=choice("outcome", q.get("outcome"), InboundOutcome),
            order_id=q.get("order") or None,
            partner_id=parse_partner(q.get("partner")),
        )
        return ui.pages.render(
            request,
            "inbound.html",
            session=session,
            records=found,
            sources=await app.sources.all(limit=200),
            last_id=found[-1].id if len(found) == PAGE_SIZE else None,
            q=dict(q),
            outcomes=[o.value for o in InboundOutcome],
            partners=await app.partners.find(limit=200),
            notice=q.get("done"),
        )
