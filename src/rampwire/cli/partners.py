"""``rampwire partners``: the tenants this rampwire serves, and their keys, over the API
(operator admin keys)."""

from __future__ import annotations

from itertools import islice

import click

from .remote import LIMIT_OPTION, Remote, json_object, over_api
from .tables import show_list, show_one

COLUMNS = ["id", "status", "name", "metadata", "created_at"]


@click.group("partners")
def partners_group() -> None:
    """Partners, over the API: each owns its orders, keys, endpoints, sources and callback."""


@partners_group.command("create")
@click.option("--name", required=True)
@click.option("--metadata", default=None, help='JSON object, e.g. \'{"tier": "gold"}\'.')
@over_api
def partners_create(remote: Remote, name: str, metadata: str | None) -> None:
    """Create a partner."""
    partner = remote.client.partners.create(name=name, metadata=json_object(metadata, "--metadata"))
    show_one(partner, as_json=remote.as_json)


@partners_group.command("list")
@click.option("--status", type=click.Choice(["active", "suspended"]), default=None)
@LIMIT_OPTION
@over_api
def partners_list(remote: Remote, status: str | None, limit: int) -> None:
    """Partners, newest first."""
    found = remote.client.partners.list(status=status, page_size=min(limit, 500))
    show_list(islice(found, limit), COLUMNS, as_json=remote.as_json, empty="no partners")


@partners_group.command("get")
@click.argument("partner_id")
@over_api
def partners_get(remote: Remote, partner_id: str) -> None:
    """One partner."""
    show_one(remote.client.partners.get(partner_id), as_json=remote.as_json)


@partners_group.command("suspend")
@click.argument("partner_id")
@over_api
def partners_suspend(remote: Remote, partner_id: str) -> None:
    """Suspend: its keys are refused (403) and its deliveries wait, kept."""
    show_one(remote.client.partners.update(partner_id, status="suspended"), as_json=remote.as_json)


@partners_group.command("resume")
@click.argument("partner_id")
@over_api
def partners_resume(remote: Remote, partner_id: str) -> None:
    """Resume: its keys work again and the deliveries that waited go out."""
    show_one(remote.client.partners.update(partner_id, status="active"), as_json=remote.as_json)


@partners_group.command("delete")
@click.argument("partner_id")
@over_api
def partners_delete(remote: Remote, partner_id: str) -> None:
    """Delete a partner."""
    remote.client.partners.delete(partner_id)
    click.echo(f"deleted {partner_id}")


@partners_group.command("key")
@click.argument("partner_id")
@click.option("--name", required=True, help="What the key is for.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="write", show_default=True)
@over_api
def partners_key(remote: Remote, partner_id: str, name: str, scope: str) -> None:
    """Give the partner an API key; prints its token (shown once)."""
    key = remote.client.partners.create_key(partner_id, name=name, scope=scope)
    show_one(key, as_json=remote.as_json)


@partners_group.command("portal-link")
@click.argument("partner_id")
@over_api
def partners_portal_link(remote: Remote, partner_id: str) -> None:
    """A one-time URL that opens the partner's portal; give it to the partner."""
    show_one(remote.client.partners.portal_link(partner_id), as_json=remote.as_json)


__all__ = ["partners_group"]
