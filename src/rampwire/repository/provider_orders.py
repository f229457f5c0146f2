"""Providers' orders, folded in inside the caller's transaction (ingest): held by advisory
locks on (provider, provider order id), created on first sight, each written once in its final
state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain import serde
from ..domain.events import Event
from ..domain.fold import ChangeResult, HeldOrder, ProviderUpdate, first_sight, fold
from ..domain.orders import Provider
from ..domain.timeline import TimelineEntry
from ..storage import Connection, Row
from ..storage.database import Writes, fetch_rows, rows_clause
from .order_rows import HELD, PROVIDER_KEY, held_from_row, write_held


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderChange:
    result: ChangeResult | None  # None: the order is unknown and no side says how to create it
    events: list[Event]  # to publish, ``order.created`` first when the change made the order
    created: bool = False  # the change made the order
    partner_id: str | None = None  # the order's partner (None: the operator's)


@dataclass(frozen=True, slots=True)
class Rider:
    """A read that the caller needs after the orders' locks, sent in the statement that reads
    the orders (PostgreSQL), so it costs no round trip of its own: ``sql`` is a scalar subquery
    whose value is JSON; it may read ``v`` (the updates' ``provider, provider_order_id``) and
    ``held`` (the orders found: ``provider, provider_order_id, partner_id``), and names its
    parameters ``{0}``, ``{1}``, ... (``args``, in order)."""

    sql: str
    args: tuple[Any, ...] = ()


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
    return list({f"{provider.value}:{order_id}" for provider, order_id in orders})


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
    riders: Sequence[Rider] = (),
) -> tuple[list[ProviderChange], list[Any]]:
    """Fold providers' changes into their orders, in the order given, inside the caller's
    transaction; an order is created (status ``created``, with the change's fields) on
    first sight. The caller holds the orders' locks (:func:`lock`), and publishes the events
    (:func:`~rampwire.repository.outbox.outbox`) and runs ``writes`` once it has added its own.
    Returns the changes, and each rider's value (PostgreSQL only; None when it read nothing,
    or when there were no updates and so no statement).

    Set-based: one statement reads every order concerned, and each order is written once,
    in its final state, whatever the number of changes (:func:`~.order_rows.write_held`)."""
    rows, ridden = await _read(conn, updates, riders)
    held: dict[tuple[str, str], HeldOrder] = {
        (row["provider"], row["provider_order_id"]): held_from_row(row) for row in rows
    }
    entries: list[TimelineEntry] = []
    changes: list[ProviderChange] = []
    for update in updates:
        key = (update.provider.value, update.provider_order_id)
        order = held.get(key)
        created: Event | None = None
        if order is None:
            if update.side is None:
                changes.append(ProviderChange(result=None, events=[]))
                continue
            order, created, entry = first_sight(update, now)
            held[key] = order
            entries.append(entry)
        result = fold(order, update.change, source=update.source, strict=False, now=now)
        entries.append(result.entry)
        events = result.events if created is None else [created, *result.events]
        changes.append(
            ProviderChange(
                result=result,
                events=events,
                created=bool(created),
                partner_id=order.partner_id,
            )
        )
    write_held(writes, list(held.values()), entries)
    return changes, ridden


_HELD_COLUMNS = 2 + HELD.count(",") + 1  # provider, provider_order_id, then HELD's


async def _read(
    conn: Connection, updates: Sequence[ProviderUpdate], riders: Sequence[Rider]
) -> tuple[list[Row], list[Any]]:
    """-- read_provider_orders --: the orders of ``updates`` (row-locked, in id order, on
    PostgreSQL), and the riders' values: one statement, whose last row carries the riders."""
    keys = list({(u.provider.value, u.provider_order_id): None for u in updates})
    select = (
        f"SELECT o.provider, o.provider_order_id, {HELD} FROM orders o"
        " WHERE (o.provider, o.provider_order_id) IN (SELECT provider, provider_order_id FROM v)"
        " ORDER BY o.id"
    )
    if conn.dialect != "postgresql":
        if riders:
            raise ValueError("riders are read on PostgreSQL only")
        return await fetch_rows(conn, PROVIDER_KEY, keys, select), []
    if not riders:
        return await fetch_rows(conn, PROVIDER_KEY, keys, f"{select} FOR UPDATE"), []
    if not keys:
        return [], [None] * len(riders)
    args: list[Any] = [list(column) for column in zip(*keys, strict=True)]
    values: list[str] = []
    for rider in riders:
        first = len(args) + 1
        values.append(rider.sql.format(*(f"${n}" for n in range(first, first + len(rider.args)))))
        args.extend(rider.args)
    nulls = ", ".join(["NULL"] * len(riders))
    rows = await conn.fetch(
        f"{rows_clause(conn.dialect, PROVIDER_KEY, 0)}, held AS ({select} FOR UPDATE)"
        f" SELECT *, {nulls} FROM held"
        f" UNION ALL SELECT {', '.join(['NULL'] * _HELD_COLUMNS)}, {', '.join(values)}",
        *args,
    )
    last = rows[-1]
    ridden = [
        None if last[n] is None else serde.from_json(last[n])
        for n in range(_HELD_COLUMNS, _HELD_COLUMNS + len(riders))
    ]
    return rows[:-1], ridden
