"""``rampwire orders``: orders over the API."""

from __future__ import annotations

from itertools import islice
from typing import Any

import click

from .remote import LIMIT_OPTION, Remote, json_object, over_api, when
from .tables import show_list, show_one

COLUMNS = ["id", "status", "side", "fiat.currency", "fiat.amount", "version", "updated_at"]


def _money(value: str | None, name: str) -> dict[str, str] | None:
    """``EUR:100.00`` (or ``USDC:ETHEREUM:99.1`` for crypto) into the API's object."""
    if value is None:
        return None
    parts = value.split(":")
    if name == "--fiat" and len(parts) == 2:
        return {"currency": parts[0], "amount": parts[1]}
    if name == "--crypto" and 1 <= len(parts) <= 3:
        return dict(zip(("asset", "network", "amount"), parts, strict=False))
    shape = "CURRENCY:AMOUNT, e.g. EUR:100.00" if name == "--fiat" else "ASSET[:NETWORK[:AMOUNT]]"
    raise click.BadParameter(f"give {shape}", param_hint=name)


@click.group("orders")
def orders_group() -> None:
    """Orders, over the API: list, get, timeline, create, change."""


@orders_group.command("list")
@click.option("--status", help="Only this status (created, completed...).")
@click.option("--provider", help="Only this provider's orders.")
@click.option("--side", type=click.Choice(["buy", "sell"]))
@click.option("--created-from", help="Created at or after (ISO 8601 with a timezone).")
@click.option("--created-to", help="Created before (ISO 8601 with a timezone).")
@click.option("--partner", help="Only this partner's (operator keys).")
@LIMIT_OPTION
@over_api
def orders_list(remote: Remote, /, limit: int, **filters: Any) -> None:
    """Orders, newest first."""
    filters["created_from"] = when(filters["created_from"], "--created-from")
    filters["created_to"] = when(filters["created_to"], "--created-to")
    found = remote.client.orders.list(**filters, page_size=min(limit, 500))
    show_list(islice(found, limit), COLUMNS, as_json=remote.as_json, empty="no orders")


@orders_group.command("get")
@click.argument("order_id")
@over_api
def orders_get(remote: Remote, order_id: str) -> None:
    """One order: the fields that hold a value (--json: all of them)."""
    show_one(remote.client.orders.get(order_id), as_json=remote.as_json)


@orders_group.command("timeline")
@click.argument("order_id")
@over_api
def orders_timeline(remote: Remote, order_id: str) -> None:
    """Every event that touched the order, late and ignored ones included."""
    timeline = remote.client.orders.timeline(order_id)
    columns = ["seq", "kind", "from_status", "to_status", "occurred_at", "event_ids", "note"]
    show_list(timeline.data, columns, as_json=remote.as_json, empty="no entries")


@orders_group.command("create")
@click.option("--side", type=click.Choice(["buy", "sell"]), required=True)
@click.option("--status", help="Its first status (default: created).")
@click.option("--fiat", help="CURRENCY:AMOUNT, e.g. EUR:100.00.")
@click.option("--crypto", help="ASSET[:NETWORK[:AMOUNT]], e.g. USDC:ETHEREUM.")
@click.option("--wallet-address")
@click.option("--partner", "partner_id", help="Whose order (operator keys).")
@click.option("--idempotency-key", help="Make a retry of this command return the same order.")
@click.option("--data", help="JSON object of any further OrderCreate fields.")
@over_api
def orders_create(
    remote: Remote,
    side: str,
    status: str | None,
    fiat: str | None,
    crypto: str | None,
    wallet_address: str | None,
    partner_id: str | None,
    idempotency_key: str | None,
    data: str | None,
) -> None:
    """Create an order (an Idempotency-Key is generated unless given)."""
    order = remote.client.orders.create(
        side=side,
        status=status,
        fiat=_money(fiat, "--fiat"),
        crypto=_money(crypto, "--crypto"),
        wallet_address=wallet_address,
        partner_id=partner_id,
        idempotency_key=idempotency_key,
        **(json_object(data, "--data") or {}),
    )
    show_one(order, as_json=remote.as_json)


@orders_group.command("change")
@click.argument("order_id")
@click.option("--status", help="The new status.")
@click.option(
    "--set", "fields", help='JSON object of fields, e.g. \'{"transaction_hash": "0x9f"}\'.'
)
@click.option("--note", help="A note on the timeline entry.")
@over_api
def orders_change(
    remote: Remote, order_id: str, status: str | None, fields: str | None, note: str | None
) -> None:
    """Move an order forward and/or set fields; prints the order as it now is."""
    if status is None and fields is None:
        raise click.UsageError("give --status, --set or both")
    changed = remote.client.orders.change(
        order_id, status=status, set=json_object(fields, "--set"), note=note
    )
    if remote.as_json:
        show_one(changed, as_json=True)
    else:
        show_one(changed.order, as_json=False)
        if changed.event is not None:
            click.echo(f"event: {changed.event.id} {changed.event.type}")


__all__ = ["orders_group"]
