"""``rampwire sources`` and ``rampwire inbound``: the ingest side over the API (operator
keys): the providers rampwire receives webhooks from, and the log of what they sent."""

from __future__ import annotations

from itertools import islice

import click

from .remote import LIMIT_OPTION, Remote, json_object, over_api
from .tables import show_list, show_one

PROVIDERS = ["revolut", "saber", "fireblocks", "koywe", "transak"]
SOURCE_COLUMNS = ["id", "provider", "enabled", "ingest_path", "credentials", "name"]
INBOUND_COLUMNS = [
    "id", "source_id", "outcome", "verification", "provider_event", "order_id", "received_at"
]  # fmt: skip


@click.group("sources")
def sources_group() -> None:
    """Providers whose webhooks rampwire receives at /ingest/<source id>, over the API."""


@sources_group.command("add")
@click.option("--provider", type=click.Choice(PROVIDERS), required=True)
@click.option("--name", required=True)
@click.option(
    "--credentials",
    required=True,
    help='JSON, e.g. \'{"access_token": "..."}\' for transak (see docs/ingest.md).',
)
@click.option("--options", default=None, help="JSON, e.g. '{\"tolerance_seconds\": 300}'.")
@click.option("--partner", default=None, help="The partner whose orders it receives (ptn_...).")
@over_api
def sources_add(
    remote: Remote,
    provider: str,
    name: str,
    credentials: str,
    options: str | None,
    partner: str | None,
) -> None:
    """Add a source; prints it with its inbound path."""
    source = remote.client.sources.create(
        provider=provider,
        name=name,
        credentials=json_object(credentials, "--credentials") or {},
        options=json_object(options, "--options"),
        partner_id=partner,
    )
    show_one(source, as_json=remote.as_json)


@sources_group.command("list")
@click.option("--partner", help="Only this partner's.")
@LIMIT_OPTION
@over_api
def sources_list(remote: Remote, partner: str | None, limit: int) -> None:
    """Sources, newest first (credentials by name only, never their values)."""
    found = remote.client.sources.list(partner=partner, page_size=min(limit, 500))
    show_list(islice(found, limit), SOURCE_COLUMNS, as_json=remote.as_json, empty="no sources")


@sources_group.command("get")
@click.argument("source_id")
@over_api
def sources_get(remote: Remote, source_id: str) -> None:
    """One source, with its counts of accepted, duplicate and rejected requests."""
    show_one(remote.client.sources.get(source_id), as_json=remote.as_json)


@sources_group.command("enable")
@click.argument("source_id")
@over_api
def sources_enable(remote: Remote, source_id: str) -> None:
    """Receive again."""
    show_one(remote.client.sources.update(source_id, enabled=True), as_json=remote.as_json)


@sources_group.command("disable")
@click.argument("source_id")
@over_api
def sources_disable(remote: Remote, source_id: str) -> None:
    """Answer 503 (the provider retries later) until enabled again."""
    show_one(remote.client.sources.update(source_id, enabled=False), as_json=remote.as_json)


@sources_group.command("delete")
@click.argument("source_id")
@over_api
def sources_delete(remote: Remote, source_id: str) -> None:
    """Stop receiving for good; the inbound log and the orders are kept."""
    remote.client.sources.delete(source_id)
    click.echo(f"deleted {source_id}")


@click.group("inbound")
def inbound_group() -> None:
    """The log of received provider webhooks, over the API: list, get, reprocess."""


@inbound_group.command("list")
@click.option("--source", help="Only this source's.")
@click.option("--outcome", help="applied, duplicate, unapplied, ...")
@click.option("--order", "order_id", help="Only those that touched this order.")
@LIMIT_OPTION
@over_api
def inbound_list(
    remote: Remote, source: str | None, outcome: str | None, order_id: str | None, limit: int
) -> None:
    """Received requests, newest first, with what became of each."""
    found = remote.client.inbound.list(
        source=source, outcome=outcome, order_id=order_id, page_size=min(limit, 500)
    )
    show_list(
        islice(found, limit), INBOUND_COLUMNS, as_json=remote.as_json, empty="nothing received"
    )


@inbound_group.command("get")
@click.argument("record_id")
@over_api
def inbound_get(remote: Remote, record_id: str) -> None:
    """One received request: its headers and body as received, and its outcome."""
    show_one(remote.client.inbound.get(record_id), as_json=remote.as_json)


@inbound_group.command("reprocess")
@click.argument("record_id")
@over_api
def inbound_reprocess(remote: Remote, record_id: str) -> None:
    """Verify the logged request again and apply it."""
    show_one(remote.client.inbound.reprocess(record_id), as_json=remote.as_json)


__all__ = ["inbound_group", "sources_group"]
