"""Portal isolation, generated from the app's router: every portal route (``/ui/portal/...``)
is called from partner A's portal session with partner B's ids in its path (and its
``endpoint`` filter) and must answer 404 or 403, with no row that names one of B's objects
changed; and every operator page (``/ui/...`` outside the portal) answers a portal session
with the login form (a redirect), 401 or 403, never the page. The routes are read at run time:
a page added later is covered without editing this test (a path parameter of a kind it cannot
tell fails it, loudly)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from tests.support.partners import make_partner, rows_naming
from tests.support.portal_kit import csrf_of, open_portal, operator

from rampwire.api import create_app
from rampwire.settings import Settings
from rampwire.storage import Database

_PREFIX_BY_PARAMETER = {
    "endpoint_id": "ep",
    "delivery_id": "dlv",
    "order_id": "ord",
    "record_id": "inb",
}
_PUBLIC = {("GET", "/ui/login"), ("POST", "/ui/login"), ("GET", "/ui/static/{name}")}


async def _objects(api: httpx.AsyncClient, partner_id: str) -> dict[str, str]:
    """An endpoint of the partner with a delivery (of an order of the partner's)."""
    endpoint = await api.post(
        "/v1/endpoints", json={"url": "http://127.0.0.1:9/hooks", "partner_id": partner_id}
    )
    order = await api.post("/v1/orders", json={"side": "buy", "partner_id": partner_id})
    assert endpoint.status_code == order.status_code == 201, (endpoint.text, order.text)
    found = await api.get(f"/v1/endpoints/{endpoint.json()['id']}/deliveries")
    (delivery,) = found.json()["data"]
    return {
        "ptn": partner_id,
        "ep": endpoint.json()["id"],
        "dlv": delivery["id"],
        "ord": order.json()["id"],
        "evt": delivery["event_id"],
        "inb": "inb_01JB0000000000000000000000",
    }


def _flat(routes: Sequence[Any]) -> Iterator[APIRoute]:
    """Every route, those of included routers too (FastAPI keeps them in the router it was
    given; the dashboard's is included without a prefix)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _flat(route.original_router.routes)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in _flat(app.router.routes)
        if route.path.startswith("/ui")
        for method in route.methods
        if method != "HEAD"
    )


# the operator's own settings pages: a portal session must be refused whatever id they name
_OPERATOR_ONLY = {
    "partner_id": "ptn",
    "source_ref": "src_01JB0000000000000000000000",
    "key_id": "key_01JB0000000000000000000000",
}


def _url(path: str, ids: dict[str, str]) -> str:
    for name, prefix in _PREFIX_BY_PARAMETER.items():
        path = path.replace("{" + name + "}", ids[prefix])
    for name, value in _OPERATOR_ONLY.items():
        path = path.replace("{" + name + "}", ids.get(value, value))
    assert "{" not in path or path == "/ui/static/{name}", f"{path}: a parameter of no known kind"
    return path


async def test_a_portal_session_reaches_nothing_of_another_partner_nor_operator_pages(
    settings: Settings, db: Database
) -> None:
    async with operator(settings.replace(run_worker=False), db) as api:
        a, b = await make_partner(api, "A"), await make_partner(api, "B")
        await _objects(api, a["id"])
        theirs = await _objects(api, b["id"])
        portal = await open_portal(api, a["id"])
        csrf = await csrf_of(portal, "/ui/portal/endpoints")
        routes = _routes(create_app(settings, db=db))  # the routes the app serving us has
        portal_routes = [(m, p) for m, p in routes if p.startswith("/ui/portal")]
        assert len(portal_routes) >= 18
        before = await rows_naming(db, theirs)
        form = {
            "csrf": csrf,
            "url": "http://127.0.0.1:9/x",
            "event_types": "*",
            "event_type": "order.completed",
            "since": "2026-01-01T00:00",
            "reason": "x",
        }
        tried = 0
        for method, path in portal_routes:
            if path in ("/ui/portal", "/ui/portal/open", "/ui/portal/logout"):
                continue  # name nobody's objects: the link, the session
            url = _url(path, theirs)
            query = {} if "{" in path else {"endpoint": theirs["ep"]}
            if method == "GET":
                answer = await portal.get(url, params=query)
            else:
                answer = await portal.post(url, params=query, data=form)
            if "{" in path or path.endswith("/deliveries"):
                tried += 1
                assert answer.status_code in (403, 404), (method, url, answer.text[:300])
            else:  # the lists and forms of the portal itself: nothing of B's on them
                assert answer.status_code < 500, (method, url)
                assert all(i not in answer.text for i in theirs.values()), (method, url)
        assert tried >= 14
        assert await rows_naming(db, theirs) == before

        for method, path in routes:
            if path.startswith("/ui/portal") or (method, path) in _PUBLIC:
                continue
            url = _url(path, theirs)
            if method == "GET":
                answer = await portal.get(url)
            else:
                answer = await portal.post(url, data=form)
            location = answer.headers.get("location", "")
            assert answer.status_code in (401, 403) or (
                answer.status_code == 303
                and (location.startswith("/ui/login") or location == "/ui/overview")
            ), (method, url, answer.status_code, location)
        assert await rows_naming(db, theirs) == before
