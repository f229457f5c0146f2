"""``rampwire master-key``: make a new master key, and re-seal every stored secret with it.

A rotation, with both keys readable throughout (docs/security.md):

1. ``rampwire master-key new``: with ``RAMPWIRE_MASTER_KEY`` set, it prints a key to set there,
   the old one moving to ``RAMPWIRE_MASTER_KEY_PREVIOUS``; with the data directory's key file,
   it writes the new key as the file's first line and keeps the old one after it.
2. Restart every process: they seal with the new key and read with either.
3. ``rampwire master-key rotate``: re-seals in place, in batches, whatever is still under an old
   key; with the key file, it then drops the old keys from it once nothing needs them.
4. With the environment, remove ``RAMPWIRE_MASTER_KEY_PREVIOUS`` and restart.
"""

from __future__ import annotations

import base64

import click

from ..crypto import (
    key_id,
    load_master_keys,
    master_key_path,
    new_master_key,
    parse_master_key,
    secret_box,
    write_key_file,
)
from ..repository.endpoints import EndpointRepository
from ..repository.sealed import reseal, stale
from ..settings import Settings
from ..storage import Database, migrate
from .configured import pass_settings
from .database import run_with_database


@click.group("master-key")
def master_key_group() -> None:
    """The master key that seals secrets at rest: rotate it (on the server: opens the database)."""


def _encoded(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


@master_key_group.command("new")
@pass_settings
def master_key_new(settings: Settings) -> None:
    """Make a new master key: printed, or put first in the data directory's key file."""
    fresh = new_master_key()
    if settings.master_key is not None:
        click.echo(fresh)
        click.echo(
            f"set RAMPWIRE_MASTER_KEY to this key (id {key_id(parse_master_key(fresh))}) and"
            " RAMPWIRE_MASTER_KEY_PREVIOUS to the current one, restart every process, then run"
            " `rampwire master-key rotate`",
            err=True,
        )
        return
    current, previous = load_master_keys(settings)
    path = master_key_path(settings)
    write_key_file(path, [fresh, *(_encoded(k) for k in (current, *previous))])
    click.echo(
        f"{path}: new key {key_id(parse_master_key(fresh))} first, {key_id(current)} kept to"
        " read with; restart every process, then run `rampwire master-key rotate`"
    )


@master_key_group.command("rotate")
@pass_settings
def master_key_rotate(settings: Settings) -> None:
    """Re-seal every stored secret with the current key, in batches (safe to run again)."""
    box = secret_box(settings)

    async def work(db: Database) -> tuple[dict[str, int], dict[str, int]]:
        await migrate(db)
        return await reseal(db, box), await stale(db, box)

    rewritten, left = run_with_database(work, settings)
    for name, count in rewritten.items():
        click.echo(f"{name}\t{count} re-sealed\t{left[name]} left")
    if any(left.values()):
        raise click.ClickException("some values were written meanwhile under an old key; run again")
    click.echo(f"every secret is sealed with master key {box.key_id}")
    current, previous = load_master_keys(settings)
    if settings.master_key is None and previous:
        write_key_file(master_key_path(settings), [_encoded(current)])
        click.echo(f"{master_key_path(settings)}: previous keys removed")
    elif settings.previous_master_keys:
        click.echo("RAMPWIRE_MASTER_KEY_PREVIOUS is no longer needed: remove it and restart")


@master_key_group.command("status")
@pass_settings
def master_key_status(settings: Settings) -> None:
    """How many stored values each column holds under a key other than the current one."""
    box = secret_box(settings)

    async def work(db: Database) -> dict[str, int]:
        return await stale(db, box)

    click.echo(f"current master key {box.key_id}")
    for name, count in run_with_database(work, settings).items():
        click.echo(f"{name}\t{count} under another key")


async def seal_clear_values(db: Database, settings: Settings) -> int:
    """After migrating: seal what earlier versions stored in clear (endpoint header values)."""
    return await EndpointRepository(db, secret_box(settings)).seal_clear_headers()
