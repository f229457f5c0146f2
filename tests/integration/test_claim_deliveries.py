"""Claiming due deliveries on each back-end: payloads, leases, limits and per-order FIFO."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

import asyncpg
import pytest

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import Endpoint, Ordering, SigningSecret
from rampwire.dialects import standard
from rampwire.domain.deliveries import (
    ATTEMPT_ID_PREFIX,
    Attempt,
    Claimed,
    DeliveryStatus,
    Result,
)
from rampwire.domain.events import Event
from rampwire.ids import new_id
from rampwire.repository.deliveries import EVENT_GONE, SUCCESS_RESOLUTION, DeliveryRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.repository.outbox import fan_out, live_endpoints
from rampwire.settings import Secret
from rampwire.storage import Database, migrate, open_database
from rampwire.storage.database import Writes, to_us
from rampwire.storage.postgres import PostgresDatabase
from rampwire.types import utcnow

LEASE = timedelta(seconds=60)


async def _endpoint(db: Database, ordering: Ordering = Ordering.NONE) -> str:
    now = utcnow()
    endpoint = await EndpointRepository(db, SecretBox(b"k" * 32)).create(
        Endpoint(
            id=EndpointRepository.new_id(),
            url="https://example.com/hook",
            event_types=("order.*",),
            dialect="standard",
            secrets=(SigningSecret(value=Secret(standard.generate_secret()), created_at=now),),
            created_at=now,
            updated_at=now,
            ordering=ordering,
        )
    )
    return endpoint.id


async def _publish(db: Database, count: int, *, order_id: str | None = None) -> list[Event]:
    """``count`` events fanned out to every endpoint; the event rows carry no order (no order
    rows here), the fan-out sees ``order_id`` so that FIFO endpoints get a FIFO key."""
    now = utcnow()
    events = [
        Event(
            id=new_id("evt"),
            type="order.created",
            created_at=now,
            order_id=order_id,
            sequence=index + 1,
            payload=f'{{"n": {index}, "text": "caf\u00e9"}}'.encode(),
        )
        for index in range(count)
    ]
    async with db.transaction() as conn:
        for event in events:
            await conn.execute(
                "INSERT INTO events (id, type, order_id, sequence, created_at, payload)"
                " VALUES ($1, $2, NULL, $3, $4, $5)",
                event.id,
                event.type,
                event.sequence,
                to_us(event.created_at),
                event.payload.decode(),
            )
        writes = Writes(conn.dialect)
        fan_out(writes, events, await live_endpoints(conn), now=now)
        await writes.run(conn)
    return events


async def test_a_claim_leases_each_due_delivery_once_with_its_payload(db: Database) -> None:
    first, second = await _endpoint(db), await _endpoint(db)
    events = await _publish(db, 7)
    repository = DeliveryRepository(db)
    now = utcnow()

    claimed = await repository.claim(limit=100, lease=LEASE, token="lease.1", now=now)

    assert len(claimed) == 14  # every event to both endpoints
    payloads = {event.id: event.payload for event in events}
    assert all(c.payload == payloads[c.event_id] for c in claimed)
    assert sorted(c.endpoint_id for c in claimed) == sorted([first, second] * 7)
    assert {c.lease_token for c in claimed} == {"lease.1"}
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT next_attempt_at, lease_token FROM deliveries")
    assert {(row["next_attempt_at"], row["lease_token"]) for row in rows} == {
        (to_us(now + LEASE), "lease.1")
    }
    assert await repository.claim(limit=100, lease=LEASE, token="lease.2", now=now) == []
    later = now + LEASE + timedelta(seconds=1)  # the lease ran out: claimable again
    again = await repository.claim(limit=100, lease=LEASE, token="lease.3", now=later)
    assert {c.id for c in again} == {c.id for c in claimed}


async def test_a_delivery_whose_event_row_is_gone_is_cancelled_by_the_claim(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """deliveries.event_id has no foreign key (migration 0016): an event deleted by hand leaves
    deliveries with nothing to send. The claim settles them, never leases them again."""
    await _endpoint(db)
    kept, gone = await _publish(db, 2)
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM events WHERE id = $1", gone.id)
    repository = DeliveryRepository(db)
    now = utcnow()

    claimed = await repository.claim(limit=100, lease=LEASE, token="lease.1", now=now)

    assert [(c.event_id, c.payload) for c in claimed] == [(kept.id, kept.payload)]
    [cancelled] = await repository.find(event_id=gone.id, limit=10)
    assert cancelled.status is DeliveryStatus.CANCELLED
    assert cancelled.last_error == EVENT_GONE and cancelled.next_attempt_at is None
    [line] = [r for r in caplog.records if r.name == "rampwire.worker"]
    assert line.levelname == "WARNING" and cancelled.id in line.getMessage()
    async with db.connection() as conn:
        sql = "SELECT lease_token FROM deliveries WHERE id = $1"
        assert await conn.fetchval(sql, cancelled.id) is None
    later = now + LEASE + timedelta(seconds=1)
    again = await repository.claim(limit=100, lease=LEASE, token="lease.2", now=later)
    assert [c.event_id for c in again] == [kept.id]


async def test_each_claimed_delivery_carries_its_endpoints_version(db: Database) -> None:
    kept, edited, deleted = await _endpoint(db), await _endpoint(db), await _endpoint(db)
    await _publish(db, 2)
    endpoints = EndpointRepository(db, SecretBox(b"k" * 32))
    changed = await endpoints.update(edited, {"url": "https://example.com/new"}, now=utcnow())
    async with db.transaction() as conn:  # deleted while its deliveries wait (no cancelling)
        await conn.execute("UPDATE endpoints SET deleted_at = $2 WHERE id = $1", deleted, 1)

    claimed = await DeliveryRepository(db).claim(limit=100, lease=LEASE, token="t.1", now=utcnow())

    versions = {c.endpoint_id: c.endpoint_version for c in claimed}
    assert len(claimed) == 6 and len(versions) == 3
    assert versions[kept] == to_us((await endpoints.get(kept)).updated_at)
    assert versions[edited] == to_us(changed.updated_at)  # as the claim read it: after the edit
    assert versions[deleted] is None


async def test_a_claim_takes_at_most_its_limit(db: Database) -> None:
    await _endpoint(db)
    await _publish(db, 5)
    repository = DeliveryRepository(db)
    now = utcnow()
    taken: list[str] = []
    for number, expected in enumerate((2, 2, 1, 0)):
        claimed = await repository.claim(limit=2, lease=LEASE, token=f"t.{number}", now=now)
        assert len(claimed) == expected
        taken.extend(c.id for c in claimed)
    assert len(set(taken)) == 5


@pytest.mark.parametrize(
    ("full", "rooms", "default", "expected"),
    [
        ((), {}, 4, (4, 4, 4)),
        ((), {0: 2}, 4, (2, 4, 4)),  # one room below the default
        ((), {0: 10, 1: 1}, 3, (6, 1, 3)),  # one above (all it has), one below
        ((2,), {0: 5}, 2, (5, 2, 0)),  # a full endpoint gets none
        ((), {0: 2, 1: 2, 2: 2}, 9, (2, 2, 2)),  # every endpoint below the default
        ((), {0: 7, 1: 8}, 6, (6, 6, 6)),  # rooms above what each has
    ],
)
async def test_a_claim_gives_each_endpoint_at_most_its_room(
    db: Database,
    full: tuple[int, ...],
    rooms: dict[int, int],
    default: int,
    expected: tuple[int, int, int],
) -> None:
    """Six due deliveries for each of three endpoints: each endpoint gets its room (else the
    default), a full one none, whichever side of the smallest room its deliveries rank."""
    endpoints = [await _endpoint(db) for _ in range(3)]
    await _publish(db, 6)
    claimed = await DeliveryRepository(db).claim(
        limit=100,
        lease=LEASE,
        token="t.1",
        now=utcnow(),
        full=[endpoints[n] for n in full],
        rooms={endpoints[n]: room for n, room in rooms.items()},
        default_room=default,
    )
    got = tuple(sum(c.endpoint_id == endpoint for c in claimed) for endpoint in endpoints)
    assert got == expected


async def test_per_order_fifo_claims_one_delivery_of_an_order_at_a_time(db: Database) -> None:
    await _endpoint(db, Ordering.PER_ORDER_FIFO)
    events = await _publish(db, 3, order_id="ord_fifo")
    await _publish(db, 2)  # no order: not held back
    repository = DeliveryRepository(db)
    now = utcnow()

    claimed = await repository.claim(limit=100, lease=LEASE, token="t.1", now=now)

    fifo = [c for c in claimed if c.event_id in {e.id for e in events}]
    assert [c.event_id for c in fifo] == [events[0].id]
    assert len(claimed) == 3
    assert await repository.claim(limit=100, lease=LEASE, token="t.2", now=now) == []


def _succeeded(claimed: Claimed, now: datetime) -> Result:
    attempt = Attempt(
        id=new_id(ATTEMPT_ID_PREFIX),
        delivery_id=claimed.id,
        attempt=claimed.attempts + 1,
        started_at=now,
        duration_us=900,
        request_url="https://example.com/hook",
        request_headers={},
        request_body=None,
        response_status=200,
        response_headers={},
        response_body="ok",
        error_class=None,
        error=None,
    )
    return Result(
        claimed=claimed,
        attempt=attempt,
        status=DeliveryStatus.SUCCEEDED,
        next_attempt_at=None,
        succeeded=True,
    )


async def test_an_endpoints_success_is_written_once_per_resolution_unless_it_was_failing(
    db: Database,
) -> None:
    endpoint_id = await _endpoint(db)
    await _publish(db, 4)
    repository = DeliveryRepository(db)
    start = utcnow()
    claimed = await repository.claim(limit=100, lease=LEASE, token="t.1", now=start)
    moments = [start, start + timedelta(seconds=1), start + SUCCESS_RESOLUTION * 2]

    async def record(index: int) -> int | None:
        now = moments[min(index, 2)]
        await repository.record(
            [_succeeded(claimed[index], now)], now=now, disable_after=timedelta(days=5)
        )
        async with db.connection() as conn:
            value = await conn.fetchval(
                "SELECT last_success_at FROM endpoints WHERE id = $1", endpoint_id
            )
        return None if value is None else int(value)

    assert await record(0) == to_us(moments[0])  # the first success
    assert await record(1) == to_us(moments[0])  # a second later: kept as it was
    async with db.transaction() as conn:
        await conn.execute("UPDATE endpoints SET failing_since = 1 WHERE id = $1", endpoint_id)
    assert await record(2) == to_us(moments[2])  # failing: written, and failing no more
    async with db.connection() as conn:
        failing = await conn.fetchval(
            "SELECT failing_since FROM endpoints WHERE id = $1", endpoint_id
        )
    assert failing is None


@pytest.mark.postgres
async def test_a_renewal_and_a_record_lock_their_deliveries_in_id_order(
    postgres_url: str,
) -> None:
    """The renewer and the recorder of one worker update the same leased rows: both take their
    row locks in id order, so neither can hold one row while waiting for the other's (a
    "deadlock detected" in the renewer was seen in a sustained run). Shown on PostgreSQL: with
    the highest id locked elsewhere, each has already locked the lower ids when it waits."""
    db = open_database(postgres_url)
    await db.open()
    try:
        await migrate(db)
        await _endpoint(db)
        await _publish(db, 3)
        repository = DeliveryRepository(db)
        now = utcnow()
        claimed = sorted(
            await repository.claim(limit=100, lease=LEASE, token="t.1", now=now),
            key=lambda c: c.id,
        )
        assert len(claimed) == 3
        highest = claimed[-1].id
        for name, act in (
            ("renew", lambda: repository.renew(list(reversed(claimed)), until=now + 2 * LEASE)),
            (
                "record",
                lambda: repository.record(
                    [_succeeded(c, now) for c in reversed(claimed)],
                    now=now,
                    disable_after=timedelta(days=1),
                ),
            ),
        ):
            blocker = await asyncpg.connect(postgres_url)
            probe = await asyncpg.connect(postgres_url)
            try:
                blocking = blocker.transaction()
                await blocking.start()
                await blocker.execute("SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE", highest)
                task = asyncio.create_task(act())
                async with asyncio.timeout(20):
                    while not await probe.fetchval(
                        "SELECT count(*) FROM pg_locks"
                        " WHERE NOT granted AND locktype = 'transactionid'"
                    ):
                        await asyncio.sleep(0.02)
                assert not task.done(), f"{name} waits for the row locked elsewhere"
                for lower in claimed[:-1]:
                    with pytest.raises(asyncpg.LockNotAvailableError, match="could not obtain"):
                        await probe.execute(
                            "SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE NOWAIT", lower.id
                        )
                await blocking.rollback()
                await asyncio.wait_for(task, 20)
            finally:
                await blocker.close()
                await probe.close()
    finally:
        await db.close()


async def test_a_record_after_the_lease_was_taken_over_logs_the_attempt_only(
    db: Database,
) -> None:
    """A worker whose lease expired (the delivery claimed again by another) still logs its
    attempt, but the delivery keeps the newer lease: the record is fenced on the token."""
    await _endpoint(db)
    await _publish(db, 2)
    repository = DeliveryRepository(db)
    now = utcnow()
    first = sorted(
        await repository.claim(limit=10, lease=LEASE, token="t.1", now=now), key=lambda c: c.id
    )
    later = now + 2 * LEASE
    again = await repository.claim(limit=1, lease=LEASE, token="t.2", now=later)
    assert [c.id for c in again] == [first[0].id]
    await repository.record(
        [_succeeded(c, now) for c in first], now=now, disable_after=timedelta(days=1)
    )
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT id, status, attempts, lease_token, last_status_code FROM deliveries ORDER BY id"
        )
        logged = await conn.fetch("SELECT delivery_id, response_status FROM attempts ORDER BY id")
    assert [tuple(row) for row in rows] == [
        (first[0].id, "pending", 0, "t.2", None),
        (first[1].id, "succeeded", 1, None, 200),
    ]
    assert sorted(tuple(row) for row in logged) == sorted((c.id, 200) for c in first)


async def test_the_log_filters_by_status_whatever_the_status_index_holds(db: Database) -> None:
    """On PostgreSQL ``deliveries_set_aside`` holds only failed or set-aside deliveries (the
    delivery path writes no entry in it); every status filter finds its deliveries, newest
    first, those it holds and those it does not."""
    await _endpoint(db)
    await _publish(db, 6)
    repository = DeliveryRepository(db)
    now = utcnow()
    claimed = sorted(
        await repository.claim(limit=4, lease=LEASE, token="t.1", now=now), key=lambda c: c.id
    )
    dead = [
        dataclasses.replace(_succeeded(c, now), status=DeliveryStatus.DEAD, succeeded=False)
        for c in claimed[2:]
    ]
    await repository.record(
        [_succeeded(c, now) for c in claimed[:2]] + dead,
        now=now,
        disable_after=timedelta(days=5),
    )
    found = {
        status: [d.id for d in await repository.find(statuses=[status], limit=10)]
        for status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.DEAD, DeliveryStatus.PENDING)
    }
    ids = sorted(d.id for d in await repository.find(limit=10))
    assert found[DeliveryStatus.SUCCEEDED] == [c.id for c in reversed(claimed[:2])]
    assert found[DeliveryStatus.DEAD] == [c.id for c in reversed(claimed[2:])]
    assert sorted(found[DeliveryStatus.PENDING]) == [
        i for i in ids if i not in found[DeliveryStatus.SUCCEEDED] + found[DeliveryStatus.DEAD]
    ]
    both = await repository.find(statuses=[DeliveryStatus.DEAD, DeliveryStatus.SUCCEEDED], limit=3)
    assert [d.id for d in both] == [c.id for c in reversed(claimed)][:3]
    if db.dialect == "postgresql":
        async with db.connection() as conn:
            held = await conn.fetchval("SELECT pg_get_indexdef('deliveries_set_aside'::regclass)")
        assert "WHERE (status <> ALL (ARRAY['pending'::text, 'succeeded'::text]))" in held


@pytest.mark.postgres
async def test_the_claim_is_planned_with_its_own_arguments_on_postgresql(
    postgres_url: str,
) -> None:
    """Never a generic plan: one plan for every limit and backlog sorts every due delivery, or
    scans whole tables once cached over small ones (docs/benchmarks.md, "The claim's plan on
    PostgreSQL"). Tables never analyzed, large claims: what PostgreSQL's plan cache switched to
    a generic plan for, on one connection."""
    db = PostgresDatabase(postgres_url, max_size=1)  # one connection: its prepared claim
    await db.open()
    try:
        await migrate(db)
        await _endpoint(db)
        await _publish(db, 30)
        repository = DeliveryRepository(db)
        later = utcnow()
        for n in range(12):
            later += LEASE * 2  # each claim finds the deliveries due again
            await repository.claim(limit=256, lease=LEASE, token=f"t.{n}", now=later)
        async with db.connection() as conn:
            plans = await conn.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE 'WITH claimed AS%'"
            )
    finally:
        await db.close()
    assert plans is not None
    assert (plans["generic_plans"], plans["custom_plans"]) == (0, 12)
