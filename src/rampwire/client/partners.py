"""Tenancy and checks: ``client.partners`` (``/v1/partners``, their keys) and
``client.authorization`` (the authorization callback: the operator's default, a partner's own,
and the decision log)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from .records import Authorization, Decision, Partner, PartnerKey, PortalLink
from .resources import DEFAULT_PAGE_SIZE, Resource, fields, read, read_list, segment


class Partners(Resource):
    async def create(self, *, name: str, metadata: Mapping[str, Any] | None = None) -> Partner:
        body = fields(name=name, metadata=None if metadata is None else dict(metadata))
        return read(Partner, await self._t.send("POST", "/v1/partners", json=body))

    async def get(self, partner_id: str) -> Partner:
        return read(Partner, await self._t.send("GET", f"/v1/partners/{segment(partner_id)}"))

    def list(
        self, *, status: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Partner]:
        return self._pages("/v1/partners", Partner, {"status": status}, page_size)

    async def update(
        self,
        partner_id: str,
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        status: str | None = None,
    ) -> Partner:
        """Rename, replace the metadata, or set ``status`` (``suspended``: its keys are refused
        and its deliveries wait; ``active`` again: they go out)."""
        body = fields(
            name=name, metadata=None if metadata is None else dict(metadata), status=status
        )
        path = f"/v1/partners/{segment(partner_id)}"
        return read(Partner, await self._t.send("PATCH", path, json=body))

    async def delete(self, partner_id: str) -> None:
        await self._t.send("DELETE", f"/v1/partners/{segment(partner_id)}")

    async def create_key(self, partner_id: str, *, name: str, scope: str = "write") -> PartnerKey:
        """An API key bound to the partner (``read`` or ``write``); its ``token`` is in this
        answer only."""
        path = f"/v1/partners/{segment(partner_id)}/keys"
        body = {"name": name, "scope": scope}
        return read(PartnerKey, await self._t.send("POST", path, json=body))

    async def portal_link(self, partner_id: str) -> PortalLink:
        """A one-time URL that opens the partner's portal (its endpoints, deliveries, secrets,
        test events), valid until ``expires_at``; give it to the partner."""
        path = f"/v1/partners/{segment(partner_id)}/portal-links"
        return read(PortalLink, await self._t.send("POST", path))


class AuthorizationCallbacks(Resource):
    """With ``partner=`` (operator admin keys), that partner's own callback; without, the
    key's own: a partner key's partner, or the operator's default."""

    @staticmethod
    def _path(partner: str | None) -> str:
        if partner is None:
            return "/v1/authorization"
        return f"/v1/partners/{segment(partner)}/authorization"

    async def get(self, *, partner: str | None = None) -> Authorization:
        return read(Authorization, await self._t.send("GET", self._path(partner)))

    async def set(
        self,
        *,
        url: str,
        auth: Mapping[str, Any],
        operations: Sequence[str] | None = None,
        timeout_seconds: float | None = None,
        failure_mode: str | None = None,
        cache_ttl_seconds: float | None = None,
        partner: str | None = None,
    ) -> Authorization:
        """Set the callback; ``auth`` is ``{"method": "bearer", "token": ...}``, ``basic``
        (username, password), ``header`` (name, value) or ``hmac_sha256`` (secret)."""
        body = fields(
            url=url,
            auth=dict(auth),
            operations=None if operations is None else list(operations),
            timeout_seconds=timeout_seconds,
            failure_mode=failure_mode,
            cache_ttl_seconds=cache_ttl_seconds,
        )
        return read(Authorization, await self._t.send("PUT", self._path(partner), json=body))

    async def delete(self, *, partner: str | None = None) -> None:
        await self._t.send("DELETE", self._path(partner))

    async def decisions(
        self, *, order_id: str | None = None, partner: str | None = None, limit: int | None = None
    ) -> list[Decision]:
        """The decision log, newest first."""
        query = {"order_id": order_id, "partner": partner, "limit": limit}
        answer = await self._t.send("GET", "/v1/authorization/decisions", query=query)
        return read_list(Decision, answer)


class Service(Resource):
    """The server itself: health and the keys it publishes."""

    async def health(self) -> dict[str, Any]:
        """``/healthz``: the process answers."""
        return dict(await self._t.send("GET", "/healthz"))

    async def ready(self) -> dict[str, Any]:
        """``/readyz``: the database answers, and every background task's state."""
        return dict(await self._t.send("GET", "/readyz"))

    async def jwks(self) -> dict[str, Any]:
        """The JWKS of rampwire's RSA signing keys (Fireblocks-dialect deliveries)."""
        return dict(await self._t.send("GET", "/.well-known/jwks.json"))

    async def webhook_public_keys(self) -> dict[str, Any]:
        """The ed25519 public keys of ``v1a`` signatures."""
        return dict(await self._t.send("GET", "/.well-known/webhook-public-keys"))


__all__ = ["AuthorizationCallbacks", "Partners", "Service"]
