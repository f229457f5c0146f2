"""The fan-out's endpoints read one row per owner (``repository.outbox.live_endpoints``): for
any set of partners, none, few or many, exactly the live endpoints of the operator and of those
partners, as the rows are now."""

from __future__ import annotations

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import Endpoint, SigningSecret
from rampwire.dialects import standard
from rampwire.domain import serde
from rampwire.repository.endpoints import EndpointRepository
from rampwire.repository.outbox import Subscriber, live_endpoints
from rampwire.settings import Secret
from rampwire.storage import Database
from rampwire.types import utcnow

PARTNERS = 40


async def _endpoint(repo: EndpointRepository, event_types: tuple[str, ...]) -> str:
    now = utcnow()
    made = await repo.create(
        Endpoint(
            id=EndpointRepository.new_id(),
            url="https://example.com/hook",
            event_types=event_types,
            dialect="standard",
            secrets=(SigningSecret(value=Secret(standard.generate_secret()), created_at=now),),
            created_at=now,
            updated_at=now,
        )
    )
    return made.id


Seen = set[tuple[str, tuple[str, ...], str | None, tuple[str, ...]]]


def _seen(found: list[Subscriber]) -> Seen:
    return {(s.id, tuple(s.event_types), s.owner, tuple(s.partners)) for s in found}


async def _expected(db: Database, partners: list[str]) -> Seen:
    """The same endpoints read the plain way, a row each."""
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT id, partner_id FROM endpoints WHERE disabled_at IS NULL AND deleted_at IS NULL"
        )
    wanted = {r["id"] for r in rows if r["partner_id"] is None or r["partner_id"] in partners}
    repo = EndpointRepository(db, SecretBox(b"k" * 32))
    found = await repo.get_many(sorted(wanted))
    expected: Seen = set()
    async with db.connection() as conn:
        for endpoint_id, endpoint in found.items():
            row = await conn.fetchrow(
                "SELECT partner_id, partners FROM endpoints WHERE id = $1", endpoint_id
            )
            assert row is not None
            listed = row["partners"]
            listed = serde.from_json(listed) if isinstance(listed, str) else listed
            owner = row["partner_id"]
            expected.add((endpoint_id, tuple(endpoint.event_types), owner, tuple(listed or ())))
    return expected


async def test_each_partners_endpoints_are_read_few_or_many(db: Database) -> None:
    repo = EndpointRepository(db, SecretBox(b"k" * 32))
    partners = [f"ptn_{n:03d}" for n in range(PARTNERS)]
    await _endpoint(repo, ("order.*",))  # the operator's own orders only
    every = await _endpoint(repo, ("*",))
    some = await _endpoint(repo, ("order.completed",))
    async with db.transaction() as conn:
        await conn.execute("UPDATE endpoints SET partners = '[\"*\"]' WHERE id = $1", every)
        await conn.execute(
            "UPDATE endpoints SET partners = $2 WHERE id = $1", some, '["ptn_001", "ptn_007"]'
        )
    for n, partner in enumerate(partners):
        for k in range(n % 3):  # none, one or two endpoints
            made = await _endpoint(repo, ("order.created", "order.completed")[: k + 1])
            async with db.transaction() as conn:
                await conn.execute(
                    "UPDATE endpoints SET partner_id = $2 WHERE id = $1", made, partner
                )
                if n % 5 == 4:  # a disabled one is not read
                    await conn.execute("UPDATE endpoints SET disabled_at = 1 WHERE id = $1", made)
    for chosen in ([], partners[:1], partners[:8], partners, [*partners[3:], None]):
        async with db.transaction() as conn:
            found = await live_endpoints(conn, chosen)
        assert len(found) == len(_seen(found))  # each endpoint once
        assert _seen(found) == await _expected(db, [p for p in chosen if p is not None])


async def test_an_endpoint_moved_to_another_partner_is_read_as_theirs(db: Database) -> None:
    repo = EndpointRepository(db, SecretBox(b"k" * 32))
    moved = await _endpoint(repo, ("order.*",))
    async with db.transaction() as conn:
        await conn.execute("UPDATE endpoints SET partner_id = 'ptn_a' WHERE id = $1", moved)
        (before,) = await live_endpoints(conn, ["ptn_a", "ptn_b"])
        await conn.execute("UPDATE endpoints SET partner_id = 'ptn_b' WHERE id = $1", moved)
        assert await live_endpoints(conn, ["ptn_a"]) == []
        (after,) = await live_endpoints(conn, ["ptn_a", "ptn_b"])
    assert (before.id, before.owner) == (moved, "ptn_a")
    assert (after.id, after.owner) == (moved, "ptn_b")
