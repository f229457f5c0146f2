"""Whose objects a request sees and makes: a partner key's partner's; an operator key's, all
(or the one partner it names). What a path names is checked with the key
(:func:`~rampwire.api.security.require`); these are for listings and new objects."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from ..delivery.endpoints import ALL_PARTNERS
from ..domain.apikeys import ApiKey
from ..domain.partners import PARTNER_ID_PREFIX, Tenant
from ..errors import BadRequest, Forbidden, InvalidRequest, NotFound
from ..ids import has_prefix
from ..repository.tenancy import partner_exists
from .state import state

MAX_SUBSCRIBED_PARTNERS = 1000  # ids in one operator endpoint's ``partners``


def listing(key: ApiKey, partner: str | None) -> Tenant:
    """Whose objects a listing shows: a partner key's partner's; for an operator key,
    everything or the ``partner`` it asked for. Another partner's id is not found."""
    if partner is not None and not has_prefix(partner, PARTNER_ID_PREFIX):
        raise BadRequest(f"partner: {partner!r} is not a partner id (ptn_ and 26 characters)")
    if key.partner_id is None:
        return Tenant(only=partner)
    if partner is not None and partner != key.partner_id:
        raise NotFound(f"no partner {partner!r}")
    return key.tenant


async def owner_for_new(request: Request, key: ApiKey, given: str | None) -> str | None:
    """The partner a new object belongs to: a partner key's own (another partner's id, given,
    is not found); for an operator key, the partner it names, which must exist."""
    if given is None:
        return key.partner_id
    if key.partner_id is not None:
        if given != key.partner_id:
            raise NotFound(f"no partner {given!r}")
        return given
    if not has_prefix(given, PARTNER_ID_PREFIX) or not await partner_exists(
        state(request).db, given
    ):
        raise NotFound(f"no partner {given!r}")
    return given


async def subscribed_partners(
    request: Request, key: ApiKey, owner: str | None, partners: Sequence[str] | None
) -> tuple[str, ...]:
    """An operator endpoint's ``partners``: ``["*"]`` (every partner) or partner ids that
    exist. A partner key cannot subscribe to other partners; a partner's endpoint gets its
    own partner's orders and has none."""
    if not partners:
        return ()
    if key.partner_id is not None:
        raise Forbidden("partners: only an operator key subscribes endpoints to partners")
    if owner is not None:
        raise InvalidRequest(
            "partners: a partner's endpoint gets its own partner's orders only",
            errors=[{"field": "partners", "reason": "only for operator endpoints"}],
        )
    chosen = tuple(dict.fromkeys(partners))
    if chosen == (ALL_PARTNERS,):
        return chosen
    if len(chosen) > MAX_SUBSCRIBED_PARTNERS:
        raise InvalidRequest(
            f"partners: at most {MAX_SUBSCRIBED_PARTNERS}",
            errors=[{"field": "partners", "reason": f"over {MAX_SUBSCRIBED_PARTNERS} ids"}],
        )
    for index, partner in enumerate(chosen):
        if not has_prefix(partner, PARTNER_ID_PREFIX) or not await partner_exists(
            state(request).db, partner
        ):
            raise InvalidRequest(
                f'partners.{index}: {partner!r} is not a partner; give partner ids or ["*"]',
                errors=[{"field": f"partners.{index}", "reason": "no such partner"}],
            )
    return chosen
