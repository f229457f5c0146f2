"""rampwire.client against a real ``rampwire serve`` on SQLite and on PostgreSQL: every
resource's happy path, pages across cursors, a 429 retried, problems raised with their fields."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from tests.support.ingest_kit import KITS, webhook
from tests.support.served import served

from rampwire.client import AsyncClient, Client, ProblemError, Retries
from rampwire.dialects.base import DialectName
from rampwire.dialects.samples import sample_order
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.types import utcnow

EUR = {"currency": "EUR", "amount": "100.00"}


async def test_every_resource_answers_through_the_async_client(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        served(tmp_path, database_url) as server,
        AsyncClient(server.url, server.admin_key) as api,
    ):
        assert (await api.service.health())["status"] == "ok"
        assert (await api.service.ready())["status"] == "ready"
        assert "keys" in await api.service.jwks()
        assert "keys" in await api.service.webhook_public_keys()
        assert any(t.type == "order.completed" for t in await api.event_types.list())

        partner = await api.partners.create(name="Acme", metadata={"tier": "gold"})
        assert (await api.partners.get(partner.id)).metadata == {"tier": "gold"}
        assert [p.id async for p in api.partners.list()] == [partner.id]
        renamed = await api.partners.update(partner.id, name="Acme Wallet")
        assert renamed.name == "Acme Wallet"
        key = await api.partners.create_key(partner.id, name="backend", scope="write")
        assert key.token and key.partner_id == partner.id

        endpoint = await api.endpoints.create("http://127.0.0.1:9/hooks", event_types=["order.*"])
        assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
        assert (await api.endpoints.get(endpoint.id)).url == "http://127.0.0.1:9/hooks"
        assert [e.id async for e in api.endpoints.list()] == [endpoint.id]
        updated = await api.endpoints.update(endpoint.id, description="test", rate_limit=None)
        assert updated.description == "test"
        assert [s.secret for s in await api.endpoints.secrets(endpoint.id)] == [endpoint.secret]
        rotated = await api.endpoints.rotate_secret(endpoint.id)
        assert len(rotated) == 2 and endpoint.secret in [s.secret for s in rotated]
        assert await api.endpoints.headers(endpoint.id) == {}

        order = await api.orders.create(
            side="buy", fiat=EUR, references={"user_email": "ana@example.com"}
        )
        assert order.fiat is not None and str(order.fiat.amount) == "100.00"
        assert (await api.orders.get(order.id)).id == order.id
        assert [o.id async for o in api.orders.list(status="created")] == [order.id]
        changed = await api.orders.change(order.id, status="payment_received")
        assert changed.order.status == "payment_received" and changed.event is not None
        timeline = await api.orders.timeline(order.id)
        assert [e.to_status for e in timeline.data][-1] == "payment_received"

        deliveries = [d async for d in api.endpoints.deliveries(endpoint.id)]
        assert {d.event_type for d in deliveries} == {"order.created", "order.payment_received"}
        pending = [p async for p in api.endpoints.pending_events(endpoint.id)]
        assert {p.event.type for p in pending} == {"order.created", "order.payment_received"}
        first = await api.deliveries.get(deliveries[0].id)
        assert first.attempt_log is not None
        replayed = await api.deliveries.replay(first.id)
        assert replayed.event_id == first.event_id and replayed.id != first.id
        try:  # the worker may be sending it this moment (to a closed port): then 409
            assert (await api.deliveries.retry(replayed.id)).id == replayed.id
        except ProblemError as busy:
            assert busy.status == 409 and replayed.id in busy.detail
        of_event = await api.events.deliveries(first.event_id)
        assert {d.id for d in of_event} >= {first.id, replayed.id}
        resent = await api.events.resend(first.event_id)
        assert [d.event_id for d in resent] == [first.event_id]
        since = utcnow() - timedelta(hours=1)
        assert (await api.endpoints.replay(endpoint.id, since=since)).replayed >= 0

        await api.authorization.set(
            url="http://127.0.0.1:9/authorize", auth={"method": "bearer", "token": "t0ken"}
        )
        assert (await api.authorization.get()).url == "http://127.0.0.1:9/authorize"
        await api.authorization.set(
            url="http://127.0.0.1:9/acme",
            auth={"method": "bearer", "token": "t"},
            partner=partner.id,
        )
        assert (await api.authorization.get(partner=partner.id)).url == "http://127.0.0.1:9/acme"
        await api.authorization.delete(partner=partner.id)
        await api.authorization.delete()
        assert isinstance(await api.authorization.decisions(), list)

        kit = KITS[Provider.REVOLUT]
        source = await api.sources.create(
            provider="revolut", name="Revolut", credentials=kit.source_credentials
        )
        assert (await api.sources.get(source.id)).credentials == ["secrets"]
        assert [s.id async for s in api.sources.list()] == [source.id]
        assert (await api.sources.update(source.id, name="Revolut prod")).name == "Revolut prod"
        now = utcnow()
        sample = sample_order(DialectName.REVOLUT, OrderStatus.CREATED, Side.BUY, now=now)
        request = webhook(Provider.REVOLUT, sample, OrderStatus.PROCESSING, now=now)
        answer = await api.ingest.send(source.id, request.body, headers=dict(request.headers))
        assert answer.received and not answer.duplicate and answer.id is not None
        [record] = [r async for r in api.inbound.list(source=source.id)]
        assert record.id == answer.id and record.outcome == "applied"
        assert (await api.inbound.get(record.id)).body is not None
        assert (await api.inbound.reprocess(record.id)).id == record.id
        await api.sources.delete(source.id)

        await api.endpoints.delete(endpoint.id)
        with pytest.raises(ProblemError) as gone:
            await api.endpoints.get(endpoint.id)
        assert gone.value.status == 404
        await api.partners.delete(partner.id)


async def test_pages_problems_and_the_sync_client(tmp_path: Path, database_url: str) -> None:
    async with served(tmp_path, database_url) as server:
        # the sync client runs its own event loop: from a thread here, as from a plain script
        await asyncio.to_thread(_pages_and_problems, server.url, server.admin_key)


def _pages_and_problems(url: str, admin_key: str) -> None:
    with Client(url, admin_key) as api:
        made = [api.orders.create(side="sell").id for _ in range(5)]
        listed = [order.id for order in api.orders.list(page_size=2)]
        assert listed == made[::-1]  # newest first, over three pages

        api.orders.change(made[0], status="completed")
        with pytest.raises(ProblemError) as backwards:
            api.orders.change(made[0], status="processing")
        problem = backwards.value
        assert (problem.status, problem.code) == (409, "illegal_transition")
        assert problem.title == "Conflict" and "completed" in problem.detail

        with pytest.raises(ProblemError) as invalid:
            api.orders.create(side="sideways")
        assert invalid.value.status == 422 and invalid.value.code == "validation_error"
        assert [e["field"] for e in invalid.value.errors] == ["side"]

    with Client(url, "rw_not_a_key") as stranger, pytest.raises(ProblemError) as who:
        stranger.orders.get(made[0])
    assert who.value.status == 401


async def test_a_429_is_waited_out_and_retried(tmp_path: Path, sqlite_url: str) -> None:
    limits = {"RAMPWIRE_PARTNER_RATE_LIMIT": "1", "RAMPWIRE_RATE_BURST": "1"}
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    async with served(tmp_path, sqlite_url, **limits) as server:
        async with AsyncClient(server.url, server.admin_key, sleep=sleep) as api:
            made = [await api.orders.create(side="sell") for _ in range(3)]
        assert len({o.id for o in made}) == 3
        assert waits and all(w >= 1 for w in waits)  # the server's Retry-After, whole seconds

        once = Retries(attempts=1)
        async with AsyncClient(server.url, server.admin_key, retries=once) as impatient:
            with pytest.raises(ProblemError) as refused:
                for _ in range(3):
                    await impatient.orders.get(made[0].id)
        assert refused.value.status == 429 and refused.value.extensions["retry_after"] >= 1
