"""Bearer authentication with API keys, and scope checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import logs
from ..domain.apikeys import ApiKey, Scope
from ..domain.partners import PartnerStatus
from ..errors import Forbidden, Unauthorized
from ..repository.tenancy import Kind, check_owner
from .state import state

# Declares the scheme in the OpenAPI document (the Authorize button of /docs); it refuses
# nothing itself (auto_error off): :func:`authenticate` answers with problem documents.
bearer = HTTPBearer(
    scheme_name="apiKey",
    description="An API key: `Authorization: Bearer rw_...` (scopes: read < write < admin)",
    auto_error=False,
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def authenticate(request: Request) -> ApiKey:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization header: send `Authorization: Bearer <key>`")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be `Bearer <key>`")
    found = await state(request).keys.authenticate(token.strip())
    if found is None:
        raise Unauthorized("this API key is unknown or revoked")
    key, partner_status = found
    if partner_status == PartnerStatus.SUSPENDED:
        raise Forbidden(
            f"partner {key.partner_id} is suspended: its keys are refused until it is resumed",
            partner_id=key.partner_id,
            reason="partner_suspended",
        )
    request.state.api_key = key
    return key


# The path parameters that name an object a partner may own. Every route's key check asks
# whether a partner key's partner owns what its path names, so a route added later is covered.
_OWNED_BY_PATH = {
    "order_id": Kind.ORDER,
    "endpoint_id": Kind.ENDPOINT,
    "delivery_id": Kind.DELIVERY,
    "event_id": Kind.EVENT,
    "session_id": Kind.LISTEN_SESSION,
}


async def owned_by_path(request: Request, key: ApiKey) -> None:
    """:class:`~rampwire.errors.NotFound` unless the partner key's partner owns every object
    the path names."""
    for name, value in request.path_params.items():
        kind = _OWNED_BY_PATH.get(name)
        if kind is not None:
            await check_owner(state(request).db, key.tenant, kind, str(value))


def require(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller's key, which must hold ``scope``."""

    async def dependency(request: Request, _: Bearer) -> ApiKey:
        key = await authenticate(request)
        logs.tag(partner_id=key.partner_id)  # this request's lines, the access line included
        if not key.scope.allows(scope):
            raise Forbidden(
                f"this API key has scope {key.scope.value!r}; this needs {scope.value!r}",
                required_scope=scope.value,
            )
        quotas = state(request).quotas
        if quotas is not None:  # a partner's keys share its quota; an operator key has its own
            if key.partner_id is not None:
                quotas.take(key.partner_id, f"partner {key.partner_id}")
            else:
                quotas.take(key.id, f"operator key {key.id}")
        if key.partner_id is not None:
            await owned_by_path(request, key)
        return key

    return dependency


def require_operator(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: an operator key (bound to no partner) holding ``scope``."""
    needs = require(scope)

    async def dependency(request: Request, _: Bearer) -> ApiKey:
        key = await needs(request, _)
        if key.partner_id is not None:
            raise Forbidden("this needs an operator key; a partner key cannot do it")
        return key

    return dependency
