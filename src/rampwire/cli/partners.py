"""``rampwire partners``: the tenants this rampwire serves, and their keys."""

from __future__ import annotations

import click
import orjson

from ..domain.apikeys import ApiKey, Scope
from ..domain.partners import Partner, PartnerStatus
from ..repository import KeyRepository
from ..repository.partners import PartnerRepository
from ..settings import Settings
from ..storage import Database, migrate
from ..types import utcnow
from .database import run_with_database


def _shown(partner: Partner) -> str:
    metadata = orjson.dumps(dict(partner.metadata)).decode()
    return f"{partner.id}\t{partner.status.value}\t{partner.name}\t{metadata}"


@click.group("partners")
def partners_group() -> None:
    """Partners: each owns its orders, keys, endpoints, sources and authorization callback."""


@partners_group.command("create")
@click.option("--name", required=True)
@click.option("--metadata", default=None, help='JSON object, e.g. \'{"tier": "gold"}\'.')
@click.pass_obj
def partners_create(settings: Settings, name: str, metadata: str | None) -> None:
    """Create a partner; prints its id."""
    try:
        parsed = {} if metadata is None else orjson.loads(metadata)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--metadata")

    async def work(db: Database) -> Partner:
        await migrate(db)
        return await PartnerRepository(db).create(name=name, metadata=parsed, now=utcnow())

    click.echo(_shown(run_with_database(work, settings)))


@partners_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in PartnerStatus]), default=None)
@click.pass_obj
def partners_list(settings: Settings, status: str | None) -> None:
    """List partners, newest first."""

    async def work(db: Database) -> list[Partner]:
        chosen = None if status is None else PartnerStatus(status)
        return await PartnerRepository(db).find(status=chosen, limit=10_000)

    for partner in run_with_database(work, settings):
        click.echo(_shown(partner))


def _set_status(settings: Settings, partner_id: str, status: PartnerStatus) -> Partner:
    async def work(db: Database) -> Partner:
        return await PartnerRepository(db).update(partner_id, now=utcnow(), status=status)

    return run_with_database(work, settings)


@partners_group.command("suspend")
@click.argument("partner_id")
@click.pass_obj
def partners_suspend(settings: Settings, partner_id: str) -> None:
    """Suspend: its keys are refused (403) and its deliveries wait, kept."""
    click.echo(_shown(_set_status(settings, partner_id, PartnerStatus.SUSPENDED)))


@partners_group.command("resume")
@click.argument("partner_id")
@click.pass_obj
def partners_resume(settings: Settings, partner_id: str) -> None:
    """Resume: its keys work again and the deliveries that waited go out."""
    click.echo(_shown(_set_status(settings, partner_id, PartnerStatus.ACTIVE)))


@partners_group.command("key")
@click.argument("partner_id")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--scope",
    type=click.Choice([Scope.READ.value, Scope.WRITE.value]),
    default=Scope.WRITE.value,
    show_default=True,
)
@click.pass_obj
def partners_key(settings: Settings, partner_id: str, name: str, scope: str) -> None:
    """Give the partner an API key; prints its token (shown once)."""

    async def work(db: Database) -> tuple[ApiKey, str]:
        partner = await PartnerRepository(db).get(partner_id)
        return await KeyRepository(db).create(name, Scope(scope), partner_id=partner.id)

    key, token = run_with_database(work, settings)
    click.echo(f"{key.id}\t{key.partner_id}\t{key.scope.value}\t{token}")
