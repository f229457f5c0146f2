"""The dashboard at ``/ui``: server-rendered pages for operators, served by ``rampwire serve``
with every asset from this package (no CDN, no build step)."""

from __future__ import annotations

from fastapi import APIRouter

from .actions import add_actions
from .authorization import add_authorization
from .context import Dashboard
from .endpoints import add_endpoint_pages, operator_viewer
from .event_types import add_event_types
from .keys import add_keys
from .live import add_live
from .overview import add_overview
from .pages import add_pages
from .partners import add_partners
from .portal import add_portal
from .sources import add_sources

__all__ = ["router"]


def router() -> APIRouter:
    """The dashboard's routes, sharing one template environment and session signer."""
    routes = APIRouter()
    dashboard = Dashboard()
    add_actions(routes, dashboard)
    add_pages(routes, dashboard)
    add_live(routes, dashboard)
    add_endpoint_pages(routes, dashboard, base="/ui", viewer=operator_viewer(dashboard))
    add_portal(routes, dashboard)
    add_overview(routes, dashboard)
    add_partners(routes, dashboard)
    add_keys(routes, dashboard)
    add_authorization(routes, dashboard)
    add_sources(routes, dashboard)
    add_event_types(routes, dashboard)
    return routes
