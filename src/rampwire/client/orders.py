"""``client.orders``: create, read, list, change and trace orders (``/v1/orders``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from .records import Order, OrderChanged, Timeline
from .resources import DEFAULT_PAGE_SIZE, Resource, fields, read, segment


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key``: random, so two creates never share one by accident."""
    return f"rwc-{uuid.uuid4()}"


class Orders(Resource):
    async def create(
        self,
        /,
        *,
        side: str,
        status: str | None = None,
        fiat: Mapping[str, Any] | None = None,
        crypto: Mapping[str, Any] | None = None,
        wallet_address: str | None = None,
        provider: str | None = None,
        provider_order_id: str | None = None,
        partner_id: str | None = None,
        references: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **other: Any,
    ) -> Order:
        """Create an order. An ``Idempotency-Key`` is generated unless given, so the client's
        own retries (after a lost connection) return the same order instead of a second one;
        give your own (say, your checkout id) to make your retries safe as well. ``other``:
        any further field of ``OrderCreate`` (``fees``, ``payment``, ``exchange_rate``...)."""
        body = fields(
            side=side,
            status=status,
            fiat=fiat,
            crypto=crypto,
            wallet_address=wallet_address,
            provider=provider,
            provider_order_id=provider_order_id,
            partner_id=partner_id,
            references=references,
            metadata=metadata,
            **other,
        )
        key = idempotency_key or new_idempotency_key()
        answer = await self._t.send(
            "POST", "/v1/orders", json=body, headers={"Idempotency-Key": key}
        )
        return read(Order, answer)

    async def get(self, order_id: str) -> Order:
        return read(Order, await self._t.send("GET", f"/v1/orders/{segment(order_id)}"))

    def list(
        self,
        *,
        status: str | None = None,
        provider: str | None = None,
        side: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        partner: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Order]:
        """Every matching order, newest first, fetched a page at a time as you iterate."""
        query = {
            "status": status,
            "provider": provider,
            "side": side,
            "created_from": created_from,
            "created_to": created_to,
            "partner": partner,
        }
        return self._pages("/v1/orders", Order, query, page_size)

    async def change(
        self,
        order_id: str,
        *,
        status: str | None = None,
        set: Mapping[str, Any] | None = None,
        occurred_at: datetime | None = None,
        note: str | None = None,
    ) -> OrderChanged:
        """Move the order to ``status`` and/or ``set`` fields; answers the order and the event
        it produced. A change that would move it backwards raises ProblemError (409)."""
        body = fields(status=status, set=set, occurred_at=occurred_at, note=note)
        path = f"/v1/orders/{segment(order_id)}/changes"
        return read(OrderChanged, await self._t.send("POST", path, json=body))

    async def timeline(self, order_id: str) -> Timeline:
        """Every event that touched the order, late and ignored ones included."""
        path = f"/v1/orders/{segment(order_id)}/timeline"
        return read(Timeline, await self._t.send("GET", path))


__all__ = ["Orders", "new_idempotency_key"]
