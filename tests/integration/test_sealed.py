"""Master key rotation (``repository.sealed`` and ``rampwire master-key``): every stored secret
is re-sealed in place under the new key while both keys read, on both back-ends; afterwards the
new key alone reads everything and the old one nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner
from tests.support.apps import api_client

from rampwire.cli.main import main
from rampwire.crypto import CryptoError, SecretBox, new_master_key, parse_master_key
from rampwire.domain.apikeys import Scope
from rampwire.domain.partners import OPERATOR
from rampwire.repository.authorization import AuthorizationRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.repository.listen_sessions import ListenSessionRepository
from rampwire.repository.sealed import reseal, stale
from rampwire.repository.signing_keys import SigningKeyRepository
from rampwire.repository.sources import SourceRepository
from rampwire.repository.webhook_keys import WebhookKeyRepository
from rampwire.settings import Secret, Settings
from rampwire.ssrf import TargetPolicy
from rampwire.storage import Database, migrate, open_database
from rampwire.types import utcnow

T = TypeVar("T")
HEADER = "hdr-rot-51e0c9a2"
TOKEN = "src-rot-7b3d2f10aa55"
BEARER = "az-rot-0c4e8d1b"


async def plant(settings: Settings, db: Database) -> tuple[str, str]:
    """An endpoint (secret, header), a source, the authorization callback and a signing key,
    all sealed with ``settings``' key; the endpoint and source ids."""
    async with api_client(settings.replace(run_worker=False), db, Scope.ADMIN, name="admin") as api:
        endpoint = await api.post(
            "/v1/endpoints",
            json={"url": "http://127.0.0.1:9/h", "headers": {"X-Api-Key": HEADER}},
        )
        source = await api.post(
            "/v1/sources",
            json={"provider": "transak", "name": "t", "credentials": {"access_token": TOKEN}},
        )
        callback = await api.put(
            "/v1/authorization",
            json={"url": "http://127.0.0.1:9/a", "auth": {"method": "bearer", "token": BEARER}},
        )
        listen = await api.post("/v1/listen-sessions", json={})
        assert listen.status_code == 201, listen.text
        assert (await api.get("/.well-known/jwks.json")).status_code == 200
        assert (await api.get("/.well-known/webhook-public-keys")).status_code == 200
    for response in (endpoint, source, callback):
        assert response.status_code in (200, 201), response.text
    return endpoint.json()["id"], source.json()["id"]


async def read_all(db: Database, box: SecretBox, endpoint_id: str, source_id: str) -> None:
    endpoint = await EndpointRepository(db, box).get(endpoint_id)
    assert endpoint.headers == {"X-Api-Key": HEADER} and endpoint.secrets
    assert (await SourceRepository(db, box).get(source_id)).credentials["access_token"] == TOKEN
    config = await AuthorizationRepository(db, box).get()
    assert config is not None
    await SigningKeyRepository(db, box).current(now=utcnow())
    await WebhookKeyRepository(db, box).current(now=utcnow())
    async with db.connection() as conn:
        session_id = await conn.fetchval("SELECT id FROM listen_sessions")
    session = await ListenSessionRepository(db, box).get(
        session_id, OPERATOR, now=utcnow(), idle=timedelta(days=1)
    )
    assert session.secret is not None and session.secret.reveal().startswith("whsec_")


async def test_rotation_reseals_every_column_in_place(settings: Settings, db: Database) -> None:
    old, new = new_master_key(), new_master_key()
    endpoint_id, source_id = await plant(settings.replace(master_key=Secret(old)), db)
    old_key, new_key = parse_master_key(old), parse_master_key(new)
    both = SecretBox(new_key, previous=[old_key])
    await read_all(db, both, endpoint_id, source_id)  # during the rotation: both keys read
    before = await stale(db, both)
    assert before.pop("signing_keys.private_key") == 2  # the RSA key and the ed25519 one
    assert set(before.values()) == {1}

    rewritten = await reseal(db, both, batch=1)
    assert rewritten == {
        "endpoints.secrets": 1,
        "endpoints.headers": 1,
        "sources.credentials": 1,
        "authorization_config.secret": 1,
        "signing_keys.private_key": 2,  # the RSA key and the ed25519 (v1a) one
        "listen_sessions.secret": 1,
    }
    assert set((await stale(db, both)).values()) == {0}
    assert set((await reseal(db, both)).values()) == {0}  # again: nothing left to do
    await read_all(db, SecretBox(new_key), endpoint_id, source_id)
    with pytest.raises(CryptoError):
        await EndpointRepository(db, SecretBox(old_key)).get(endpoint_id)


def test_the_command_rotates_the_key_file(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'rampwire.db'}",
        data_dir=tmp_path,
        target_policy=TargetPolicy(allow_private=True),
    )

    async def on_database(work: Callable[[Database], Awaitable[T]]) -> T:
        db = open_database(settings.database_url)
        await db.open()
        try:
            await migrate(db)
            return await work(db)
        finally:
            await db.close()

    endpoint_id, source_id = asyncio.run(on_database(lambda db: plant(settings, db)))
    key_file = tmp_path / "master.key"
    old = key_file.read_text().strip()
    env = {"RAMPWIRE_DATA_DIR": str(tmp_path), "RAMPWIRE_DATABASE_URL": settings.database_url}

    made = CliRunner().invoke(main, ["master-key", "new"], env=env)
    assert made.exit_code == 0, made.output
    new, kept = key_file.read_text().split()
    assert kept == old and key_file.stat().st_mode & 0o777 == 0o600
    rotated = CliRunner().invoke(main, ["master-key", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert "sources.credentials\t1 re-sealed\t0 left" in rotated.output
    assert key_file.read_text().split() == [new]
    box = SecretBox(parse_master_key(new))
    asyncio.run(on_database(lambda db: read_all(db, box, endpoint_id, source_id)))
    status = CliRunner().invoke(main, ["master-key", "status"], env=env)
    assert status.exit_code == 0 and "1 under another key" not in status.output
