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


def locked_read(locks: str) -> str:
    """PostgreSQL: ``-- read_provider_orders --`` (:func:`read`) after the advisory locks of
    :func:`lock` (their keys in parameter ``locks``), in one statement, for a caller that sends
    it inside a statement of its own where ``v`` is the orders' :data:`.order_rows.PROVIDER_KEY`
    rows: a batch's first round trip does both.

    The locks are an uncorrelated scalar subquery in the ``WHERE``, which PostgreSQL runs once,
    as a one-time filter, before it scans orders: no row is locked before the advisory locks.
    But the statement's snapshot is taken before it waits for them: an order that another
    transaction changed meanwhile is read as it committed (``FOR UPDATE`` follows a row to
    its newest version), one that it *made* is not read at all. The caller must catch that
    case (:func:`made_meanwhile`)."""
    return f"{_READ} AND ({lock_statement(locks)}) IS NOT NULL ORDER BY o.id FOR UPDATE"


def made_meanwhile(writes: Writes, unseen: Iterable[tuple[Provider, str]]) -> int | None:
    """After :func:`locked_read`, added to the caller's ``writes`` (no round trip of its own,
    and their snapshot is taken after the locks): which of the orders it did not find and did
    not make either (a change that says no side) exist now, made by another transaction while
    the read waited for their locks. Its index in ``writes``, None when there are none. An
    order it did make is caught by the ``orders_provider_ref`` index instead
    (:data:`.order_rows.PROVIDER_REF`). The caller writes again when either finds one."""
    keys = [(str(provider), order_id) for provider, order_id in unseen]
    if not keys:
        return None
    return writes.read(PROVIDER_KEY, keys, f"SELECT o.id FROM orders o WHERE {BY_PROVIDER_REF}")


def apply(
    writes: Writes,
    updates: Sequence[ProviderUpdate],
    rows: Sequence[Row],
    *,
    now: datetime,
    bodies: OrderBodies,
) -> list[ProviderChange]:
    """Fold providers' changes into their orders, in the order given, inside the caller's
    transaction; an order is created (status ``created``, with the change's fields) on
    first sight. ``rows`` are the orders, as :func:`read` (or :func:`locked_read`) read them;
    one that no update names is left unread (a duplicate request's: its body is not even
    validated). The caller holds their locks (:func:`lock`), and publishes the events
    (:func:`~rampwire.repository.outbox.outbox`) and runs ``writes`` once it has added its own.

    Set-based: one statement read every order concerned, and each order is written once,
    in its final state, whatever the number of changes (:func:`~.order_rows.write_held`).

    A stored body is read as the record this process wrote (``bodies``, told by the caller
    after its commit: each change's last ``result.order``), else validated; a body that no
    longer validates fails the transaction with :class:`~rampwire.errors.UnreadableOrder`
    (ingest answers 503, so the provider sends it again; the group commit then writes the
    batch's other requests without it)."""
    found = {(row["provider"], row["provider_order_id"]): row for row in rows}
    held: dict[tuple[str, str], HeldOrder] = {}
    entries: list[TimelineEntry] = []
    changes: list[ProviderChange] = []
    for update in updates:
        key = (str(update.provider), update.provider_order_id)  # str(): the value, in C
        order = held.get(key)
        if order is None and (row := found.pop(key, None)) is not None:
            order = held[key] = held_from_row(row, bodies.load(row["id"], row))
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


# -- read_provider_orders --
_READ = (
    f"SELECT o.id, o.provider, o.provider_order_id, {HELD} FROM orders o WHERE {BY_PROVIDER_REF}"
)


async def read(conn: Connection, orders: Iterable[tuple[Provider, str]]) -> list[Row]:
    """``-- read_provider_orders --``: these orders, as :func:`apply` takes them (row-locked,
    in id order, on PostgreSQL); the caller holds their locks (:func:`lock`)."""
    keys = [(str(provider), order_id) for provider, order_id in orders]
    select = f"{_READ} ORDER BY o.id"
    if conn.dialect == "postgresql":
        select += " FOR UPDATE"
    return await fetch_rows(conn, PROVIDER_KEY, keys, select)
