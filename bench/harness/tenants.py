"""Partners for the delivery benchmark: N partners with two endpoints each, one all-partners
operator endpoint, and orders spread over the partners (``bench/delivery.py --partners N``)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from harness.databases import PG_ADMIN_URL, fresh_database
from harness.receiver import ReceiverProcess
from harness.workload import make_endpoint, order_data
from rampwire.crypto import SecretBox
from rampwire.domain.deliveries import DELIVERY_ID_PREFIX
from rampwire.domain.events import Source
from rampwire.domain.orders import OrderStatus
from rampwire.ids import id_from
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.repository.partners import PartnerRepository
from rampwire.storage import Database
from rampwire.types import utcnow

CREATE_TASKS = 8
DEADLINE_S = 600.0


@dataclass(frozen=True)
class Bench:
    """What a partners diagnosis opens before making its tenants."""

    db: Database
    box: SecretBox  # the master key the endpoints' secrets are sealed under
    endpoints: EndpointRepository
    url: str  # the receiver's, which answers 200 at once


@contextlib.asynccontextmanager
async def bench_on(backend: str) -> AsyncIterator[Bench]:
    """A receiver process that answers 200 at once and a fresh, migrated database of
    ``backend`` (dropped at the end), with a new master key; the receiver is stopped by its
    pid at the end."""
    receiver = ReceiverProcess(0.0)
    receiver.start()
    try:
        async with fresh_database(backend, PG_ADMIN_URL) as db:
            box = SecretBox(secrets.token_bytes(32))
            yield Bench(db, box, EndpointRepository(db, box), receiver.url)
    finally:
        receiver.stop()


async def make_tenants(
    db: Database, endpoints: EndpointRepository, url: str, partners: int, max_in_flight: int
) -> tuple[list[str], list[str]]:
    """``partners`` partners with two endpoints each and one operator endpoint subscribed to
    all of them: (partner ids, endpoint ids)."""
    repo = PartnerRepository(db)
    ids, made = [], []
    for n in range(partners):
        partner = await repo.create(name=f"bench {n}", metadata={}, now=utcnow())
        ids.append(partner.id)
        for _ in range(2):
            endpoint = await make_endpoint(endpoints, url, max_in_flight)
            async with db.transaction() as conn:  # make_endpoint makes operator endpoints
                await conn.execute(
                    "UPDATE endpoints SET partner_id = $2 WHERE id = $1", endpoint.id, partner.id
                )
            made.append(endpoint.id)
    every = await make_endpoint(endpoints, url, max_in_flight)
    async with db.transaction() as conn:
        await conn.execute("UPDATE endpoints SET partners = '[\"*\"]' WHERE id = $1", every.id)
    made.append(every.id)
    return ids, made


async def queue_partner_orders(orders: OrderRepository, partners: list[str], count: int) -> float:
    """``count`` orders, round-robin over ``partners`` (three deliveries each); events/s."""
    owners = itertools.cycle(partners)
    left = count
    deadline = time.monotonic() + DEADLINE_S

    async def loop() -> None:
        nonlocal left
        while left > 0 and time.monotonic() < deadline:
            left -= 1
            now = utcnow()
            await orders.create(
                order_data(),
                status=OrderStatus.AWAITING_PAYMENT,
                occurred_at=now,
                source=Source(provider=None, provider_event="api", received_at=now),
                now=now,
                actor="bench",
                partner_id=next(owners),
            )

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(CREATE_TASKS)))
    if left > 0:
        raise RuntimeError(f"queueing {count} orders did not finish in time")
    return count / (time.perf_counter() - start)


async def count_succeeded_since(db: Database, since_us: int) -> int:
    """Deliveries made since ``since_us`` (microseconds) that succeeded. Their ids (ULIDs) are
    at least the first id of that millisecond, so the count reads only the deliveries made
    since, not every one that succeeded in the earlier phases and rounds (on SQLite it runs in
    the measured process)."""
    first = id_from(DELIVERY_ID_PREFIX, since_us // 1000, 0)
    async with db.connection() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE id >= $2 AND status = 'succeeded'"
                " AND created_at >= $1",
                since_us,
                first,
            )
        )


async def set_live(db: Database, endpoint_ids: list[str], live: bool) -> None:
    """Put a set of tenants' endpoints away (deleted: nothing fans out to them), or back, so
    that the phase can alternate between sets made once and later phases fan out as before."""
    async with db.transaction() as conn:
        await conn.executemany(
            "UPDATE endpoints SET deleted_at = $2 WHERE id = $1",
            [(endpoint_id, None if live else 1) for endpoint_id in endpoint_ids],
        )


async def alternating_tenants(
    db: Database,
    endpoints: EndpointRepository,
    url: str,
    partners: int,
    rounds: int,
    max_in_flight: int,
) -> AsyncIterator[tuple[int, int, list[str]]]:
    """The partners phase's tenants: 1 partner and ``partners`` partners (:func:`make_tenants`),
    each set made once and put away, then live in turn for each of ``rounds`` rounds, which one
    goes first alternating: yields (round, partner count, partner ids) while that set is live."""
    counts = sorted({1, partners})
    tenants = {}
    for count in counts:
        tenants[count] = await make_tenants(db, endpoints, url, count, max_in_flight)
        await set_live(db, tenants[count][1], False)
    for round_ in range(rounds):
        for count in counts if round_ % 2 == 0 else counts[::-1]:
            ids, made = tenants[count]
            await set_live(db, made, True)
            yield round_, count, ids
            await set_live(db, made, False)
