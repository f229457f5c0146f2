"""The transactional outbox: in the caller's transaction, the events of an order change (or of
an endpoint being disabled) and one delivery per matching live endpoint, woken by NOTIFY on
PostgreSQL. Claiming, recording and replaying those deliveries is :mod:`.deliveries`'s."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from ..delivery.endpoints import Ordering, matches, reaches
from ..dialects import Dialect, get_dialect
from ..domain import serde
from ..domain.deliveries import DELIVERY_ID_PREFIX
from ..domain.events import Event
from ..ids import new_id
from ..storage import Connection
from ..storage.database import Columns, Writes
from ..tracing import trace_context
from .order_rows import micros

NOTIFY_CHANNEL = "rampwire_deliveries"  # PostgreSQL: workers LISTEN; new deliveries NOTIFY


async def publish(conn: Connection, events: Sequence[Event], *, now: datetime) -> int:
    """The outbox, in the caller's transaction: ``events``, and one delivery per event and
    matching enabled endpoint (:func:`outbox`). Returns the deliveries made; on PostgreSQL
    they NOTIFY :data:`NOTIFY_CHANNEL`, heard by every worker once the transaction commits."""
    if not events:
        return 0
    writes = Writes(conn.dialect)
    produced = traces(events, trace_context())
    made = outbox(writes, events, await live_endpoints(conn), now=now, traces=produced)
    await writes.run(conn)
    return made


def traces(events: Iterable[Event], context: str | None) -> dict[str, str]:
    """Each of ``events``' ids with ``context``, the producing span's
    (:func:`~rampwire.tracing.trace_context`, taken in the caller's task: a group commit's
    writer runs in another), as :func:`outbox` takes them; empty when it is None (tracing
    off). A map beside the events rather than a copy of each event with its context: the
    copy (``dataclasses.replace``) was a measurable part of tracing's cost per request."""
    return {} if context is None else dict.fromkeys((e.id for e in events), context)


@dataclass(frozen=True, kw_only=True, slots=True)
class Subscriber:
    """An endpoint that gets deliveries (enabled, not deleted), as the fan-out sees it."""

    id: str
    event_types: Sequence[str]  # patterns (:func:`~rampwire.endpoints.matches`)
    dialect: Dialect[Any]
    fifo: bool  # per-order FIFO
    owner: str | None = None  # its partner; None: the operator's
    partners: Sequence[str] = ()  # an operator endpoint's partners (``"*"``: all)

    @classmethod
    def of(
        cls,
        id: str,
        event_types: Sequence[str],
        ordering: str,
        dialect: str,
        owner: str | None = None,
        partners: str | Sequence[str] | None = None,
    ) -> Subscriber:
        return cls(
            id=id,
            event_types=event_types,
            dialect=get_dialect(dialect),
            fifo=ordering == Ordering.PER_ORDER_FIFO,
            owner=owner,
            partners=serde.from_json(partners) if isinstance(partners, str) else partners or (),
        )


async def live_endpoints(conn: Connection, partners: Iterable[str | None] = ()) -> list[Subscriber]:
    """The endpoints that can get deliveries of orders of ``partners``, as :func:`outbox`
    takes them: the operator's, and those partners' own (read by ``endpoints_partner``; no
    other partner's endpoint is read).

    One row of one column per owner (the operator, each partner): its endpoints' columns as
    a JSON array (:data:`_OWNED`), made into :class:`Subscriber` records once per distinct
    value (:func:`_owned`). A row and a column cost far more to fetch (SQLite's driver above
    all) than the server's JSON, and a transaction of orders of many partners reads many."""
    owned = sorted({p for p in partners if p is not None})
    joined = _OWNED[conn.dialect]
    selects = [f"SELECT {joined} FROM endpoints WHERE {_LIVE} AND partner_id IS NULL"]
    if owned:  # IN, not = ANY($1): asyncpg encodes an array of ids at more cost than each id
        mine = ", ".join(f"${n}" for n in range(1, len(owned) + 1))
        selects.append(
            f"SELECT {joined} FROM endpoints WHERE {_LIVE} AND partner_id IN ({mine})"
            " GROUP BY partner_id"  # a row per partner with live endpoints
        )
    found: list[Subscriber] = []
    for row in await conn.fetch(" UNION ALL ".join(selects), *owned):
        found.extend(_owned(row[0]))
    return found


def live_endpoints_json(partners: str) -> str:
    """PostgreSQL: the read of :func:`live_endpoints` as one JSON array (NULL when none), the
    partners' ids in the ``text[]`` parameter ``partners`` (``"$4"``), for a caller that sends
    it inside a statement of its own; :func:`subscribers` makes its value into what
    :func:`live_endpoints` returns."""
    return (
        f"SELECT json_agg(json_build_array({_SUBSCRIBER_TEXT}))"
        f" FROM ({_live(f'= ANY({partners}::text[])')}) AS e"
    )


def _live(owned: str | None) -> str:
    """The live endpoints' :data:`_SUBSCRIBER` columns: the operator's, and with ``owned``
    (``IN (...)``, ``= ANY(...)``) those partners'. Two index searches, not ``partner_id IS NULL
    OR partner_id IN (...)``: SQLite plans that OR as a scan of the whole index, every partner's
    endpoints read in each transaction (2 ms with 2,001 endpoints, against 0.25 ms for 3)."""
    select = f"SELECT {_SUBSCRIBER} FROM endpoints WHERE {_LIVE} AND partner_id IS NULL"
    if owned is None:
        return select
    theirs = f"SELECT {_SUBSCRIBER} FROM endpoints WHERE {_LIVE} AND partner_id {owned}"
    return f"{select} UNION ALL {theirs}"


def subscribers(found: str | None) -> list[Subscriber]:
    """The value of :func:`live_endpoints_json`'s read."""
    return [_subscriber(*row) for row in serde.from_json(found or "[]")]


_LIVE = "disabled_at IS NULL AND deleted_at IS NULL"
_SUBSCRIBER = "id, event_types, ordering, dialect, partner_id, partners"
_SUBSCRIBER_TEXT = "id, event_types::text, ordering, dialect, partner_id, partners::text"
# one owner's live endpoints as a JSON array of their _SUBSCRIBER columns (JSON ones as text)
_OWNED = {
    "sqlite": f"json_group_array(json_array({_SUBSCRIBER}))",
    "postgresql": f"json_agg(json_build_array({_SUBSCRIBER_TEXT}))::text",
}
SUBSCRIBERS_KEPT = 4_096  # endpoint rows whose Subscriber is kept, the least recently used out
OWNERS_KEPT = 4_096  # owners whose endpoints' Subscribers are kept, the least recently used out


@lru_cache(maxsize=OWNERS_KEPT)
def _owned(found: str | None) -> tuple[Subscriber, ...]:
    """One owner's endpoints as :func:`live_endpoints` reads them (:data:`_OWNED`), made into
    :class:`Subscriber` records once for each value: an owner's endpoints seldom change."""
    return tuple(subscribers(found))


@lru_cache(maxsize=SUBSCRIBERS_KEPT)
def _subscriber(
    id: str,
    event_types: str,
    ordering: str,
    dialect: str,
    owner: str | None,
    partners: str | None,
) -> Subscriber:
    """The columns of :data:`_SUBSCRIBER`, as :func:`live_endpoints` reads them, made into a
    :class:`Subscriber` once: every publishing transaction reads its endpoints again, and
    with many partners each reads several partners' own, rows that seldom change."""
    return Subscriber.of(
        id, tuple(serde.from_json(event_types)), ordering, dialect, owner, partners
    )


def outbox(
    writes: Writes,
    events: Sequence[Event],
    endpoints: Sequence[Subscriber],
    *,
    now: datetime,
    owners: Mapping[str, str | None] | None = None,
    traces: Mapping[str, str] | None = None,
) -> int:
    """Add ``events`` and their deliveries, one per event and matching endpoint of
    ``endpoints`` (:func:`live_endpoints`, read in the same transaction), to ``writes``;
    returns the deliveries made. On PostgreSQL the statement that writes them NOTIFYs
    :data:`NOTIFY_CHANNEL` (PostgreSQL folds identical notifications). ``owners`` maps an
    order id to its partner; an order not in it is the operator's. ``traces`` maps an event
    id to the context of the span that produced it (:func:`traces`), stored with the event
    so that its attempts join that trace; an event not in it has none."""
    traced = traces or {}
    rows = [  # the columns of _EVENT, inline: a row per event
        (
            e.id,
            e.type,
            e.order_id,
            e.sequence,
            micros(e.created_at),
            e.payload.decode(),
            traced.get(e.id),
        )
        for e in events
    ]
    writes.insert("events", _EVENT, rows)
    return fan_out(writes, events, endpoints, now=now, owners=owners)


def fan_out(
    writes: Writes,
    events: Sequence[Event],
    endpoints: Sequence[Subscriber],
    *,
    now: datetime,
    owners: Mapping[str, str | None] | None = None,
) -> int:
    """The deliveries of :func:`outbox`, for events written already. Each delivery names its
    order's partner, whose suspension holds it back."""
    rows = []
    now_us = micros(now)
    owners = owners or {}
    reaching = _Reaching(endpoints)
    # no endpoint, no delivery: the events are not walked (the insert is still added, empty,
    # so that the writes after it keep their indexes)
    for index, event in enumerate(events if endpoints else ()):
        partner = None if event.order_id is None else owners.get(event.order_id)
        for endpoint in reaching.of(partner):
            if not matches(endpoint.event_types, event.type):
                continue
            if not endpoint.dialect.can_encode(event.type):
                continue  # e.g. order.anomaly to an endpoint speaking a provider's format
            endpoint_id = endpoint.id
            in_order = endpoint.fifo and event.order_id is not None
            rows.append(
                (
                    new_id(DELIVERY_ID_PREFIX),
                    endpoint_id,
                    event.id,
                    event.type,
                    event.order_id,
                    f"{endpoint_id}:{event.order_id}" if in_order else None,
                    (event.sequence or 0) * 4 + index if in_order else None,
                    "pending",
                    0,
                    now_us,
                    now_us,
                    now_us,
                    partner,
                )
            )
    notify = writes.dialect == "postgresql"
    tail = f" RETURNING pg_notify('{NOTIFY_CHANNEL}', '')" if notify else ""
    writes.insert("deliveries", _NEW_DELIVERY, rows, tail)
    return len(rows)


class _Reaching:
    """The endpoints of a fan-out that reach each partner's orders (:func:`reaches`), in their
    order: a partner's own endpoints found by owner rather than each endpoint tested against
    every event, the events of one batch being those of many partners' orders."""

    def __init__(self, endpoints: Sequence[Subscriber]) -> None:
        self._operators: list[tuple[int, Subscriber]] = []
        self._owned: dict[str, list[tuple[int, Subscriber]]] = {}
        for position, endpoint in enumerate(endpoints):
            if endpoint.owner is None:
                self._operators.append((position, endpoint))
            else:
                self._owned.setdefault(endpoint.owner, []).append((position, endpoint))
        self._found: dict[str | None, list[Subscriber]] = {}

    def of(self, partner: str | None) -> list[Subscriber]:
        found = self._found.get(partner)
        if found is None:
            mine = [o for o in self._operators if reaches(None, o[1].partners, partner)]
            theirs = () if partner is None else self._owned.get(partner, ())
            if mine and theirs and mine[-1][0] > theirs[0][0]:  # interleaved: back in order
                mine = sorted([*mine, *theirs])
            else:
                mine.extend(theirs)
            found = self._found[partner] = [endpoint for _, endpoint in mine]
        return found


_EVENT = Columns.of(
    "id text, type text, order_id text, sequence bigint, created_at bigint, payload text,"
    " trace_context text",
    row_type="events_row",
)


_NEW_DELIVERY = Columns.of(
    "id text, endpoint_id text, event_id text, event_type text, order_id text, fifo_key text,"
    " fifo_seq bigint, status text, attempts integer, next_attempt_at bigint,"
    " created_at bigint, updated_at bigint, partner_id text",
    row_type="deliveries_row",
)
