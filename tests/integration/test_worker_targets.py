"""The worker's endpoint cache against a real database: a claim's endpoints read together, an
unchanged endpoint not read again, and every change of its settings seen by the deliveries
claimed after it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rampwire.crypto import SecretBox
from rampwire.delivery.endpoints import Endpoint, Ordering, SigningSecret, StoredTarget
from rampwire.delivery.sender import Target
from rampwire.dialects import standard
from rampwire.repository.endpoints import EndpointRepository
from rampwire.services import targets as targets_module
from rampwire.services.targets import Targets
from rampwire.settings import Secret
from rampwire.storage import Database
from rampwire.storage.database import to_us
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


class _Counted(EndpointRepository):
    """Counts the reads of endpoints."""

    reads = 0

    async def stored_targets(self, endpoint_ids: Any, *, known: Any) -> dict[str, StoredTarget]:
        self.reads += 1
        return await super().stored_targets(endpoint_ids, known=known)


def _targets(db: Database) -> tuple[Targets, _Counted]:
    targets = Targets(db, BOX)
    counted = targets._endpoints = _Counted(db, BOX)
    return targets, counted


async def _version(db: Database, endpoint_id: str) -> int:
    """The endpoint's version, as a claim reads it."""
    return to_us((await EndpointRepository(db, BOX).get(endpoint_id)).updated_at)


async def _target(targets: Targets, endpoint_id: str, version: int) -> Target:
    found = await targets.get(endpoint_id, version)
    assert isinstance(found, Target)
    return found


async def test_a_claims_endpoints_are_read_together_and_reused_while_unchanged(
    db: Database,
) -> None:
    first = await _endpoint(db, "https://one.example/hook")
    second = await _endpoint(db, "https://two.example/hook")
    targets, counted = _targets(db)
    try:
        v1, v2 = await _version(db, first), await _version(db, second)
        targets.prefetch({first: v1, second: v2, "ep_deleted": None})
        one, two = await _target(targets, first, v1), await _target(targets, second, v2)
        assert one.url == "https://one.example/hook" and two.url == "https://two.example/hook"
        assert await targets.get("ep_deleted", None) is None
        assert counted.reads == 1  # both in one query; the deleted one not read

        for _ in range(3):  # unchanged: what was built is used, nothing read
            assert await _target(targets, first, v1) is one
        targets.prefetch({first: v1, second: v2})
        assert counted.reads == 1

        repository = EndpointRepository(db, BOX)
        await repository.update(first, {"url": "https://new.example/hook"}, now=utcnow())
        assert await _target(targets, first, v1) is one  # claimed before the change
        changed = await _target(targets, first, await _version(db, first))
        assert changed.url == "https://new.example/hook" and counted.reads == 2
    finally:
        targets.close()


async def test_a_change_made_in_this_process_reaches_deliveries_claimed_before_it(
    db: Database,
) -> None:
    endpoint_id = await _endpoint(db, "https://one.example/hook")
    targets, counted = _targets(db)
    try:
        before = await _version(db, endpoint_id)
        await _target(targets, endpoint_id, before)
        await EndpointRepository(db, BOX).update(
            endpoint_id, {"url": "https://new.example/hook"}, now=utcnow()
        )
        targets.forget(endpoint_id)  # as the API's worker is told
        for _ in range(3):  # read once, then good for the version those were claimed with
            assert (await _target(targets, endpoint_id, before)).url == "https://new.example/hook"
        assert counted.reads == 2
        after = await _version(db, endpoint_id)
        assert (await _target(targets, endpoint_id, after)).url == "https://new.example/hook"
        assert counted.reads == 2
    finally:
        targets.close()


async def test_rotated_disabled_and_deleted_endpoints(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint_id = await _endpoint(db, "https://one.example/hook")
    repository = EndpointRepository(db, BOX)
    targets, counted = _targets(db)
    try:
        await repository.rotate_secret(endpoint_id, standard.generate_secret(), now=utcnow())
        version = await _version(db, endpoint_id)
        rotated = await _target(targets, endpoint_id, version)
        assert len(rotated.credentials.secrets) == 2  # the old one signs during the overlap
        # a rotated-out secret expires with time: its settings are built again every
        # ENDPOINT_REBUILD_S (here at once), from the row read again but not decrypted again
        monkeypatch.setattr(targets_module, "ENDPOINT_REBUILD_S", 0.0)
        targets.forget(endpoint_id)
        built = await _target(targets, endpoint_id, version)
        decoded = targets._entries[endpoint_id].stored
        again = await _target(targets, endpoint_id, version)
        assert again is not built and counted.reads == 3
        assert targets._entries[endpoint_id].stored is decoded  # the row had not changed
        monkeypatch.undo()

        await repository.update(endpoint_id, {"enabled": False}, now=utcnow())
        assert await targets.get(endpoint_id, await _version(db, endpoint_id)) is None
        await repository.update(endpoint_id, {"enabled": True}, now=utcnow())
        await _target(targets, endpoint_id, await _version(db, endpoint_id))

        version = await _version(db, endpoint_id)
        await repository.delete(endpoint_id, now=utcnow())
        targets.forget(endpoint_id)
        assert await targets.get(endpoint_id, version) is None  # read: gone
        assert await targets.get(endpoint_id, None) is None  # as a claim says it
    finally:
        targets.close()


async def test_what_is_built_equals_the_keyword_made_target(db: Database) -> None:
    """The send settings are made through Target's slots in its field order (and the cache
    entry through _Entry's): every field lands where the keyword constructor puts it."""
    repository = EndpointRepository(db, BOX)
    endpoint_id = await _endpoint(db, "https://one.example/hook")
    endpoint = await repository.update(
        endpoint_id,
        {"headers": {"X-Api-Key": "k"}, "rate_limit": 9, "max_in_flight": 4, "traceparent": True},
        now=utcnow(),
    )
    targets = Targets(db, BOX)
    try:
        built = await _target(targets, endpoint_id, await _version(db, endpoint_id))
        dialect = standard.DIALECT
        assert built == Target(
            endpoint_id=endpoint_id,
            url="https://one.example/hook",
            dialect=dialect,
            credentials=standard.StandardCredentials(
                secrets=tuple(s.value for s in endpoint.secrets)
            ),
            headers={"X-Api-Key": "k"},
            policy=dialect.policy,
            max_in_flight=4,
            rate_limit=9,
            traceparent=True,
        )
        entry = targets._entries[endpoint_id]
        assert entry.stored == _stored(endpoint) and entry.found is built
        assert entry.versions[0] == to_us(endpoint.updated_at)
    finally:
        targets.close()


def _stored(endpoint: Endpoint) -> StoredTarget:
    """What a worker should read of ``endpoint``'s row."""
    return StoredTarget(
        id=endpoint.id,
        version=to_us(endpoint.updated_at),
        url=endpoint.url,
        dialect=endpoint.dialect,
        secrets=tuple(
            (s.value, to_us(s.created_at), None if s.expires_at is None else to_us(s.expires_at))
            for s in endpoint.secrets
        ),
        headers=dict(endpoint.headers),
        rate_limit=endpoint.rate_limit,
        max_in_flight=endpoint.max_in_flight,
        retry_policy=endpoint.retry_policy,
        enabled=endpoint.enabled,
        signatures=endpoint.signatures,
        traceparent=endpoint.traceparent,
    )


async def test_a_worker_reads_what_the_row_holds(db: Database) -> None:
    """The worker's read of a row (its columns, in StoredTarget's order) agrees with the
    whole endpoint's, for an endpoint with every setting changed and one with the defaults; a
    known one whose version is unchanged is answered as it is."""
    repository = EndpointRepository(db, BOX)
    now = utcnow()
    secret = SigningSecret(value=Secret(standard.generate_secret()), created_at=now)
    every = await repository.create(
        Endpoint(
            id=EndpointRepository.new_id(),
            url="https://every.example/hook",
            event_types=("order.completed",),
            dialect="standard",
            secrets=(secret,),
            created_at=now - timedelta(days=1),
            updated_at=now,
            description="every field",
            headers={"X-Api-Key": "k"},
            rate_limit=5,
            max_in_flight=7,
            ordering=Ordering.PER_ORDER_FIFO,
            retry_policy={"retry_delays": [1, 2], "jitter": 0.0},
            disabled_at=now - timedelta(hours=1),
            disabled_reason="paused",
            partners=("pt_x",),
            signatures=("v1", "v1a"),
            traceparent=True,
        )
    )
    every = await repository.rotate_secret(every.id, standard.generate_secret(), now=now)
    plain = await repository.get(await _endpoint(db, "https://plain.example/hook"))
    assert len(every.secrets) == 2 and every.secrets[0].expires_at is not None

    read = await repository.stored_targets([every.id, plain.id, "ep_missing"], known={})
    assert read == {every.id: _stored(every), plain.id: _stored(plain)}
    assert not read[every.id].enabled and read[plain.id].enabled

    again = await repository.stored_targets([every.id, plain.id], known=read)
    assert again[every.id] is read[every.id] and again[plain.id] is read[plain.id]
    stale = {plain.id: read[plain.id]._replace(version=read[plain.id].version - 1)}
    assert (await repository.stored_targets([plain.id], known=stale))[plain.id] == read[plain.id]
