"""``rampwire endpoints``, ``deliveries`` and ``events``: the emit side over the API."""

from __future__ import annotations

import sys
from itertools import islice
from typing import Any

import click
import orjson

from .remote import LIMIT_OPTION, Remote, json_object, over_api, when
from .tables import cell, show_list, show_one, table

ENDPOINT_COLUMNS = ["id", "url", "enabled", "event_types", "dialect", "partner_id"]
DELIVERY_COLUMNS = [
    "id", "event_type", "status", "attempts", "last_status_code", "order_id", "created_at"
]  # fmt: skip


@click.group("endpoints")
def endpoints_group() -> None:
    """Webhook subscribers, over the API."""


@endpoints_group.command("list")
@click.option("--partner", help="Only this partner's (operator keys).")
@LIMIT_OPTION
@over_api
def endpoints_list(remote: Remote, partner: str | None, limit: int) -> None:
    """Endpoints, newest first."""
    found = remote.client.endpoints.list(partner=partner, page_size=min(limit, 500))
    show_list(islice(found, limit), ENDPOINT_COLUMNS, as_json=remote.as_json, empty="no endpoints")


@endpoints_group.command("get")
@click.argument("endpoint_id")
@over_api
def endpoints_get(remote: Remote, endpoint_id: str) -> None:
    """One endpoint: the fields that hold a value (--json: all of them)."""
    show_one(remote.client.endpoints.get(endpoint_id), as_json=remote.as_json)


@endpoints_group.command("create")
@click.argument("url")
@click.option("--event-type", "event_types", multiple=True, help="A pattern, e.g. 'order.*'.")
@click.option("--description")
@click.option("--dialect", help="standard (default) or a provider's wire format.")
@click.option("--partner", "partner_id", help="Whose endpoint (operator keys).")
@click.option("--data", help="JSON object of any further EndpointIn fields.")
@over_api
def endpoints_create(
    remote: Remote,
    url: str,
    event_types: tuple[str, ...],
    description: str | None,
    dialect: str | None,
    partner_id: str | None,
    data: str | None,
) -> None:
    """Subscribe URL; prints the endpoint with its signing secret (shown this once)."""
    endpoint = remote.client.endpoints.create(
        url,
        event_types=list(event_types) or None,
        description=description,
        dialect=dialect,
        partner_id=partner_id,
        **(json_object(data, "--data") or {}),
    )
    show_one(endpoint, as_json=remote.as_json)


@endpoints_group.command("update")
@click.argument("endpoint_id")
@click.option("--endpoint-url", "url", help="Where to deliver from now on.")
@click.option("--event-type", "event_types", multiple=True, help="Replaces the patterns.")
@click.option("--description")
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--data", help="JSON object of any further EndpointPatch fields.")
@over_api
def endpoints_update(
    remote: Remote,
    endpoint_id: str,
    url: str | None,
    event_types: tuple[str, ...],
    description: str | None,
    enabled: bool | None,
    data: str | None,
) -> None:
    """Change what is given."""
    given: dict[str, Any] = {
        k: v
        for k, v in {
            "url": url,
            "event_types": list(event_types) or None,
            "description": description,
            "enabled": enabled,
        }.items()
        if v is not None
    }
    given.update(json_object(data, "--data") or {})
    if not given:
        raise click.UsageError("nothing to change: give --endpoint-url, --event-type, --enable...")
    show_one(remote.client.endpoints.update(endpoint_id, **given), as_json=remote.as_json)


@endpoints_group.command("delete")
@click.argument("endpoint_id")
@over_api
def endpoints_delete(remote: Remote, endpoint_id: str) -> None:
    """Delete the endpoint: no more deliveries to it."""
    remote.client.endpoints.delete(endpoint_id)
    click.echo(f"deleted {endpoint_id}")


@endpoints_group.command("rotate-secret")
@click.argument("endpoint_id")
@click.option("--secret", help="Your own whsec_... (default: a new random one).")
@over_api
def endpoints_rotate(remote: Remote, endpoint_id: str, secret: str | None) -> None:
    """A new signing secret; the old one keeps signing for 24 h."""
    secrets = remote.client.endpoints.rotate_secret(endpoint_id, secret=secret)
    columns = ["secret", "created_at", "expires_at"]
    show_list(secrets, columns, as_json=remote.as_json, empty="no secrets")


@endpoints_group.command("test")
@click.argument("endpoint_id")
@click.option("--event-type", help="Any type of `rampwire events types` [order.completed].")
@over_api
def endpoints_test(remote: Remote, endpoint_id: str, event_type: str | None) -> None:
    """Send an example event to this endpoint only, in its format: prints the delivery."""
    delivery = remote.client.endpoints.send_test_event(endpoint_id, event_type=event_type)
    show_one(delivery, as_json=remote.as_json)


@endpoints_group.command("pending-events")
@click.argument("endpoint_id")
@LIMIT_OPTION
@over_api
def endpoints_pending(remote: Remote, endpoint_id: str, limit: int) -> None:
    """The events this endpoint has not received yet, oldest first (the pull API)."""
    _pending(remote, endpoint_id, limit)


def _pending(remote: Remote, endpoint_id: str, limit: int) -> None:
    found = remote.client.endpoints.pending_events(endpoint_id, page_size=min(limit, 500))
    columns = ["delivery_id", "event.id", "event.type", "event.created_at"]
    show_list(islice(found, limit), columns, as_json=remote.as_json, empty="nothing pending")


@click.group("deliveries")
def deliveries_group() -> None:
    """Webhook deliveries and their attempts, over the API; replay and recover."""


@deliveries_group.command("list")
@click.option("--endpoint", "endpoint_id", required=True, help="The endpoint's deliveries.")
@click.option("--status", multiple=True, help="Only these statuses (dead, retrying...).")
@LIMIT_OPTION
@over_api
def deliveries_list(remote: Remote, endpoint_id: str, status: tuple[str, ...], limit: int) -> None:
    """An endpoint's deliveries, newest first."""
    found = remote.client.endpoints.deliveries(
        endpoint_id, status=list(status) or None, page_size=min(limit, 500)
    )
    show_list(islice(found, limit), DELIVERY_COLUMNS, as_json=remote.as_json, empty="no deliveries")


@deliveries_group.command("get")
@click.argument("delivery_id")
@over_api
def deliveries_get(remote: Remote, delivery_id: str) -> None:
    """One delivery and every attempt (status, duration, error)."""
    delivery = remote.client.deliveries.get(delivery_id)
    if remote.as_json:
        show_one(delivery, as_json=True)
        return
    show_one(delivery.model_copy(update={"attempt_log": None}), as_json=False)
    attempts = [
        {
            "attempt": a.get("attempt"),
            "started_at": a.get("started_at"),
            "status": (a.get("response") or {}).get("status"),
            "duration_ms": a.get("duration_ms"),
            "error": a.get("error"),
        }
        for a in delivery.attempt_log or []
    ]
    if attempts:
        click.echo("")
        click.echo(table([[cell(v) for v in a.values()] for a in attempts], list(attempts[0])))


@deliveries_group.command("replay")
@click.argument("delivery_id")
@over_api
def deliveries_replay(remote: Remote, delivery_id: str) -> None:
    """Send the same event to the same endpoint again, as a new delivery."""
    show_one(remote.client.deliveries.replay(delivery_id), as_json=remote.as_json)


@deliveries_group.command("retry")
@click.argument("delivery_id")
@over_api
def deliveries_retry(remote: Remote, delivery_id: str) -> None:
    """Make a waiting delivery due now, its attempts kept."""
    show_one(remote.client.deliveries.retry(delivery_id), as_json=remote.as_json)


@deliveries_group.command("recover")
@click.option("--since", required=True, help="ISO 8601 with a timezone, e.g. 2026-01-15T10:30:00Z.")
@click.option("--endpoint", "endpoint_ids", multiple=True, help="Only these (default: every one).")
@over_api
def deliveries_recover(remote: Remote, since: str, endpoint_ids: tuple[str, ...]) -> None:
    """Recover after an outage: for each endpoint, retry now what still retries and send
    again what died since --since (a progress bar over the endpoints)."""
    moment = when(since, "--since")
    if moment is None:  # --since is required: click said so already
        raise click.UsageError("give --since")
    chosen = list(endpoint_ids) or [e.id for e in remote.client.endpoints.list()]
    results = []
    bar = click.progressbar(chosen, label="recovering", show_pos=True, file=sys.stderr)
    with bar as endpoints:
        for endpoint_id in endpoints:
            done = remote.client.endpoints.replay(endpoint_id, since=moment)
            results.append({"endpoint_id": endpoint_id, **done.model_dump()})
    if remote.as_json:
        click.echo(orjson.dumps(results, option=orjson.OPT_INDENT_2))
        return
    rows = [[str(r[k]) for k in ("endpoint_id", "sent_again", "retried_now")] for r in results]
    click.echo(table(rows, ["endpoint_id", "sent_again", "retried_now"]))
    total = sum(int(r["replayed"]) for r in results)
    click.echo(f"{total} deliveries replayed on {len(results)} endpoints")


@click.group("events")
def events_group() -> None:
    """Events, over the API: where one went, send it again, what an endpoint has not received."""


@events_group.command("list")
@click.option("--endpoint", "endpoint_id", required=True, help="Events this endpoint lacks.")
@LIMIT_OPTION
@over_api
def events_list(remote: Remote, endpoint_id: str, limit: int) -> None:
    """The events an endpoint has not received yet (the pull API), oldest first; the API
    lists events per endpoint only."""
    _pending(remote, endpoint_id, limit)


@events_group.command("get")
@click.argument("event_id")
@over_api
def events_get(remote: Remote, event_id: str) -> None:
    """Every delivery of one event: one per endpoint it went to, plus replays."""
    found = remote.client.events.deliveries(event_id)
    columns = ["id", "endpoint_id", "status", "attempts", "last_status_code", "created_at"]
    show_list(found, columns, as_json=remote.as_json, empty=f"no deliveries of {event_id}")


@events_group.command("resend")
@click.argument("event_id")
@over_api
def events_resend(remote: Remote, event_id: str) -> None:
    """Send the event again to every endpoint it went to."""
    sent = remote.client.events.resend(event_id)
    show_list(sent, DELIVERY_COLUMNS, as_json=remote.as_json, empty=f"{event_id} went nowhere")


@events_group.command("types")
@over_api
def events_types(remote: Remote) -> None:
    """The event catalogue."""
    found = remote.client.event_types.list()
    show_list(found, ["type", "description"], as_json=remote.as_json, empty="no event types")


__all__ = ["deliveries_group", "endpoints_group", "events_group"]
