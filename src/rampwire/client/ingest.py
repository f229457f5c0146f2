"""The ingest side: ``client.sources``, ``client.inbound`` and ``client.ingest``
(``/v1/sources``, ``/v1/inbound``, ``/ingest/{source}``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from .records import Inbound, IngestAnswer, Source
from .resources import DEFAULT_PAGE_SIZE, Resource, fields, read, segment


class Sources(Resource):
    async def create(
        self,
        *,
        provider: str,
        name: str,
        credentials: Mapping[str, Any],
        options: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
        partner_id: str | None = None,
    ) -> Source:
        """Receive ``provider``'s webhooks at ``source.ingest_path``, verified with
        ``credentials`` (per provider: docs/ingest.md); the answer names them, never their
        values."""
        body = fields(
            provider=provider,
            name=name,
            credentials=dict(credentials),
            options=None if options is None else dict(options),
            enabled=enabled,
            partner_id=partner_id,
        )
        return read(Source, await self._t.send("POST", "/v1/sources", json=body))

    async def get(self, source_id: str) -> Source:
        return read(Source, await self._t.send("GET", f"/v1/sources/{segment(source_id)}"))

    def list(
        self, *, partner: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Source]:
        return self._pages("/v1/sources", Source, {"partner": partner}, page_size)

    async def update(
        self,
        source_id: str,
        *,
        name: str | None = None,
        credentials: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> Source:
        """Change what is given; ``enabled=False`` answers the provider 503 until enabled."""
        body = fields(
            name=name,
            credentials=None if credentials is None else dict(credentials),
            options=None if options is None else dict(options),
            enabled=enabled,
        )
        path = f"/v1/sources/{segment(source_id)}"
        return read(Source, await self._t.send("PATCH", path, json=body))

    async def delete(self, source_id: str) -> None:
        """Stop receiving for good; the inbound log and the orders are kept."""
        await self._t.send("DELETE", f"/v1/sources/{segment(source_id)}")


class InboundLog(Resource):
    async def get(self, record_id: str) -> Inbound:
        """One received request, with its headers and body as received."""
        return read(Inbound, await self._t.send("GET", f"/v1/inbound/{segment(record_id)}"))

    def list(
        self,
        *,
        source: str | None = None,
        outcome: str | None = None,
        order_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Inbound]:
        """Received requests, newest first, with what became of each (operator keys)."""
        query = {"source": source, "outcome": outcome, "order_id": order_id}
        return self._pages("/v1/inbound", Inbound, query, page_size)

    async def reprocess(self, record_id: str) -> Inbound:
        """Verify the logged request again and apply it (after a fix, or once its order
        exists)."""
        path = f"/v1/inbound/{segment(record_id)}/reprocess"
        return read(Inbound, await self._t.send("POST", path))


class Ingest(Resource):
    async def send(
        self,
        source_id: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> IngestAnswer:
        """POST a provider's webhook to ``/ingest/{source_id}`` (``/{token}`` for providers
        that authenticate by a URL token), as the provider would: the raw ``body`` and its
        signature ``headers``. For tests and replays of captured requests."""
        path = f"/ingest/{segment(source_id)}"
        if token is not None:
            path += f"/{segment(token)}"
        sent = {"Content-Type": "application/json", **(headers or {})}
        return read(IngestAnswer, await self._t.send("POST", path, content=body, headers=sent))


__all__ = ["InboundLog", "Ingest", "Sources"]
