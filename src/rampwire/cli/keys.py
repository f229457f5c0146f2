"""API keys and the operator's authorization callback, on the server (they open the
database)."""

from __future__ import annotations

from typing import Any

import click
import orjson

from ..crypto import secret_box
from ..domain.apikeys import Scope
from ..repository import KeyRepository
from ..settings import Settings
from ..storage import Database, migrate
from ..types import utcnow
from .configured import pass_settings
from .database import run_with_database


@click.group("authorization")
def authorization_group() -> None:
    """The operator's default authorization callback (on the server: opens the database; over
    the API: PUT /v1/authorization)."""


@authorization_group.command("set")
@click.option("--url", required=True, help="The partner's authorization URL.")
@click.option("--bearer", "bearer", help="Send `Authorization: Bearer <token>`.")
@click.option("--basic", "basic", help="Send Basic auth: USER:PASSWORD.")
@click.option("--header", "header", help="Send a custom header: NAME:VALUE.")
@click.option("--hmac", "hmac_secret", help="Sign timestamp + body with HMAC-SHA256.")
@click.option(
    "--operations",
    default="buy,sell,read",
    show_default=True,
    help="Comma-separated operations to check.",
)
@click.option("--timeout", "timeout_seconds", type=float, default=3.0, show_default=True)
@click.option("--fail-open", is_flag=True, help="Allow on timeouts, errors and 5xx.")
@click.option("--cache-ttl", "cache_ttl_seconds", type=float, default=30.0, show_default=True)
@pass_settings
def authorization_set(settings: Settings, /, **options: Any) -> None:
    """Set the callback (replacing any earlier one)."""
    from ..api.authorization import AuthIn, AuthorizationIn, config_from_request
    from ..api.endpoints import check_target_url
    from ..repository.authorization import AuthorizationRepository

    methods = {k: options.pop(k) for k in ("bearer", "basic", "header", "hmac_secret")}
    chosen = {k: v for k, v in methods.items() if v is not None}
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --bearer, --basic, --header, --hmac")
    ((kind, value),) = chosen.items()
    if kind in ("basic", "header") and ":" not in value:
        raise click.UsageError(f"--{kind} takes NAME:VALUE")
    first, _, second = value.partition(":")
    auth = {
        "bearer": {"method": "bearer", "token": value},
        "basic": {"method": "basic", "username": first, "password": second},
        "header": {"method": "header", "name": first, "value": second},
        "hmac_secret": {"method": "hmac_sha256", "secret": value},
    }[kind]
    try:
        body = AuthorizationIn(
            url=options["url"],
            auth=AuthIn(**auth),
            operations=[op.strip() for op in options["operations"].split(",") if op.strip()],
            timeout_seconds=options["timeout_seconds"],
            failure_mode="open" if options["fail_open"] else "closed",
            cache_ttl_seconds=options["cache_ttl_seconds"],
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    async def work(db: Database) -> Any:
        await migrate(db)
        config = config_from_request(body)
        await check_target_url(config.url, settings)
        await AuthorizationRepository(db, secret_box(settings)).put(config, now=utcnow())
        return config.to_public_dict()

    click.echo(orjson.dumps(run_with_database(work, settings), option=orjson.OPT_INDENT_2).decode())


@authorization_group.command("show")
@pass_settings
def authorization_show(settings: Settings) -> None:
    """Show the callback's settings (never its secrets)."""
    from ..repository.authorization import AuthorizationRepository

    async def work(db: Database) -> Any:
        config = await AuthorizationRepository(db, secret_box(settings)).get()
        return None if config is None else config.to_public_dict()

    shown = run_with_database(work, settings)
    click.echo("no authorization callback" if shown is None else orjson.dumps(shown).decode())


@authorization_group.command("clear")
@pass_settings
def authorization_clear(settings: Settings) -> None:
    """Remove the callback: operations go ahead unchecked."""
    from ..repository.authorization import AuthorizationRepository

    async def work(db: Database) -> bool:
        return await AuthorizationRepository(db, secret_box(settings)).delete()

    click.echo("cleared" if run_with_database(work, settings) else "no authorization callback")


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (on the server: opens the database; how the first
    admin key is made)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--scope",
    type=click.Choice([s.value for s in Scope]),
    default=Scope.WRITE.value,
    show_default=True,
)
@pass_settings
def keys_create(settings: Settings, name: str, scope: str) -> None:
    """Create a key and print its token (shown once)."""

    async def work(db: Database) -> Any:
        await migrate(db)
        return await KeyRepository(db).create(name, Scope(scope))

    key, token = run_with_database(work, settings)
    click.echo(f"{key.id}\t{key.scope.value}\t{token}")


@keys.command("list")
@pass_settings
def keys_list(settings: Settings) -> None:
    """List keys (never their tokens)."""

    async def work(db: Database) -> Any:
        return await KeyRepository(db).all()

    for key in run_with_database(work, settings):
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
        click.echo(f"{key.id}\t{key.scope.value}\t{key.token_prefix}...\t{state}\t{key.name}")


@keys.command("revoke")
@click.argument("key_id")
@pass_settings
def keys_revoke(settings: Settings, key_id: str) -> None:
    """Revoke a key: it stops working at once."""

    async def work(db: Database) -> Any:
        return await KeyRepository(db).revoke(key_id)

    key = run_with_database(work, settings)
    click.echo(f"revoked {key.id}")
