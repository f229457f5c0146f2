"""Who owns an object: the one question a partner key's every request asks first.

A partner key sees only its partner's objects; anything else, whether it exists or not, is
"not found" (never "forbidden": that would tell one partner what another has). Ownership never
changes once an object exists, so checking it before the operation is as good as inside it.
Operator keys see everything and skip the check.
"""

from __future__ import annotations

from enum import StrEnum

from ..domain.partners import Tenant
from ..errors import NotFound
from ..storage import Database


class Kind(StrEnum):
    """What an id names; the value is how a message says it."""

    ORDER = "order"
    ENDPOINT = "endpoint"
    DELIVERY = "delivery"
    EVENT = "event"
    LISTEN_SESSION = "listen session"


# -- owner_of --: one row, its owner (NULL: the operator's); no row, no such object.
_OWNER = {
    Kind.ORDER: "SELECT partner_id FROM orders WHERE id = $1",
    Kind.ENDPOINT: "SELECT partner_id FROM endpoints WHERE id = $1 AND deleted_at IS NULL",
    # a delivery is its endpoint's: an operator endpoint's delivery of a partner's order is
    # the operator's, so no partner learns which operator endpoints exist
    Kind.DELIVERY: "SELECT e.partner_id FROM deliveries d JOIN endpoints e"
    " ON e.id = d.endpoint_id WHERE d.id = $1",
    # an event is its order's; one without an order (an endpoint disabled) is the operator's
    Kind.EVENT: "SELECT o.partner_id FROM events v LEFT JOIN orders o ON o.id = v.order_id"
    " WHERE v.id = $1",
    Kind.LISTEN_SESSION: "SELECT partner_id FROM listen_sessions WHERE id = $1",
}


async def owner_of(db: Database, kind: Kind, object_id: str) -> str | None:
    """The partner that owns the ``kind`` ``object_id`` (None: the operator);
    :class:`NotFound` when there is none."""
    async with db.connection() as conn:
        row = await conn.fetchrow(_OWNER[kind], object_id)
    if row is None:
        raise NotFound(f"no {kind.value} {object_id!r}")
    return row["partner_id"]  # type: ignore[no-any-return]


async def check_owner(db: Database, tenant: Tenant, kind: Kind, object_id: str) -> None:
    """Raise :class:`NotFound` unless ``tenant`` may see the ``kind`` ``object_id``. For an
    operator, nothing is read: the operation's own lookup says whether it exists."""
    if tenant.is_partner and not tenant.owns(await owner_of(db, kind, object_id)):
        raise NotFound(f"no {kind.value} {object_id!r}")


async def partner_exists(db: Database, partner_id: str) -> bool:
    async with db.connection() as conn:
        return bool(
            await conn.fetchval(
                "SELECT 1 FROM partners WHERE id = $1 AND deleted_at IS NULL", partner_id
            )
        )
