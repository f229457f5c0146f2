"""Templates and the headers every dashboard response carries.

Jinja2 escapes every value unless a chart marks its own markup safe; the Content-Security-Policy
allows this origin's own files only (no inline script or style), and no page may be framed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from .sessions import Session

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def portal_headers(frame_ancestors: Sequence[str]) -> dict[str, str]:
    """The partner portal's headers: framed by ``frame_ancestors`` only (none: by nobody)."""
    if not frame_ancestors:
        return SECURITY_HEADERS
    allowed = " ".join(frame_ancestors)
    csp = CSP.replace("frame-ancestors 'none'", f"frame-ancestors {allowed}")
    framed = {k: v for k, v in SECURITY_HEADERS.items() if k != "x-frame-options"}
    return {**framed, "content-security-policy": csp}


ASSETS = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _pretty(text: str | None) -> str:
    """JSON indented for reading; anything else as it is."""
    if not text:
        return ""
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return text


def ms(value_us: int | None) -> str:
    return "—" if value_us is None else f"{value_us / 1000:.1f} ms"


class Pages:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("rampwire.ui", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = _when
        self.env.filters["ms"] = ms
        self.env.filters["pretty"] = _pretty

    def render(
        self,
        request: Request,
        name: str,
        *,
        session: Session | None,
        status: int = 200,
        headers: Mapping[str, str] = SECURITY_HEADERS,
        **context: Any,
    ) -> HTMLResponse:
        context.setdefault("base", "/ui")  # the portal's pages are under /ui/portal
        html = self.env.get_template(name).render(session=session, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status, headers=dict(headers))


def asset(name: str) -> Response:
    data = files("rampwire.ui").joinpath("static", name).read_bytes()
    headers = {**SECURITY_HEADERS, "cache-control": "public, max-age=300"}
    return Response(data, media_type=ASSETS[name], headers=headers)
