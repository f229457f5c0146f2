"""Group commit: requests that arrive together are written in one transaction, and still each
succeeds, fails or is a duplicate on its own."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from tests.support.apps import in_process
from tests.support.ingest_kit import make_source, send, webhook
from tests.support.scrape import scrape, value

from rampwire.api import create_app
from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.events import Source
from rampwire.domain.fold import ProviderUpdate
from rampwire.domain.lifecycle import Change
from rampwire.domain.orders import Order, OrderStatus, Provider, Side
from rampwire.errors import ConfigError
from rampwire.repository import inbound, provider_orders
from rampwire.repository.inbound import InboundRepository
from rampwire.repository.inbound_rows import OPEN_BATCH, OPEN_BATCH_ARRAYS
from rampwire.repository.order_rows import OrderBodies
from rampwire.settings import GROUP_COMMIT_BATCH, GROUP_COMMIT_WRITERS, Secret, Settings
from rampwire.storage import Database
from rampwire.storage.database import Writes
from rampwire.storage.texts import split_texts
from rampwire.types import utcnow

S = OrderStatus
# Sent at once: the first request is written as it comes, the rest queue meanwhile (a backlog
# starts the other writers) and are written together, a batch a transaction, as writers free.
AT_ONCE = GROUP_COMMIT_WRITERS + 10
METRICS_TOKEN = "scrape-token-0123456789"
BATCHES = "rampwire_group_commit_batch_size"
log = logging.getLogger(__name__)

POISON = {
    "sqlite": "CREATE TRIGGER poison BEFORE INSERT ON orders"
    " WHEN NEW.provider_order_id = '{order_id}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
    "postgresql": "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'poisoned'; END $$;"
    " CREATE TRIGGER poison BEFORE INSERT ON orders FOR EACH ROW"
    " WHEN (NEW.provider_order_id = '{order_id}') EXECUTE FUNCTION poison()",
}


def orders(count: int) -> list[Order]:
    now = utcnow()
    return [
        sample_order(DialectName.TRANSAK, S.CREATED, Side.SELL, now=now + timedelta(seconds=i))
        for i in range(count)
    ]


async def table_counts(db: Database) -> dict[str, int]:
    async with db.connection() as conn:
        return {
            table: int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
            for table in ("orders", "inbound", "events", "timeline")
        }


async def test_requests_sent_at_once_are_each_applied_once(
    api: httpx.AsyncClient, db: Database
) -> None:
    source = (await make_source(api, Provider.TRANSAK))["id"]
    made = orders(AT_ONCE)
    now = utcnow()
    requests = [webhook(Provider.TRANSAK, o, S.PROCESSING, now=now) for o in made]
    answers = await asyncio.gather(*(send(api, source, r) for r in requests))
    assert [a.status_code for a in answers] == [200] * AT_ONCE
    assert {a.json()["provider_order_id"] for a in answers} == {o.provider_order_id for o in made}
    assert all(a.json()["outcome"] == "applied" for a in answers)
    # each: an order, a log row, order.created and order.processing, two timeline entries
    assert await table_counts(db) == {
        "orders": AT_ONCE,
        "inbound": AT_ONCE,
        "events": 2 * AT_ONCE,
        "timeline": 2 * AT_ONCE,
    }


async def test_copies_of_one_request_sent_at_once_are_applied_once(
    api: httpx.AsyncClient, db: Database
) -> None:
    source = (await make_source(api, Provider.TRANSAK))["id"]
    [order] = orders(1)
    request = webhook(Provider.TRANSAK, order, S.PROCESSING, now=utcnow())
    answers = await asyncio.gather(*(send(api, source, request) for _ in range(AT_ONCE)))
    assert [a.status_code for a in answers] == [200] * AT_ONCE
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * (AT_ONCE - 1)
    assert await table_counts(db) == {"orders": 1, "inbound": 1, "events": 2, "timeline": 2}


async def test_requests_for_one_new_order_sent_at_once_keep_its_sequences(
    api: httpx.AsyncClient, db: Database
) -> None:
    source = (await make_source(api, Provider.TRANSAK))["id"]
    [order] = orders(1)
    now = utcnow()
    steps = (S.AWAITING_PAYMENT, S.PAYMENT_SUBMITTED, S.PROCESSING, S.COMPLETED)
    requests = [
        webhook(Provider.TRANSAK, order, status, now=now + timedelta(seconds=i))
        for i, status in enumerate(steps)
    ]
    answers = await asyncio.gather(*(send(api, source, r) for r in reversed(requests)))
    assert [a.status_code for a in answers] == [200] * len(steps)
    [found] = (await api.get("/v1/orders", params={"provider": "transak"})).json()["data"]
    assert found["status"] == "completed"
    async with db.connection() as conn:
        sequences = [
            row["sequence"]
            for row in await conn.fetch(
                "SELECT sequence FROM events WHERE order_id = $1 ORDER BY sequence", found["id"]
            )
        ]
        entries = [
            row["seq"]
            for row in await conn.fetch(
                "SELECT seq FROM timeline WHERE order_id = $1 ORDER BY seq", found["id"]
            )
        ]
    assert sequences == list(range(1, found["version"] + 1))
    assert entries == list(range(1, len(steps) + 2))  # order.created's entry, then one each


async def test_a_request_that_fails_in_a_batch_fails_alone(
    api: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    source = (await make_source(api, Provider.TRANSAK))["id"]
    made = orders(AT_ONCE)
    poisoned = made[-1]  # queued behind the first writers: it is written in a batch
    async with db.transaction() as conn:
        await conn.executescript(POISON[db.dialect].format(order_id=poisoned.provider_order_id))
    now = utcnow()
    requests = [webhook(Provider.TRANSAK, o, S.PROCESSING, now=now) for o in made]
    with caplog.at_level(logging.WARNING, logger="rampwire.services.ingestor"):
        answers = await asyncio.gather(*(send(api, source, r) for r in requests))
    assert [a.status_code for a in answers] == [200] * (AT_ONCE - 1) + [503]
    assert answers[-1].json()["type"].endswith("storage_unavailable")
    assert any("writing each alone" in r.getMessage() for r in caplog.records)
    assert await table_counts(db) == {
        "orders": AT_ONCE - 1,
        "inbound": AT_ONCE - 1,
        "events": 2 * (AT_ONCE - 1),
        "timeline": 2 * (AT_ONCE - 1),
    }


async def test_a_request_raced_twice_is_answered_503_and_nothing_is_written(
    api: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process logged its request or made its order meanwhile, and again on the
    batch's second try (busy processes on one database): the provider is asked to send it
    again, as for any storage failure, not answered 500. The race is forced here."""
    source = (await make_source(api, Provider.TRANSAK))["id"]
    tries = 0

    async def raced(self: InboundRepository, batch: list[object]) -> list[object]:
        nonlocal tries
        tries += 1
        raise inbound._Raced

    monkeypatch.setattr(InboundRepository, "_write_batch", raced)
    [order] = orders(1)
    answer = await send(api, source, webhook(Provider.TRANSAK, order, S.PROCESSING, now=utcnow()))
    assert answer.status_code == 503
    assert answer.json()["type"].endswith("storage_unavailable")
    assert tries == 2
    assert await table_counts(db) == {"orders": 0, "inbound": 0, "events": 0, "timeline": 0}


@asynccontextmanager
async def another_process(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database: its own ingest queue, writers and caches."""
    async with in_process(create_app(settings, db=db), base_url="http://other.test") as client:
        yield client


async def test_one_request_received_by_two_processes_at_once_is_applied_once(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    source = (await make_source(api, Provider.TRANSAK))["id"]
    made = orders(4)
    now = utcnow()
    requests = [webhook(Provider.TRANSAK, o, S.PROCESSING, now=now) for o in made]
    async with another_process(settings, db) as other:
        answers = await asyncio.gather(
            *(send(client, source, r) for r in requests for client in (api, other))
        )
    assert [a.status_code for a in answers] == [200] * 8
    for pair in zip(answers[::2], answers[1::2], strict=True):
        assert sorted(a.json()["duplicate"] for a in pair) == [False, True]
    assert await table_counts(db) == {"orders": 4, "inbound": 4, "events": 8, "timeline": 8}


@pytest.mark.parametrize(("batch", "writers"), [(1, 1), (3, 1), (2, 4)])
async def test_batch_size_and_writers_are_settings_and_keep_each_request_whole(
    api: httpx.AsyncClient, db: Database, settings: Settings, batch: int, writers: int
) -> None:
    source = (await make_source(api, Provider.TRANSAK))["id"]
    made = orders(AT_ONCE)
    now = utcnow()
    requests = [webhook(Provider.TRANSAK, o, S.PROCESSING, now=now) for o in made]
    tuned = settings.replace(ingest_batch=batch, ingest_writers=writers)
    async with another_process(tuned, db) as other:
        answers = await asyncio.gather(*(send(other, source, r) for r in [*requests, *requests]))
    assert [a.status_code for a in answers] == [200] * 2 * AT_ONCE
    assert sorted(a.json()["duplicate"] for a in answers) == [False] * AT_ONCE + [True] * AT_ONCE
    assert await table_counts(db) == {
        "orders": AT_ONCE,
        "inbound": AT_ONCE,
        "events": 2 * AT_ONCE,
        "timeline": 2 * AT_ONCE,
    }


def test_batch_size_and_writers_are_read_from_the_environment(tmp_path: Path) -> None:
    env = {"RAMPWIRE_DATA_DIR": str(tmp_path)}
    tuned = Settings.from_env({**env, "RAMPWIRE_INGEST_BATCH": "8", "RAMPWIRE_INGEST_WRITERS": "3"})
    assert (tuned.ingest_batch, tuned.ingest_writers) == (8, 3)
    assert Settings.from_env(env).ingest_batch == GROUP_COMMIT_BATCH
    for name in ("RAMPWIRE_INGEST_BATCH", "RAMPWIRE_INGEST_WRITERS"):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({**env, name: "0"})


async def test_a_lone_request_is_committed_alone_and_the_queue_together(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    """Group commit, counted by the app's own metrics: a request that finds the writer free is
    written at once in a transaction of its own (nothing waits for company); requests that
    queue while it is busy are written together by that writer."""
    source = (await make_source(api, Provider.TRANSAK))["id"]
    made = orders(1 + AT_ONCE)
    now = utcnow()
    requests = [webhook(Provider.TRANSAK, o, S.PROCESSING, now=now) for o in made]
    tuned = settings.replace(ingest_writers=1, metrics_token=Secret(METRICS_TOKEN))
    async with another_process(tuned, db) as other:
        assert (await send(other, source, requests[0])).status_code == 200
        samples = await scrape(other, METRICS_TOKEN)
        assert value(samples, BATCHES + "_count", writer="ingest") == 1
        assert value(samples, BATCHES + "_sum", writer="ingest") == 1
        answers = await asyncio.gather(*(send(other, source, r) for r in requests[1:]))
        assert [a.status_code for a in answers] == [200] * AT_ONCE
        samples = await scrape(other, METRICS_TOKEN)
    assert value(samples, BATCHES + "_sum", writer="ingest") == 1 + AT_ONCE
    assert value(samples, BATCHES + "_count", writer="ingest") < 1 + AT_ONCE


async def test_a_change_to_an_order_stored_unreadable_fails_alone_with_a_retryable_problem(
    api: httpx.AsyncClient, db: Database
) -> None:
    source = (await make_source(api, Provider.TRANSAK))["id"]
    made = orders(AT_ONCE)
    now = utcnow()
    first = [webhook(Provider.TRANSAK, o, S.PROCESSING, now=now) for o in made]
    assert {(await send(api, source, r)).status_code for r in first} == {200}
    broken = made[-1]  # queued behind the first writers: it is read in a batch
    async with db.transaction() as conn:
        await conn.execute(  # a body written by hand that no longer validates
            "UPDATE orders SET body = $1 WHERE provider_order_id = $2",
            '{"id": "not an order"}',
            broken.provider_order_id,
        )
    before = await table_counts(db)
    later = now + timedelta(seconds=5)
    requests = [webhook(Provider.TRANSAK, o, S.COMPLETED, now=later) for o in made]
    answers = await asyncio.gather(*(send(api, source, r) for r in requests))
    # 503, not the API's 409: the provider sends it again, and once repaired it is applied
    assert [a.status_code for a in answers] == [200] * (AT_ONCE - 1) + [503]
    assert answers[-1].headers["retry-after"]
    problem = answers[-1].json()
    assert problem["type"].endswith("unreadable_order")
    assert problem["order_id"] and "send it again" in problem["detail"]
    assert "Traceback" not in answers[-1].text
    after = await table_counts(db)
    assert after["orders"] == before["orders"]
    assert after["inbound"] == before["inbound"] + AT_ONCE - 1


async def test_a_copy_of_a_request_for_an_order_stored_unreadable_is_still_a_duplicate(
    api: httpx.AsyncClient, db: Database
) -> None:
    """A batch reads (and on PostgreSQL locks) the orders of its copies too; only the orders
    its changes name are validated, so a copy is answered as one whatever its order's body."""
    source = (await make_source(api, Provider.TRANSAK))["id"]
    [order] = orders(1)
    request = webhook(Provider.TRANSAK, order, S.PROCESSING, now=utcnow())
    assert (await send(api, source, request)).json()["outcome"] == "applied"
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE orders SET body = $1 WHERE provider_order_id = $2",
            '{"id": "not an order"}',
            order.provider_order_id,
        )
    again = await send(api, source, request)
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True


async def test_a_batch_opens_the_same_with_its_lists_as_texts_or_as_arrays(
    api: httpx.AsyncClient, db: Database
) -> None:
    """PostgreSQL's opening statement (``-- open_batch --``) takes its lists as texts to split
    (``split_texts``), or as arrays where no text says them: the same locks and reads."""
    if db.dialect != "postgresql":
        pytest.skip("the opening statement is PostgreSQL's")
    source = (await make_source(api, Provider.TRANSAK))["id"]
    now = utcnow()
    made = orders(3)
    for order in made:
        assert (
            await send(api, source, webhook(Provider.TRANSAK, order, S.PROCESSING, now=now))
        ).status_code == 200
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT source_id, dedupe_key FROM inbound ORDER BY id")
    logged = [[row["source_id"], row["dedupe_key"]] for row in rows]
    known = [order.provider_order_id for order in made[:2]]
    lists = (
        [*(s for s, _ in logged), source],
        [*(k for _, k in logged), "not logged \x1f"],
        ["transak:a", "transak:b", "transak:a\x1e"],
        ["ptn_none"],
        ["transak", "transak", "transak"],
        [*known, "not an order \x1e"],
    )
    split = split_texts(lists)
    assert split is not None
    texts, separator, null = split
    opened = []
    for statement, args in ((OPEN_BATCH, (*texts, separator, null)), (OPEN_BATCH_ARRAYS, lists)):
        async with db.transaction() as conn:
            found = await conn.fetch(statement, *args)
            locks = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid()"
            )
        [batch] = [row for row in found if row["id"] is None]
        read = sorted(row["provider_order_id"] for row in found if row["id"] is not None)
        opened.append((locks, sorted(json.loads(batch["logged"])), batch["endpoints"], read))
    assert opened[0] == opened[1]
    assert opened[0][:2] == (3, sorted(logged))
    assert opened[0][3] == sorted(known)


async def wait_for_one_advisory_wait(db: Database) -> None:
    """Until a backend waits for an advisory lock (a batch's first statement, for the lock a
    test holds); then exactly one does."""
    waiting = 0
    for _ in range(500):
        async with db.connection() as conn:
            waiting = int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
                )
            )
        if waiting:
            break
        await asyncio.sleep(0.01)
    assert waiting == 1


@pytest.mark.parametrize(
    "provider",
    [
        pytest.param(Provider.TRANSAK, id="the request makes the order again"),
        pytest.param(Provider.KOYWE, id="the request names no side"),
    ],
)
async def test_an_order_made_while_a_batch_waits_for_its_lock_is_changed_not_made_again(
    api: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture, provider: Provider
) -> None:
    """PostgreSQL's first statement reads a batch's orders after their locks, on a snapshot
    taken before it waited for them: an order that the lock's holder made meanwhile is not
    read. The batch is then written again, and changes it: Transak's request (which names its
    side) would make the order a second time, Koywe's processing (which does not) would wait,
    logged unapplied, for an order that exists."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer and no locks")
    source = (await make_source(api, provider))["id"]
    now = utcnow()
    order = sample_order(DialectName(provider.value), S.CREATED, Side.BUY, now=now)
    key = {(provider, order.provider_order_id)}
    made = ProviderUpdate(  # another process's first sight of the order, as ingest makes it
        provider=provider,
        provider_order_id=order.provider_order_id,
        side=Side.BUY,
        change=Change(occurred_at=now, status=S.CREATED, patch={}, timed=True),
        source=Source(provider=str(provider), provider_event="created", received_at=now),
        partner_id=None,
    )
    request = webhook(provider, order, S.PROCESSING, now=now + timedelta(seconds=1))
    with caplog.at_level(logging.DEBUG, logger="rampwire.ingest"):
        async with db.transaction() as other:
            await provider_orders.lock(other, key)
            writes = Writes(other.dialect)
            provider_orders.apply(writes, [made], [], now=now, bodies=OrderBodies(log))
            await writes.run(other)
            sent = asyncio.create_task(send(api, source, request))
            await wait_for_one_advisory_wait(db)  # its first statement, for the lock held here
            assert not sent.done()
        answer = await sent
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "applied"
    assert any("made an order of this batch" in r.getMessage() for r in caplog.records)
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT id, status FROM orders WHERE provider_order_id = $1", order.provider_order_id
        )
    [row] = rows  # made once, by the other process, and changed by the request
    assert (row["id"], row["status"] != "created") == (answer.json()["order_id"], True)


async def test_an_order_changed_while_a_batch_waits_for_its_lock_is_changed_after_that(
    api: httpx.AsyncClient, db: Database
) -> None:
    """The batch's first statement takes the advisory locks before it reads the orders: the
    order's row is not locked while the batch waits (the lock's holder changes it at once),
    and the batch reads the row as the holder left it."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer and no locks")
    source = (await make_source(api, Provider.TRANSAK))["id"]
    now = utcnow()
    [order] = orders(1)
    first = webhook(Provider.TRANSAK, order, S.AWAITING_PAYMENT, now=now)
    assert (await send(api, source, first)).json()["outcome"] == "applied"
    key = {(Provider.TRANSAK, order.provider_order_id)}
    changed = ProviderUpdate(  # another process's change of the order
        provider=Provider.TRANSAK,
        provider_order_id=order.provider_order_id,
        side=None,
        change=Change(
            occurred_at=now + timedelta(seconds=1), status=S.PROCESSING, patch={}, timed=True
        ),
        source=Source(provider="transak", provider_event="processing", received_at=now),
        partner_id=None,
    )
    request = webhook(Provider.TRANSAK, order, S.COMPLETED, now=now + timedelta(seconds=2))
    async with db.transaction() as other:
        await provider_orders.lock(other, key)
        sent = asyncio.create_task(send(api, source, request))
        await wait_for_one_advisory_wait(db)  # its first statement, for the lock held here
        await other.execute("SET LOCAL lock_timeout = '5s'")  # a row locked: fail, not hang
        rows = await provider_orders.read(other, key)
        writes = Writes(other.dialect)
        [change] = provider_orders.apply(writes, [changed], rows, now=now, bodies=OrderBodies(log))
        await writes.run(other)
        assert change.result is not None
        version = change.result.order.version
    answer = await sent
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "applied"
    async with db.connection() as conn:
        row = await conn.fetchrow(
            "SELECT status, version, seq FROM orders WHERE id = $1", answer.json()["order_id"]
        )
        entries = await conn.fetch(
            "SELECT seq FROM timeline WHERE order_id = $1 ORDER BY seq", answer.json()["order_id"]
        )
    assert row is not None
    assert (row["status"], row["version"]) == ("completed", version + 1)
    assert [entry["seq"] for entry in entries] == list(range(1, row["seq"] + 1))
