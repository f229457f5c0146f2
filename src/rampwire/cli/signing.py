"""``rampwire signing-key``: rampwire's own RSA key, which signs Fireblocks-format webhooks."""

from __future__ import annotations

import click
import orjson

from ..crypto import secret_box
from ..dialects import jwks
from ..repository.signing_keys import SigningKeyRepository
from ..settings import Settings
from ..storage import Database, migrate
from ..types import utcnow
from .database import run_with_database


@click.group("signing-key")
def signing_key_group() -> None:
    """rampwire's RSA signing key (published at /.well-known/jwks.json)."""


def _published(settings: Settings, *, rotate: bool) -> str:
    async def work(db: Database) -> str:
        await migrate(db)
        keys = SigningKeyRepository(db, secret_box(settings))
        if rotate:
            await keys.rotate(now=utcnow())
        return orjson.dumps(jwks(await keys.published(now=utcnow()))).decode()

    return run_with_database(work, settings)


@signing_key_group.command("show")
@click.pass_obj
def signing_key_show(settings: Settings) -> None:
    """Print the published JWKS (the current key first); makes the key if there is none."""
    click.echo(_published(settings, rotate=False))


@signing_key_group.command("rotate")
@click.pass_obj
def signing_key_rotate(settings: Settings) -> None:
    """Sign with a new key from now on; the old one stays published for a week."""
    click.echo(_published(settings, rotate=True))
