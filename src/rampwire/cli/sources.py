"""``rampwire sources``: manage the providers rampwire receives webhooks from."""

from __future__ import annotations

from typing import Any

import click
import orjson

from ..crypto import secret_box
from ..domain.orders import Provider
from ..ingest.sources import IngestSource, SourceError, check_credentials
from ..repository.partners import PartnerRepository
from ..repository.sources import SourceRepository
from ..settings import Settings
from ..storage import Database, migrate
from ..types import utcnow
from .database import run_with_database


def _json_option(value: str | None, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=name) from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint=name)
    return parsed


def _shown(source: IngestSource) -> str:
    state = "enabled" if source.enabled else "disabled"
    keys = ",".join(sorted(source.credentials))
    return (
        f"{source.id}\t{source.provider.value}\t{state}\t/ingest/{source.id}\t"
        f"credentials: {keys}\t{source.name}"
    )


@click.group("sources")
def sources_group() -> None:
    """Providers whose webhooks rampwire receives at /ingest/<source id>."""


@sources_group.command("add")
@click.option("--provider", type=click.Choice([p.value for p in Provider]), required=True)
@click.option("--name", required=True)
@click.option(
    "--credentials",
    required=True,
    help='JSON, e.g. \'{"access_token": "..."}\' for transak (see docs/ingest.md).',
)
@click.option("--options", default=None, help="JSON, e.g. '{\"tolerance_seconds\": 300}'.")
@click.option("--partner", default=None, help="The partner whose orders it receives (ptn_...).")
@click.pass_obj
def sources_add(
    settings: Settings,
    provider: str,
    name: str,
    credentials: str,
    options: str | None,
    partner: str | None,
) -> None:
    """Add a source; prints its id and inbound path."""
    chosen = Provider(provider)
    try:
        creds, opts = check_credentials(
            chosen, _json_option(credentials, "--credentials"), _json_option(options, "--options")
        )
    except SourceError as exc:
        raise click.BadParameter(exc.reason, param_hint=exc.field) from exc

    async def work(db: Database) -> IngestSource:
        await migrate(db)
        if partner is not None:
            await PartnerRepository(db).get(partner)  # it must exist
        now = utcnow()
        source = IngestSource(
            id=SourceRepository.new_id(),
            provider=chosen,
            name=name,
            credentials=creds,
            options=opts,
            created_at=now,
            updated_at=now,
            partner_id=partner,
        )
        return await SourceRepository(db, secret_box(settings)).create(source)

    click.echo(_shown(run_with_database(work, settings)))


@sources_group.command("list")
@click.pass_obj
def sources_list(settings: Settings) -> None:
    """Every source, newest first (credentials are never shown)."""

    async def work(db: Database) -> list[IngestSource]:
        await migrate(db)
        return await SourceRepository(db, secret_box(settings)).all(limit=10_000)

    for source in run_with_database(work, settings):
        click.echo(_shown(source))


def _toggle(settings: Settings, source_id: str, enabled: bool) -> None:
    async def work(db: Database) -> IngestSource:
        await migrate(db)
        return await SourceRepository(db, secret_box(settings)).update(
            source_id, now=utcnow(), enabled=enabled
        )

    click.echo(_shown(run_with_database(work, settings)))


@sources_group.command("enable")
@click.argument("source_id")
@click.pass_obj
def sources_enable(settings: Settings, source_id: str) -> None:
    """Receive again."""
    _toggle(settings, source_id, True)


@sources_group.command("disable")
@click.argument("source_id")
@click.pass_obj
def sources_disable(settings: Settings, source_id: str) -> None:
    """Answer 503 (the provider retries later) until enabled again."""
    _toggle(settings, source_id, False)


@sources_group.command("delete")
@click.argument("source_id")
@click.pass_obj
def sources_delete(settings: Settings, source_id: str) -> None:
    """Stop receiving for good; the inbound log and the orders are kept."""

    async def work(db: Database) -> None:
        await migrate(db)
        await SourceRepository(db, secret_box(settings)).delete(source_id, now=utcnow())

    run_with_database(work, settings)
    click.echo(f"deleted {source_id}")


__all__ = ["sources_group"]
