"""The dashboard's queries at scale on PostgreSQL: the overview and each list page.

Fills a fresh database with ORDERS orders over the last 30 days, one event each, DELIVERIES
deliveries (spread over three endpoints) with one attempt each, a backlog of due deliveries and
an inbound log, all with real ULID ids of their time (COPY, not the API: the API's path is what
bench/ingest.py and bench/delivery.py measure). Half the orders (and so their deliveries)
belong to PARTNERS partners, each with two API keys; one endpoint and one source are the first
partner's; AUTH_DECISIONS authorization decisions, one partner's in a hundred; SOURCES sources
made through the repository (their credentials sealed). Then times each repository call a
page makes, REPEAT times, and prints the median and the slowest. The issue's target: under
200 ms each at 1,000,000 orders and 3,000,000 deliveries. With ``--explain``, instead of timing,
each call that reads deliveries (and the worker's claim and the backlog metrics) runs once and
every statement it ran on deliveries is printed with its plan (``EXPLAIN ANALYZE`` for a read,
the plan alone for a write): which index each one uses.

    .venv/bin/python bench/dashboard.py [--orders 1000000] [--deliveries 3000000] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta
from typing import Any

import asyncpg
from harness.databases import PG_ADMIN_URL, fresh_database_url
from harness.report import loadavg, percentile

from rampwire.crypto import SecretBox
from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain import serde
from rampwire.domain.apikeys import Scope
from rampwire.domain.deliveries import DeliveryStatus
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.ids import ulid
from rampwire.ingest.sources import IngestSource
from rampwire.repository import OrderRepository, backlog
from rampwire.repository.authorization import AuthorizationRepository
from rampwire.repository.deliveries import DeliveryRepository
from rampwire.repository.inbound import InboundRepository
from rampwire.repository.keys import KeyRepository
from rampwire.repository.order_events import OrderEventRepository
from rampwire.repository.orders import OrderFilter
from rampwire.repository.overview import OverviewRepository
from rampwire.repository.partners import PartnerRepository
from rampwire.repository.sources import SourceRepository, credentials_context
from rampwire.storage import Database, migrate, open_database
from rampwire.storage.database import to_us
from rampwire.storage.postgres import PostgresConnection
from rampwire.types import utcnow

REPEAT = 20  # timed runs per query, after one warm-up
SPAN_MS = 30 * 86_400_000  # the data covers the last 30 days
CHUNK = 100_000  # rows per COPY
BACKLOG = 1_000  # deliveries due now
ENDPOINTS = 3
PAGE = 50
PARTNER = "ptn_01JB00000000000000000BENCH"  # the portal's partner: one of the endpoints is its
QUIET_PARTNER = "ptn_01JB00000000000000000QUIET"  # two endpoints, no delivery yet
QUIET_ENDPOINTS = ("ep_01JB00000000000000000QUIET1", "ep_01JB00000000000000000QUIET2")
PARTNERS = 1_000
AUTH_DECISIONS = 200_000
SOURCES = 50


async def fill(url: str, orders: int, deliveries: int) -> None:
    now = utcnow()
    now_ms = to_us(now) // 1000
    conn = await asyncpg.connect(url)
    try:
        partners = [f"ptn_{ulid(now_ms - SPAN_MS + n)}" for n in range(PARTNERS)]
        await conn.copy_records_to_table(
            "partners",
            records=[
                (p, f"partner {n}", "active", "{}", to_us(now), to_us(now))
                for n, p in enumerate(partners)
            ],
            columns=["id", "name", "status", "metadata", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "api_keys",
            records=[
                (
                    f"key_{ulid(now_ms - n)}",
                    f"key {n}",
                    "write",
                    f"h{n}",
                    "rw_xxxxxxx",
                    to_us(now),
                    partners[n % PARTNERS],
                )
                for n in range(2 * PARTNERS)
            ],
            columns=[
                "id",
                "name",
                "scope",
                "token_hash",
                "token_prefix",
                "created_at",
                "partner_id",
            ],
        )
        endpoints = [f"ep_{ulid(now_ms - SPAN_MS)}" for _ in range(ENDPOINTS)]
        await conn.executemany(
            "INSERT INTO endpoints (id, url, event_types, dialect, headers, secrets,"
            " max_in_flight, ordering, created_at, updated_at, partner_id)"
            " VALUES ($1, 'https://example.com/hook', '[\"*\"]', 'standard', '{}', '[]', 10,"
            " 'none', $2, $2, $3)",
            [(e, to_us(now), partners[0] if n == 0 else None) for n, e in enumerate(endpoints)],
        )
        await conn.execute(
            "INSERT INTO sources (id, provider, name, credentials, options, created_at,"
            " updated_at) VALUES ('src_bench', 'revolut', 'bench', 'x', '{}', 0, 0)"
        )
        await conn.execute(
            "INSERT INTO sources (id, provider, name, credentials, options, created_at,"
            " updated_at, partner_id) VALUES ('src_partner', 'revolut', 'p', 'x', '{}', 0, 0, $1)",
            partners[0],
        )
        owner: dict[str, str | None] = {}
        template = sample_order(DialectName("revolut"), OrderStatus.COMPLETED, Side.BUY, now=now)
        statuses = [s.value for s in OrderStatus]
        order_ids: list[tuple[str, int]] = []
        for start in range(0, orders, CHUNK):
            rows = []
            for n in range(start, min(orders, start + CHUNK)):
                ms = now_ms - SPAN_MS + n * SPAN_MS // orders
                oid = f"ord_{ulid(ms)}"
                order_ids.append((oid, ms))
                status = statuses[n % len(statuses)]
                ref = f"rev-{n}"
                body = serde.order_to_json(
                    template.evolve(id=oid, provider_order_id=ref, status=OrderStatus(status))
                ).decode()
                us = ms * 1000
                partner = partners[(n // 2) % PARTNERS] if n % 2 == 0 else None
                owner[oid] = partner
                rows.append(
                    (oid, "revolut", ref, "buy", status, 1, us, us, us, "{}", body, 1, partner)
                )
            await conn.copy_records_to_table(
                "orders",
                records=rows,
                columns=[
                    "id",
                    "provider",
                    "provider_order_id",
                    "side",
                    "status",
                    "version",
                    "created_at",
                    "updated_at",
                    "status_at",
                    "field_times",
                    "body",
                    "seq",
                    "partner_id",
                ],
            )
        print(f"  {orders} orders", flush=True)
        for start in range(0, orders, CHUNK):
            event_rows = [
                (f"evt_{ulid(ms)}", "order.completed", oid, 1, ms * 1000, "{}")
                for oid, ms in order_ids[start : start + CHUNK]
            ]
            await conn.copy_records_to_table(
                "events",
                records=event_rows,
                columns=["id", "type", "order_id", "sequence", "created_at", "payload"],
            )
        events = await conn.fetch("SELECT id, order_id, created_at FROM events ORDER BY id")
        print(f"  {len(events)} events", flush=True)
        per_event = max(1, deliveries // max(1, len(events)))
        made = 0
        for start in range(0, len(events), CHUNK // per_event):
            drows, arows = [], []
            for event in events[start : start + CHUNK // per_event]:
                for k in range(per_event):
                    if made >= deliveries:
                        break
                    made += 1
                    us = event["created_at"]
                    did = f"dlv_{ulid(us // 1000)}"
                    due = made <= BACKLOG
                    drows.append(
                        (
                            did,
                            endpoints[k % ENDPOINTS],
                            event["id"],
                            "order.completed",
                            event["order_id"],
                            "retrying" if due else "succeeded",
                            1,
                            to_us(now - timedelta(minutes=5)) if due else None,
                            200,
                            us,
                            us,
                            owner[event["order_id"]],
                        )
                    )
                    arows.append(
                        (
                            f"att_{ulid(us // 1000 + 5)}",
                            did,
                            1,
                            us + 5000,
                            4_000 + made % 9000,
                            "https://example.com/hook",
                            "{}",
                            200,
                        )
                    )
            await conn.copy_records_to_table(
                "deliveries",
                records=drows,
                columns=[
                    "id",
                    "endpoint_id",
                    "event_id",
                    "event_type",
                    "order_id",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "last_status_code",
                    "created_at",
                    "updated_at",
                    "partner_id",
                ],
            )
            await conn.copy_records_to_table(
                "attempts",
                records=arows,
                columns=[
                    "id",
                    "delivery_id",
                    "attempt",
                    "started_at",
                    "duration_us",
                    "request_url",
                    "request_headers",
                    "response_status",
                ],
            )
        print(f"  {made} deliveries and attempts", flush=True)
        inbound = [
            (
                f"inb_{ulid(ms)}",
                "src_partner" if n % 10 == 0 else "src_bench",
                "revolut",
                f"d{n}",
                ms * 1000,
                ms * 1000,
                "applied",
                f"rev-{n}",
                oid,
                "{}",
                "{}",
                "{}",
                1,
            )
            for n, (oid, ms) in enumerate(order_ids[-min(len(order_ids), 200_000) :])
        ]
        await conn.copy_records_to_table(
            "inbound",
            records=inbound,
            columns=[
                "id",
                "source_id",
                "provider",
                "dedupe_key",
                "received_at",
                "processed_at",
                "outcome",
                "provider_order_id",
                "order_id",
                "event_ids",
                "headers",
                "body",
                "attempts",
            ],
        )
        print(f"  {len(inbound)} inbound requests", flush=True)
        decisions = [
            (
                f"azd_{ulid(ms)}",
                ms * 1000,
                "buy",
                "user@example.com",
                oid,
                1,
                "allowed",
                '{"outcome": "allowed", "operation": "buy", "allowed": true}',
                partners[n % PARTNERS] if n % 100 == 0 else None,
            )
            for n, (oid, ms) in enumerate(order_ids[-min(len(order_ids), AUTH_DECISIONS) :])
        ]
        await conn.copy_records_to_table(
            "authorization_decisions",
            records=decisions,
            columns=[
                "id",
                "decided_at",
                "operation",
                "subject",
                "order_id",
                "allowed",
                "outcome",
                "body",
                "partner_id",
            ],
        )
        print(f"  {len(decisions)} authorization decisions; ANALYZE", flush=True)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


class Plans:
    """``--explain``: the statements on deliveries each call runs, captured at the connection,
    then explained on the same data."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[object, ...]]] = []
        for name in ("fetch", "fetchrow", "fetchval", "execute"):
            original = getattr(PostgresConnection, name)

            async def captured(conn: Any, sql: str, *args: Any, _run: Any = original) -> Any:
                if " deliveries" in sql and not sql.startswith("EXPLAIN"):
                    self.seen.append((sql, args))
                return await _run(conn, sql, *args)

            setattr(PostgresConnection, name, captured)

    async def show(self, db: Database, name: str, call: object) -> None:
        self.seen.clear()
        await call()  # type: ignore[operator]
        print(f"\n### {name}", flush=True)
        async with db.connection() as conn:
            for sql, args in list(self.seen):
                analyze = "ANALYZE, BUFFERS, " if sql.startswith("SELECT") else ""
                rows = await conn.fetch(
                    f"EXPLAIN ({analyze}COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}", *args
                )
                print(f"{sql[:300]}\n" + "\n".join(f"    {row[0]}" for row in rows))


async def timed(name: str, call: object) -> tuple[str, float, float]:
    run = call  # a zero-argument coroutine function
    await run()  # type: ignore[operator]
    took = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        await run()  # type: ignore[operator]
        took.append((time.perf_counter() - started) * 1000)
    return name, percentile(took, 50), max(took)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=3_000_000)
    parser.add_argument("--explain", action="store_true", help="plans instead of timings")
    args = parser.parse_args()
    async with fresh_database_url("postgresql", PG_ADMIN_URL) as (url, _):
        db = open_database(url)
        await db.open()
        try:
            await migrate(db)
            started = time.perf_counter()
            print(f"filling {args.orders} orders, {args.deliveries} deliveries", flush=True)
            await fill(url, args.orders, args.deliveries)
            print(f"filled in {time.perf_counter() - started:.0f} s; load {loadavg()}")
            box = SecretBox(b"\x07" * 32)
            sources = SourceRepository(db, box)
            async with db.transaction() as conn:  # the filled sources' credentials, sealed
                for sid in ("src_bench", "src_partner"):
                    sealed = box.encrypt(
                        '{"secrets": ["wsk_0123456789"]}', context=credentials_context(sid)
                    )
                    await conn.execute(
                        "UPDATE sources SET credentials = $1 WHERE id = $2", sealed, sid
                    )
            for n in range(SOURCES):
                source_id = SourceRepository.new_id()
                await sources.create(
                    IngestSource(
                        id=source_id,
                        provider=Provider.KOYWE,
                        name=f"koywe {n}",
                        credentials={"secret": f"secret-{n}-0123456789"},
                        options={},
                        created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )
            operator_key, _ = await KeyRepository(db).create("operator", Scope.ADMIN)
            orders = OrderRepository(db)
            deliveries = DeliveryRepository(db)
            partner_repo = PartnerRepository(db)
            keys = KeyRepository(db)
            decisions = AuthorizationRepository(db, box)
            inbound = InboundRepository(db, orders)
            lookups = OrderEventRepository(db)
            overview = OverviewRepository(db)
            middle = f"rev-{args.orders // 2}"
            endpoint = (await deliveries.find(limit=1))[0].endpoint_id
            listed = await partner_repo.find(limit=PARTNERS)
            partner, last_partner = listed[-1].id, listed[0].id  # the first made, the newest
            async with db.connection() as conn:  # the portal's partner owns that endpoint
                await conn.execute(
                    "INSERT INTO partners (id, name, status, metadata, created_at, updated_at)"
                    " VALUES ($1, 'bench', 'active', '{}', 0, 0), ($2, 'quiet', 'active', '{}',"
                    " 0, 0)",
                    PARTNER,
                    QUIET_PARTNER,
                )
                await conn.execute(
                    "UPDATE endpoints SET partner_id = $1 WHERE id = $2", PARTNER, endpoint
                )
                for quiet in QUIET_ENDPOINTS:  # a partner whose two endpoints got nothing yet
                    await conn.execute(
                        "INSERT INTO endpoints (id, url, event_types, dialect, headers, secrets,"
                        " max_in_flight, ordering, created_at, updated_at, partner_id)"
                        " VALUES ($1, 'https://example.com/quiet', '[\"*\"]', 'standard', '{}',"
                        " '[]', 10, 'none', 0, 0, $2)",
                        quiet,
                        QUIET_PARTNER,
                    )
                await conn.execute("ANALYZE endpoints")
            calls = {
                "overview (all figures)": lambda: overview.read(now=utcnow()),
                "orders, newest page": lambda: orders.find(OrderFilter(), limit=PAGE),
                "orders, status filter": lambda: orders.find(
                    OrderFilter(statuses=(OrderStatus.FAILED,)), limit=PAGE
                ),
                "orders, provider + last day": lambda: orders.find(
                    OrderFilter(
                        provider=Provider.REVOLUT.value, created_from=utcnow() - timedelta(days=1)
                    ),
                    limit=PAGE,
                ),
                "order search by provider id": lambda: lookups.by_reference(middle),
                "deliveries, newest page": lambda: deliveries.find(limit=PAGE),
                "deliveries, one endpoint": lambda: deliveries.find(
                    endpoint_id=endpoint, limit=PAGE
                ),
                "deliveries, status retrying": lambda: deliveries.find(
                    statuses=(DeliveryStatus.RETRYING,), limit=PAGE
                ),
                "endpoint page, latest 10": lambda: deliveries.find(endpoint_id=endpoint, limit=10),
                "endpoint pending events": lambda: deliveries.pending_events(endpoint, limit=PAGE),
                "portal deliveries, its one busy endpoint": lambda: deliveries.find_for_endpoints(
                    [endpoint], limit=PAGE
                ),
                "portal deliveries, 2 quiet endpoints": lambda: deliveries.find_for_endpoints(
                    QUIET_ENDPOINTS, limit=PAGE
                ),
                "(one query by partner, 2 quiet endpoints)": lambda: deliveries.find(
                    partner_id=QUIET_PARTNER, limit=PAGE
                ),
                "deliveries, status dead (none)": lambda: deliveries.find(
                    statuses=(DeliveryStatus.DEAD,), limit=PAGE
                ),
                "deliveries, status succeeded": lambda: deliveries.find(
                    statuses=(DeliveryStatus.SUCCEEDED,), limit=PAGE
                ),
                "orders, one partner": lambda: orders.find(
                    OrderFilter(partner_id=partner), limit=PAGE
                ),
                "deliveries, one partner": lambda: deliveries.find(for_partner=partner, limit=PAGE),
                "inbound, newest page": lambda: inbound.find(limit=PAGE),
                "inbound, one partner": lambda: inbound.find(partner_id=partner, limit=PAGE),
                "inbound, partner without sources": lambda: inbound.find(
                    partner_id=last_partner, limit=PAGE
                ),
                "partners, newest page": lambda: partner_repo.find(limit=PAGE),
                "API keys, all (rampwire keys list)": lambda: keys.all(),
                "each page's session check (one key)": lambda: keys.get(operator_key.id),
                "API keys, newest page": lambda: keys.find(limit=PAGE),
                "API keys, the operator's": lambda: keys.find(operator=True, limit=PAGE),
                "API keys, one partner": lambda: keys.find(partner_id=partner, limit=PAGE),
                "authorization decisions, newest": lambda: decisions.decisions(limit=PAGE),
                "authorization decisions, one partner": lambda: decisions.decisions(
                    partner_id=partner, limit=PAGE
                ),
                "sources, all (with credentials)": lambda: sources.all(limit=200),
            }
            if args.explain:
                plans = Plans()
                calls["backlog metrics"] = lambda: backlog.backlog(db, now=utcnow())
                calls["the worker's claim"] = lambda: deliveries.claim(
                    limit=100, lease=timedelta(seconds=60), token="t", now=utcnow()
                )
                for name, call in calls.items():
                    await plans.show(db, name, call)
                return
            print(f"\n| query | median ms | slowest of {REPEAT} ms |\n|---|---|---|")
            for name, call in calls.items():
                label, median, slowest = await timed(name, call)
                print(f"| {label} | {median:.1f} | {slowest:.1f} |", flush=True)
            print(f"\nload average after: {loadavg()}")
        finally:
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
