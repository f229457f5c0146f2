"""Who looks at a page the operator's dashboard and the partner portal share (the endpoint
pages, the delivery log): the operator, through its session's key, or a partner, through its
portal session. The pages ask the API's own functions with :attr:`Viewer.key`, so a portal page
goes through the same tenancy as a partner key (``api.tenants``, ``api.security``): another
partner's object is not found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from ..api.security import owned_by_path
from ..domain.apikeys import ApiKey
from ..domain.partners import Tenant
from ..errors import Forbidden
from .sessions import Session


@dataclass(frozen=True, kw_only=True, slots=True)
class Viewer:
    base: str  # where the pages are: /ui, or /ui/portal
    key: ApiKey  # the operator session's key, or the portal's stand-in key of its partner
    session: Session  # what the page header shows, and the CSRF token
    headers: Mapping[str, str]  # the security headers (the portal's CSP may allow framing)

    @property
    def portal(self) -> bool:
        return self.key.partner_id is not None

    @property
    def tenant(self) -> Tenant:
        return self.key.tenant

    def may_write(self) -> bool:
        return self.session.may_write()

    def require_write(self) -> None:
        if not self.may_write():
            raise Forbidden(f"the key {self.session.key_name!r} has scope read; this needs write")

    async def check_path(self, request: Request) -> None:
        """404 unless a portal's partner owns every object the path names (the API's own
        check, :func:`~rampwire.api.security.owned_by_path`): a route added later is covered."""
        if self.portal:
            await owned_by_path(request, self.key)


# Resolves a request's viewer, or answers it (the login form, or the portal's closed page).
ViewerOf = Callable[[Request], Awaitable["Viewer | Response"]]
