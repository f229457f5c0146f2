"""Deliveries in storage: fan-out inside the order's transaction, claiming under a lease,
recording attempts in batches, listing, replay and the pull API.

A waiting delivery has ``next_attempt_at`` set: it is due when that time has passed. Claiming
pushes ``next_attempt_at`` to the end of the lease and stamps a ``lease_token``; recording the
result clears both, fenced on the token, so a worker whose lease expired (and whose delivery was
claimed again) cannot overwrite the newer state. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps
concurrent workers apart; on SQLite the single write transaction does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ..domain import serde
from ..domain.deliveries import (
    Attempt,
    Claimed,
    Delivery,
    DeliveryStatus,
    Result,
)
from ..domain.events import Event, endpoint_disabled_event
from ..errors import NotFound
from ..storage import Connection, Database
from ..storage.database import Columns, Where, fetch_rows, to_us
from . import replays
from .delivery_rows import (
    ATTEMPT,
    READ,
    attempt_from_row,
    attempt_row,
    delivery_from_row,
)
from .endpoints import cancel_waiting
from .outbox import publish

log = logging.getLogger("rampwire.worker")

# Recording an attempt: its row, and its delivery's new state fenced on the lease token (a
# worker whose lease was taken over logs its attempt but does not overwrite the newer state).
# $1-$13 the attempt (:data:`~.delivery_rows.ATTEMPT`), $14 the status, $15 the next attempt,
# $16 now, $17 the lease token; the delivery's last status code and error are the attempt's
# ($9, $13).
_INSERT_ATTEMPT = (
    f"INSERT INTO attempts ({ATTEMPT}) VALUES"
    " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
)
_UPDATE_DELIVERY = (
    "UPDATE deliveries SET status = $14, attempts = attempts + 1, next_attempt_at = $15,"
    " lease_token = NULL, last_status_code = $9, last_error = $13, updated_at = $16"
    " WHERE id = $2 AND lease_token = $17"
)
# PostgreSQL: both in one statement, one execution per attempt instead of two (SQLite has no
# data-modifying WITH); the update runs whether or not the insert reads it.
_RECORD_POSTGRESQL = f"WITH recorded AS ({_UPDATE_DELIVERY}) {_INSERT_ATTEMPT}"

# Claiming. A delivery of a per-order FIFO endpoint is due only once no earlier delivery of its
# order to that endpoint waits. The due deliveries of endpoints that may take more (not in the
# full list) are locked, oldest first, up to the claim's limit; of those, each endpoint gets at
# most its room (the worker's fair share: :class:`~rampwire.delivery.scheduler.Rooms`), so one
# endpoint's backlog cannot take a whole claim. $1 lease end, $2 lease token, $3 now, $4 how many
# at most, $5 the full endpoints (text[] on PostgreSQL, a JSON array on SQLite), $6 the other
# endpoints' rooms (one JSON object on both: a claim may name hundreds of endpoints, and encoding
# them as two arrays cost the worker more than the rest of the claim's arguments), $7 every other
# endpoint's room. A suspended partner's deliveries are not due: they wait, kept, until it is
# resumed; the suspended ids are read once a claim (``partners_suspended``, usually empty), not
# looked up in the whole partners table once a delivery.
_CANDIDATES = (
    "SELECT d.id, d.endpoint_id, d.next_attempt_at FROM deliveries d"
    " WHERE d.next_attempt_at <= $3 AND {not_full}"
    " AND (d.partner_id IS NULL OR d.partner_id NOT IN (SELECT s.id FROM partners s"
    "  WHERE s.status = 'suspended'))"
    " AND (d.fifo_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries p"
    "  WHERE p.fifo_key = d.fifo_key AND p.fifo_seq < d.fifo_seq"
    "  AND p.next_attempt_at IS NOT NULL))"
    " ORDER BY d.next_attempt_at LIMIT $4"
)
_SHARED = (
    "SELECT c.id FROM (SELECT c.id, c.endpoint_id, row_number() OVER"
    " (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at) AS n FROM ({candidates}) c) c"
    " LEFT JOIN {rooms} ON r.endpoint_id = c.endpoint_id WHERE c.n <= COALESCE(r.room, {default})"
)
_LEASE = "UPDATE deliveries SET next_attempt_at = $1, lease_token = $2"
_CLAIMED = "id, endpoint_id, event_id, event_type, attempts, order_id, partner_id"
_CLAIMED_AS_C = ", ".join(f"c.{name.strip()}" for name in _CLAIMED.split(","))
# Each claimed delivery's endpoint version, its ``updated_at`` (NULL once deleted): the worker
# sends with the settings it built of that version, and reads the endpoint again only when it
# moved (:class:`~rampwire.services.targets.Targets`). One primary-key lookup per row.
_ENDPOINT_VERSION = (
    "(SELECT p.updated_at FROM endpoints p WHERE p.id = {table}.endpoint_id"
    " AND p.deleted_at IS NULL) AS endpoint_version"
)
# PostgreSQL: ``id = ANY(ARRAY(...))`` makes the update a primary-key lookup of the locked ids
# whatever the table's statistics say (``id IN (subquery)`` is planned as a join, and with missing
# or stale statistics as a sequential scan of all deliveries); the payloads come back in the same
# statement with their trace context (tracing), one index lookup per row, NULL for an event whose
# row is gone (deliveries.event_id has no foreign key since migration 0016).
_DUE_POSTGRESQL = _SHARED.format(
    candidates=_CANDIDATES.format(not_full="NOT (d.endpoint_id = ANY($5::text[]))")
    + " FOR UPDATE SKIP LOCKED",
    rooms="(SELECT key AS endpoint_id, value::int AS room FROM json_each_text($6::json)) r",
    default="$7",
)
_CLAIM_POSTGRESQL = (
    f"WITH claimed AS ({_LEASE} WHERE id = ANY(ARRAY({_DUE_POSTGRESQL}))"
    f" RETURNING {_CLAIMED})"
    f" SELECT {_CLAIMED_AS_C}, e.payload, e.trace_context, {_ENDPOINT_VERSION.format(table='c')}"
    " FROM claimed c LEFT JOIN events e ON e.id = c.event_id"
)
# PostgreSQL plans the claim with its arguments at every execution, never one generic plan for
# all: with $3 and $4 unknown it guesses a third of the waiting deliveries due and a tenth of
# them taken, so the generic plan's cost is never near the custom plans' and it is chosen only
# when the custom plans it is compared with were costlier still (tables without statistics,
# claims of hundreds), and then kept: it sorted every due delivery at each claim, or, cached over
# a small table, read deliveries and events whole (docs/benchmarks.md, "The claim's plan on
# PostgreSQL"). For its transaction only: the pool's connections keep no session settings.
_CUSTOM_PLAN = "SET LOCAL plan_cache_mode = force_custom_plan"
# SQLite: no row locks (the write transaction is single), no arrays, no RETURNING inside a CTE.
# The payloads are fetched with one statement shape whatever the number of events: the ids go
# in as one JSON array.
# The rooms are looked up only for a delivery ranked beyond $8, the smallest room (the default's
# included): at or below it every endpoint has room. A claim whose deliveries spread over many
# endpoints ranks them low and never reads $6 (a join would index it in every claim); one that
# needs it reads and indexes it once.
_DUE_SQLITE = (
    "WITH r (endpoint_id, room) AS MATERIALIZED (SELECT key, value FROM json_each($6))"
    " SELECT c.id FROM (SELECT c.id, c.endpoint_id, row_number() OVER"
    " (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at) AS n FROM ({candidates}) c) c"
    " WHERE c.n <= $8"
    " OR c.n <= COALESCE((SELECT r.room FROM r WHERE r.endpoint_id = c.endpoint_id), $7)"
).format(
    candidates=_CANDIDATES.format(not_full="d.endpoint_id NOT IN (SELECT value FROM json_each($5))")
)
_CLAIM_SQLITE = (
    f"{_LEASE} WHERE id IN ({_DUE_SQLITE})"
    f" RETURNING {_CLAIMED}, {_ENDPOINT_VERSION.format(table='deliveries')}"
)
_PAYLOADS_SQLITE = (
    "SELECT id AS event_id, payload, trace_context FROM events"
    " WHERE id IN (SELECT value FROM json_each($1))"
)
# A claimed delivery settled unsent, fenced on its lease token: its endpoint went away (the
# worker), or its event's row is gone (the claim itself: nothing to send, now or later).
_CANCEL_CLAIMED = (
    "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL,"
    " lease_token = NULL, last_error = $3, updated_at = $4"
    " WHERE id = $1 AND lease_token = $2"
)
EVENT_GONE = "its event is gone"
_NAMED = 10  # delivery ids named in the log line of a claim that cancels some
# An endpoint's success: kept to within SUCCESS_RESOLUTION, so that an endpoint that succeeds
# in every batch is written once in that time, not once per batch (with thousands of endpoints,
# most batches touch hundreds of them); a failing endpoint's success is always written.
SUCCESS_RESOLUTION = timedelta(seconds=10)
# PostgreSQL: $1 now, $2 the ids (distinct) as one JSON array, $3 the oldest success still
# fresh; the two times sent once, not once per endpoint (hundreds of endpoints per batch). Not a
# text[]: asyncpg encodes one element by element, each through two isinstance checks against
# abstract classes, dearer than the JSON array's one string. Looked up by primary key through
# ``= ANY(ARRAY(...))``: joined to ``json_array_elements_text`` (guessed at 100 rows whatever its
# length) it was planned as a hash join over a sequential scan of every endpoint.
_SUCCEEDED_POSTGRESQL = (
    "UPDATE endpoints SET last_success_at = $1, failing_since = NULL"
    " WHERE id = ANY(ARRAY(SELECT json_array_elements_text($2::json)))"
    " AND (failing_since IS NOT NULL OR last_success_at IS NULL OR last_success_at < $3)"
)
# SQLite: the ids as one JSON array, so that the statement's text, and the one preparation
# sqlite3 caches, is the same whatever the number of endpoints (a VALUES list of hundreds of rows
# was prepared again for nearly every batch when a worker serves thousands of endpoints).
# $1 now, $2 the ids (distinct), $3 the oldest success still fresh. The endpoints to write are
# found by a join of the ids to the table, and written by rowid: most ids of a batch need no
# write, and checking them so costs a third less than ``id IN (...)`` with the check in the
# update (``UPDATE ... FROM`` checks as cheaply but writes each row dearer).
_SUCCEEDED_SQLITE = (
    "UPDATE endpoints SET last_success_at = $1, failing_since = NULL WHERE rowid IN"
    " (SELECT e.rowid FROM json_each($2) v JOIN endpoints e ON e.id = v.value"
    " WHERE e.failing_since IS NOT NULL OR e.last_success_at IS NULL OR e.last_success_at < $3)"
)
# Renewing leases: each (id, token) pair still held gets a new lease end; returns the ids renewed.
_HELD = Columns.of("id text, lease_token text, until bigint")
_NO_KEY_UPDATE = {"postgresql": "FOR NO KEY UPDATE", "sqlite": ""}
# The rows are locked in id order first, as a record takes them (sorted), so a renewal and a
# record of the same worker's deliveries cannot deadlock on PostgreSQL (seen in a sustained run:
# "deadlock detected" in the renewer); the lock is the one the UPDATE takes anyway (NO KEY
# UPDATE). SQLite has one writer: no row locks.
_RENEW = (
    "UPDATE deliveries SET next_attempt_at = v.until FROM v"
    " WHERE deliveries.id = v.id AND deliveries.lease_token = v.lease_token"
    " AND deliveries.id IN (SELECT id FROM deliveries WHERE id IN (SELECT id FROM v)"
    " ORDER BY id {lock})"
    " RETURNING deliveries.id"
)


class DeliveryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self,
        *,
        limit: int,
        lease: timedelta,
        token: str,
        now: datetime,
        full: Sequence[str] = (),
        rooms: Mapping[str, int] | None = None,
        default_room: int | None = None,
    ) -> list[Claimed]:
        """Up to ``limit`` due deliveries, leased to ``token`` until ``now + lease``: none for the
        endpoints in ``full``, at most ``rooms[endpoint]`` (else ``default_room``, else
        ``limit``) for each other endpoint. A delivery whose event's row is gone is cancelled
        unsent (``last_error`` :data:`EVENT_GONE`), not returned."""
        default = limit if default_room is None else default_room
        now_us = to_us(now)
        args: tuple[Any, ...] = (to_us(now + lease), token, now_us, limit)
        shares = serde.to_json(rooms or {}).decode()
        async with self._db.transaction() as conn:
            if conn.dialect == "postgresql":
                args += (list(full), shares, default)
                await conn.execute(_CUSTOM_PLAN)
                rows = await conn.fetch(_CLAIM_POSTGRESQL, *args)
                events = {row["event_id"]: row for row in rows if row["payload"] is not None}
            else:
                least = min(default, *rooms.values()) if rooms else default
                args += (serde.to_json(list(full)).decode(), shares, default, least)
                rows = await conn.fetch(_CLAIM_SQLITE, *args)
                if not rows:
                    return []
                ids = serde.to_json(sorted({row["event_id"] for row in rows})).decode()
                events = {row["event_id"]: row for row in await conn.fetch(_PAYLOADS_SQLITE, ids)}
            # An event whose row was deleted by hand: its deliveries would be leased at every
            # expiry and never sent. They are settled here, never handed to the worker.
            if gone := [row["id"] for row in rows if row["event_id"] not in events]:
                cancelled = [(delivery_id, token, EVENT_GONE, now_us) for delivery_id in gone]
                await conn.executemany(_CANCEL_CLAIMED, cancelled)
                log.warning(
                    "%d deliveries cancelled unsent, their event's row is gone: %s",
                    len(gone),
                    ", ".join(gone[:_NAMED]) + (", ..." if len(gone) > _NAMED else ""),
                )
        encoded = {event_id: row["payload"].encode("utf-8") for event_id, row in events.items()}
        return [
            Claimed(
                id=row["id"],
                endpoint_id=row["endpoint_id"],
                event_id=row["event_id"],
                event_type=row["event_type"],
                attempts=row["attempts"],
                lease_token=token,
                payload=encoded[row["event_id"]],
                trace_context=events[row["event_id"]]["trace_context"],
                order_id=row["order_id"],
                partner_id=row["partner_id"],
                endpoint_version=row["endpoint_version"],
            )
            for row in rows
            if row["event_id"] in events
        ]

    async def renew(self, held: Sequence[Claimed], *, until: datetime) -> set[str]:
        """Extend the leases of ``held`` to ``until``; returns the ids still held (a lease that
        expired and was claimed again, or whose delivery was replayed, is not renewed)."""
        if not held:
            return set()
        until_us = to_us(until)
        async with self._db.transaction() as conn:
            rows = await fetch_rows(
                conn,
                _HELD,
                [(c.id, c.lease_token, until_us) for c in held],
                _RENEW.format(lock=_NO_KEY_UPDATE[conn.dialect]),
            )
        return {row["id"] for row in rows}

    async def release(self, claimed: Sequence[Claimed], *, now: datetime) -> None:
        """Give leases back unsent: the deliveries are due again at once."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "UPDATE deliveries SET next_attempt_at = $3, lease_token = NULL"
                " WHERE id = $1 AND lease_token = $2",
                [(c.id, c.lease_token, to_us(now)) for c in claimed],
            )

    async def cancel_claimed(
        self, claimed: Sequence[Claimed], *, reason: str, now: datetime
    ) -> None:
        """Claimed deliveries whose endpoint went away: cancelled, unsent, replayable."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                _CANCEL_CLAIMED, [(c.id, c.lease_token, reason, to_us(now)) for c in claimed]
            )

    async def record(
        self, results: Sequence[Result], *, now: datetime, disable_after: timedelta
    ) -> list[Event]:
        """Store a batch of attempts and their consequences in one transaction.

        Returns the ``endpoint.disabled`` events it published, if any.
        """
        if not results:
            return []
        # In id order: the updates lock the deliveries as a lease renewal does (_RENEW), so
        # the two cannot deadlock.
        results = sorted(results, key=lambda result: result.claimed.id)
        now_us = to_us(now)
        rows = [
            (
                *attempt_row(r.attempt),
                r.status.value,
                None if r.next_attempt_at is None else to_us(r.next_attempt_at),
                now_us,
                r.claimed.lease_token,
            )
            for r in results
        ]
        succeeded = sorted({r.claimed.endpoint_id for r in results if r.succeeded})
        failed = sorted(
            {r.claimed.endpoint_id for r in results if not r.succeeded and r.contacted}
            - set(succeeded)
        )
        gone = {r.claimed.endpoint_id: r.disable_endpoint for r in results if r.disable_endpoint}
        published: list[Event] = []
        async with self._db.transaction() as conn:
            if conn.dialect == "postgresql":
                await conn.executemany(_RECORD_POSTGRESQL, rows)
            else:
                await conn.executemany(_INSERT_ATTEMPT, [row[:13] for row in rows])
                await conn.executemany(_UPDATE_DELIVERY, rows)
            if succeeded:
                fresh = to_us(now - SUCCESS_RESOLUTION)
                ids = serde.to_json(succeeded).decode()
                succeeding = (
                    _SUCCEEDED_POSTGRESQL if conn.dialect == "postgresql" else _SUCCEEDED_SQLITE
                )
                await conn.execute(succeeding, now_us, ids, fresh)
            if failed:
                await conn.executemany(
                    "UPDATE endpoints SET failing_since = COALESCE(failing_since, $2)"
                    " WHERE id = $1",
                    [(endpoint_id, now_us) for endpoint_id in failed],
                )
                cutoff = to_us(now - disable_after)
                marks = ", ".join(f"${i}" for i in range(2, len(failed) + 2))
                for row in await conn.fetch(
                    "SELECT id FROM endpoints WHERE failing_since <= $1"
                    f" AND disabled_at IS NULL AND id IN ({marks})",
                    cutoff,
                    *failed,
                ):
                    gone.setdefault(row["id"], f"no successful delivery for {_span(disable_after)}")
            for endpoint_id, reason in sorted(gone.items()):
                event = await disable_endpoint(conn, endpoint_id, reason=reason, now=now)
                if event is not None:
                    published.append(event)
        return published

    async def get(self, delivery_id: str) -> tuple[Delivery, list[Attempt]]:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(f"SELECT {READ} FROM deliveries WHERE id = $1", delivery_id)
            if row is None:
                raise NotFound(f"no delivery {delivery_id!r}")
            attempts = await conn.fetch(
                f"SELECT {ATTEMPT} FROM attempts WHERE delivery_id = $1 ORDER BY attempt, id",
                delivery_id,
            )
        return delivery_from_row(row), [attempt_from_row(a) for a in attempts]

    async def event_payload(self, event_id: str) -> bytes | None:
        """The stored payload of an event, as its deliveries send it."""
        async with self._db.connection() as conn:
            payload = await conn.fetchval("SELECT payload FROM events WHERE id = $1", event_id)
        return None if payload is None else str(payload).encode("utf-8")

    async def find(
        self,
        *,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        statuses: Sequence[DeliveryStatus] = (),
        limit: int,
        before: str | None = None,
        partner_id: str | None = None,
        for_partner: str | None = None,
    ) -> list[Delivery]:
        """Newest first; with ``partner_id``, only deliveries to that partner's endpoints (what
        its key sees); with ``for_partner``, the deliveries of that partner's orders, to any
        endpoint (the operator's filter; index ``deliveries_partner``)."""
        where = Where()
        where.equals("endpoint_id", endpoint_id)
        where.equals("partner_id", for_partner)
        if partner_id is not None:
            mine = where.arg(partner_id)
            where.add(f"endpoint_id IN (SELECT id FROM endpoints WHERE partner_id = {mine})")
        where.equals("event_id", event_id)
        if statuses:
            # Literals, not parameters: PostgreSQL uses the partial deliveries_set_aside only where
            # it can prove the index's predicate, which a generic plan's $n never lets it.
            known = ", ".join(sorted({f"'{DeliveryStatus(s).value}'" for s in statuses}))
            where.add(f"status IN ({known})")
        sql = where.newest_first(f"SELECT {READ} FROM deliveries", before=before, limit=limit)
        async with self._db.connection() as conn:
            rows = await conn.fetch(sql, *where.args)
        return [delivery_from_row(row) for row in rows]

    async def find_for_endpoints(
        self,
        endpoint_ids: Sequence[str],
        *,
        statuses: Sequence[DeliveryStatus] = (),
        limit: int,
        before: str | None = None,
    ) -> list[Delivery]:
        """Newest first, to any of ``endpoint_ids`` (a partner's, in its portal): a page of each
        through ``deliveries_endpoint``, merged. ``find(partner_id=)`` walks the log newest
        first until it has a page, all of it when those endpoints get few deliveries."""
        found: list[Delivery] = []
        for endpoint_id in endpoint_ids:
            found += await self.find(
                endpoint_id=endpoint_id, statuses=statuses, limit=limit, before=before
            )
        return sorted(found, key=lambda d: d.id, reverse=True)[:limit]

    async def replay(self, delivery_id: str, *, now: datetime) -> Delivery:
        """Send one delivery again: a new delivery of the same event to the same endpoint, which
        supersedes what still waits of that event there (:func:`.replays.replay`)."""
        async with self._db.transaction() as conn:
            new = await replays.replay(conn, delivery_id, now=now)
        found, _ = await self.get(new)
        return found

    async def replay_failed(
        self, endpoint_id: str, *, since: datetime, now: datetime
    ) -> replays.Replayed:
        """Retry now what is retrying, and send again what is dead or cancelled and was not
        sent again already, since ``since`` (:func:`.replays.replay_since`)."""
        async with self._db.transaction() as conn:
            return await replays.replay_since(conn, endpoint_id, since=since, now=now)

    async def retry_now(self, delivery_id: str, *, now: datetime) -> Delivery:
        """Make a waiting delivery due now (:func:`.replays.retry_now`); returns it."""
        async with self._db.transaction() as conn:
            await replays.retry_now(conn, delivery_id, now=now)
        found, _ = await self.get(delivery_id)
        return found

    async def pending_events(
        self, endpoint_id: str, *, limit: int, after: str | None = None
    ) -> list[tuple[str, bytes]]:
        """Events the endpoint has not received yet, oldest first: (delivery id, payload).

        An event counts as received once any of its deliveries (a replay included) succeeded;
        one that was replayed is listed once, under its newest delivery.
        """
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT d.id, e.payload FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.endpoint_id = $1 AND d.id > $2"
                " AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.endpoint_id = d.endpoint_id"
                "  AND o.event_id = d.event_id AND (o.status = 'succeeded' OR o.id > d.id))"
                " ORDER BY d.id LIMIT $3",
                endpoint_id,
                after or "",
                limit,
            )
        return [(row["id"], row["payload"].encode("utf-8")) for row in rows]


async def disable_endpoint(
    conn: Connection, endpoint_id: str, *, reason: str, now: datetime
) -> Event | None:
    """Disable, cancel what waits, and publish ``endpoint.disabled`` (fanned out like any event)."""
    row = await conn.fetchrow(
        "SELECT url FROM endpoints WHERE id = $1 AND disabled_at IS NULL", endpoint_id
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE endpoints SET disabled_at = $2, disabled_reason = $3, updated_at = $2"
        " WHERE id = $1",
        endpoint_id,
        to_us(now),
        reason,
    )
    await cancel_waiting(conn, endpoint_id, now=now, reason=f"endpoint disabled: {reason}")
    event = endpoint_disabled_event(endpoint_id, row["url"], reason, now=now)
    await publish(conn, [event], now=now)
    return event


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 24 else f"{hours:g} hours"
