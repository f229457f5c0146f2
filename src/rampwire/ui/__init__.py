"""The dashboard at ``/ui``: server-rendered pages for operators, served by ``rampwire serve``
with every asset from this package (no CDN, no build step)."""

from __future__ import annotations

from fastapi import APIRouter

from .actions import add_actions
from .context import Dashboard
from .endpoints import add_endpoint_pages, operator_viewer
from .live import add_live
from .pages import add_pages
from .portal import add_portal

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
    return routes
