"""The fan-out's endpoints as each back-end reads them (``repository.outbox.live_endpoints``):
what an endpoint subscribes to is read as it is now, though the rows are made into subscribers
once and kept."""

from __future__ import annotations

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import Endpoint, SigningSecret
from rampwire.dialects import standard
from rampwire.repository.endpoints import EndpointRepository
from rampwire.repository.outbox import live_endpoints
from rampwire.settings import Secret
from rampwire.storage import Database
from rampwire.types import utcnow


async def test_a_changed_endpoint_is_read_as_it_is_now(db: Database) -> None:
    now = utcnow()
    made = await EndpointRepository(db, SecretBox(b"k" * 32)).create(
        Endpoint(
            id=EndpointRepository.new_id(),
            url="https://example.com/hook",
            event_types=("order.created",),
            dialect="standard",
            secrets=(SigningSecret(value=Secret(standard.generate_secret()), created_at=now),),
            created_at=now,
            updated_at=now,
        )
    )
    async with db.transaction() as conn:
        (before,) = await live_endpoints(conn)
        again = await live_endpoints(conn)
    assert before.event_types == ("order.created",) and again == [before]
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE endpoints SET event_types = $2, partners = $3 WHERE id = $1",
            made.id,
            '["order.completed"]',
            '["*"]',
        )
        (after,) = await live_endpoints(conn, ["ptn_a"])
    assert after.id == made.id
    assert after.event_types == ("order.completed",) and after.partners == ["*"]
    async with db.transaction() as conn:
        await conn.execute("UPDATE endpoints SET disabled_at = 1 WHERE id = $1", made.id)
        assert await live_endpoints(conn) == []
