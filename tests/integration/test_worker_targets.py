"""The worker's endpoint cache against a real database: a claim's endpoints read together, an
unchanged endpoint not decoded again, and every change of its settings seen on the next read."""

from __future__ import annotations

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import Endpoint, SigningSecret
from rampwire.delivery.sender import Target
from rampwire.dialects import standard
from rampwire.repository.endpoints import EndpointRepository
from rampwire.services.targets import Targets
from rampwire.settings import Secret
from rampwire.storage import Database
from rampwire.types import utcnow

BOX = SecretBox(b"k" * 32)


async def _endpoint(db: Database, url: str) -> str:
    now = utcnow()
    endpoint = await EndpointRepository(db, BOX).create(
        Endpoint(
            id=EndpointRepository.new_id(),
            url=url,
            event_types=("order.*",),
            dialect="standard",
            secrets=(SigningSecret(value=Secret(standard.generate_secret()), created_at=now),),
            created_at=now,
            updated_at=now,
        )
    )
    return endpoint.id


async def _read(targets: Targets, endpoint_id: str) -> Target:
    targets.forget(endpoint_id)  # as if its entry had expired
    targets.prefetch([endpoint_id])
    found = await targets.get(endpoint_id)
    assert isinstance(found, Target)
    return found


async def test_a_claims_endpoints_are_read_together_and_reused_until_they_change(
    db: Database,
) -> None:
    first = await _endpoint(db, "https://one.example/hook")
    second = await _endpoint(db, "https://two.example/hook")
    targets = Targets(db, BOX)
    try:
        targets.prefetch([first, second, "ep_gone"])
        one, two = await targets.get(first), await targets.get(second)
        assert isinstance(one, Target) and one.url == "https://one.example/hook"
        assert isinstance(two, Target) and two.url == "https://two.example/hook"
        assert await targets.get("ep_gone") is None

        assert await _read(targets, first) is one  # unchanged: what was built is reused

        repository = EndpointRepository(db, BOX)
        await repository.update(first, {"url": "https://new.example/hook"}, now=utcnow())
        changed = await _read(targets, first)
        assert changed.url == "https://new.example/hook"

        await repository.rotate_secret(first, standard.generate_secret(), now=utcnow())
        rotated = await _read(targets, first)
        assert len(rotated.credentials.secrets) == 2  # the old one signs during the overlap
        # a rotated-out secret expires with time: built again on every read until then
        assert await _read(targets, first) is not rotated

        await repository.update(second, {"enabled": False}, now=utcnow())
        targets.forget(second)
        assert await targets.get(second) is None
        await repository.update(second, {"enabled": True}, now=utcnow())
        targets.forget(second)
        assert isinstance(await targets.get(second), Target)

        await repository.delete(second, now=utcnow())
        targets.forget(second)
        assert await targets.get(second) is None
    finally:
        targets.close()
