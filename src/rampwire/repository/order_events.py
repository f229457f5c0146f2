"""An order's events and the ways to find an order by what a person has in hand: its id, or
the provider's order id (the dashboard's search box)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..domain.orders import Provider
from ..storage import Database
from ..storage.database import from_us


@dataclass(frozen=True, kw_only=True, slots=True)
class EventSummary:
    id: str
    type: str
    sequence: int | None
    created_at: datetime


class OrderEventRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def events(self, order_id: str, *, limit: int = 200) -> list[EventSummary]:
        """The order's events in their sequence (the ``events_order`` index)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id, type, sequence, created_at FROM events WHERE order_id = $1"
                " ORDER BY sequence, id LIMIT $2",
                order_id,
                limit,
            )
        return [
            EventSummary(
                id=r["id"],
                type=r["type"],
                sequence=r["sequence"],
                created_at=from_us(r["created_at"]),
            )
            for r in rows
        ]

    async def by_reference(self, reference: str, *, limit: int = 20) -> list[str]:
        """Ids of the orders whose id or provider order id is ``reference``: the provider list
        lets the ``(provider, provider_order_id)`` index answer."""
        providers = [p.value for p in Provider]
        listed = ", ".join(f"${i}" for i in range(3, 3 + len(providers)))
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id FROM orders WHERE id = $1 UNION"
                f" SELECT id FROM orders WHERE provider IN ({listed}) AND provider_order_id = $1"
                " ORDER BY id LIMIT $2",
                reference,
                limit,
                *providers,
            )
        return [r["id"] for r in rows]
