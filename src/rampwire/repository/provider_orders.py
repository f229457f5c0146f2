"""Providers' orders, folded in inside the caller's transaction (ingest): held by advisory
locks on (provider, provider order id), created on first sight, each written once in its final
state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..domain.events import Event
from ..domain.fold import ChangeResult, HeldOrder, ProviderUpdate, first_change, fold
from ..domain.orders import Provider
from ..domain.timeline import TimelineEntry
from ..storage import Connection, Row
from ..storage.database import Writes, fetch_rows
from ..types import record_maker
from .order_rows import (
    BY_PROVIDER_REF,
    HELD,
    PROVIDER_KEY,
    OrderBodies,
    held_from_row,
    write_held,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderChange:
    result: ChangeResult | None  # None: the order is unknown and no side says how to create it
    events: list[Event]  # to publish, ``order.created`` first when the change made the order
    created: bool = False  # the change made the order
    partner_id: str | None = None  # the order's partner (None: the operator's)


_provider_change = record_maker(ProviderChange)  # through its slots: one per provider change


# PostgreSQL: the advisory locks of :func:`lock`, taken in one statement in one global order (by
# lock key), so that two transactions cannot deadlock on them. It returns how many.
_LOCK = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT"
    " hashtextextended(unnest({keys}::text[]), 0) AS k ORDER BY k) AS keys"
)


def lock_statement(keys: str) -> str:
    """The statement of :func:`lock`, its keys (:func:`lock_keys`) in parameter ``keys``
    (``"$3"``), for a caller that sends it inside a statement of its own."""
    return _LOCK.format(keys=keys)


def lock_keys(orders: Iterable[tuple[Provider, str]]) -> list[str]:
    # str(): a StrEnum's value, in C (.value is two Python calls)
    return list({f"{provider!s}:{order_id}" for provider, order_id in orders})


async def lock(conn: Connection, orders: Iterable[tuple[Provider, str]]) -> None:
    """Until the transaction ends, hold these provider orders, existing or not: a request
    that finds no order and one that creates it cannot pass each other. On PostgreSQL,
    transaction-scoped advisory locks; SQLite has a single writer."""
    keys = lock_keys(orders)
    if keys and conn.dialect == "postgresql":
        await conn.execute(lock_statement("$1"), keys)


async def apply(
    conn: Connection,
    writes: Writes,
    updates: Sequence[ProviderUpdate],
    *,
    now: datetime,
    bodies: OrderBodies,
) -> list[ProviderChange]:
    """Fold providers' changes into their orders, in the order given, inside the caller's
    transaction; an order is created (status ``created``, with the change's fields) on
    first sight. The caller holds the orders' locks (:func:`lock`), and publishes the events
    (:func:`~rampwire.repository.outbox.outbox`) and runs ``writes`` once it has added its own.

    Set-based: one statement reads every order concerned, and each order is written once,
    in its final state, whatever the number of changes (:func:`~.order_rows.write_held`).

    A stored body is read as the record this process wrote (``bodies``, told by the caller
    after its commit: each change's last ``result.order``), else validated; a body that no
    longer validates fails the transaction with :class:`~rampwire.errors.UnreadableOrder`
    (ingest answers 503, so the provider sends it again; the group commit then writes the
    batch's other requests without it)."""
    rows = await _read(conn, updates)
    held: dict[tuple[str, str], HeldOrder] = {
        (row["provider"], row["provider_order_id"]): held_from_row(row, bodies.load(row["id"], row))
        for row in rows
    }
    entries: list[TimelineEntry] = []
    changes: list[ProviderChange] = []
    for update in updates:
        key = (str(update.provider), update.provider_order_id)  # str(): the value, in C
        order = held.get(key)
        if order is not None:
            result = fold(order, update.change, source=update.source, strict=False, now=now)
            entries.append(result.entry)
            # result, events, created, partner_id
            changes.append(
                _provider_change((result, result.events, False, result.order.partner_id))
            )
            continue
        if update.side is None:
            changes.append(ProviderChange(result=None, events=[]))
            continue
        order, created, entry, result = first_change(update, now)  # first_sight, then fold
        held[key] = order
        entries.append(entry)
        entries.append(result.entry)
        changes.append(
            _provider_change((result, [created, *result.events], True, result.order.partner_id))
        )
    write_held(writes, list(held.values()), entries)
    return changes


async def _read(conn: Connection, updates: Sequence[ProviderUpdate]) -> list[Row]:
    """-- read_provider_orders --: the orders of ``updates`` (row-locked, in id order, on
    PostgreSQL)."""
    keys = list({(str(u.provider), u.provider_order_id): None for u in updates})
    select = (
        f"SELECT o.id, o.provider, o.provider_order_id, {HELD} FROM orders o"
        f" WHERE {BY_PROVIDER_REF} ORDER BY o.id"
    )
    if conn.dialect == "postgresql":
        select += " FOR UPDATE"
    return await fetch_rows(conn, PROVIDER_KEY, keys, select)
