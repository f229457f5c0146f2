"""``rampwire signing-key``: rampwire's own keys. The RSA key signs Fireblocks-format webhooks
(``/.well-known/jwks.json``); with ``--ed25519``, the key that signs Standard Webhooks ``v1a``
(``/.well-known/webhook-public-keys``)."""

from __future__ import annotations

import click
import orjson

from ..crypto import secret_box
from ..dialects import jwks
from ..dialects.ed25519 import public_keys
from ..repository.signing_keys import SigningKeyRepository
from ..repository.webhook_keys import WebhookKeyRepository
from ..settings import Settings
from ..storage import Database, migrate
from ..types import utcnow
from .configured import pass_settings
from .database import run_with_database


@click.group("signing-key")
def signing_key_group() -> None:
    """rampwire's signing keys: RSA (/.well-known/jwks.json) and, with --ed25519, the v1a key
    (/.well-known/webhook-public-keys). On the server: opens the database."""


def _published(settings: Settings, *, rotate: bool, ed25519: bool = False) -> str:
    async def work(db: Database) -> str:
        await migrate(db)
        if ed25519:
            webhook_keys = WebhookKeyRepository(db, secret_box(settings))
            if rotate:
                await webhook_keys.rotate(now=utcnow())
            return orjson.dumps(public_keys(await webhook_keys.published(now=utcnow()))).decode()
        keys = SigningKeyRepository(db, secret_box(settings))
        if rotate:
            await keys.rotate(now=utcnow())
        return orjson.dumps(jwks(await keys.published(now=utcnow()))).decode()

    return run_with_database(work, settings)


ED25519 = click.option(
    "--ed25519", is_flag=True, help="the ed25519 key of v1a signatures instead of the RSA key"
)


@signing_key_group.command("show")
@ED25519
@pass_settings
def signing_key_show(settings: Settings, ed25519: bool) -> None:
    """Print the published keys (the current key first); makes the key if there is none."""
    click.echo(_published(settings, rotate=False, ed25519=ed25519))


@signing_key_group.command("rotate")
@ED25519
@pass_settings
def signing_key_rotate(settings: Settings, ed25519: bool) -> None:
    """Sign with a new key from now on; the old one stays published for a week."""
    click.echo(_published(settings, rotate=True, ed25519=ed25519))
