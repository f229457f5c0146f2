"""``rampwire trigger``: one realistic, signed webhook in a provider's format."""

from __future__ import annotations

import asyncio

import click
import orjson


@click.command()
@click.argument(
    "dialect", type=click.Choice(["standard", "revolut", "saber", "fireblocks", "koywe", "transak"])
)
@click.argument("event")
@click.option("--to", "url", required=True, help="Where to POST the webhook.")
@click.option("--side", type=click.Choice(["buy", "sell"]), default="buy", show_default=True)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="Signing secret (repeat during a rotation): whsec_ for standard, the signing secret "
    "for revolut, saber and koywe, the access token for transak.",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="fireblocks: a PEM private key (RSA); without one, a fresh key is made and its JWKS "
    "printed.",
)
@click.option("--timeout", type=float, default=10.0, show_default=True)
@click.option(
    "--order-id",
    default=None,
    help="The provider's order id (rampwire's for standard): repeat with the next EVENT to "
    "drive one order step by step.",
)
def trigger(
    dialect: str,
    event: str,
    url: str,
    side: str,
    secrets: tuple[str, ...],
    key_file: str | None,
    timeout: float,
    order_id: str | None,
) -> None:
    """Send one realistic, correctly signed webhook in DIALECT's format for EVENT (a canonical
    status such as `completed`, or the provider's own name such as ORDER_COMPLETED), then print
    the request and the response. Exits 1 when the receiver answers other than 2xx."""
    from pathlib import Path

    from ..dialects import fireblocks, get_dialect
    from ..dialects.errors import DialectError
    from ..dialects.trigger import trigger as send

    chosen = get_dialect(dialect)
    material = list(secrets)
    if dialect == "fireblocks":
        if key_file is not None:
            material = [Path(key_file).read_text()]
        else:
            key = fireblocks.generate_signing_key()
            material = [fireblocks.private_key_pem(key).decode("ascii")]
            click.echo("# a fresh signing key; verify with this JWKS:")
            click.echo(orjson.dumps(fireblocks.jwks([key])).decode())
    elif not material:
        raise click.UsageError(f"{dialect} needs --secret")
    try:
        credentials = chosen.credentials_from_secrets(material)
        exchange = asyncio.run(
            send(
                dialect,
                event,
                url=url,
                credentials=credentials,
                side=side,
                timeout=timeout,
                order_id=order_id,
            )
        )
    except DialectError as exc:
        raise click.ClickException(exc.message) from exc
    except (OSError, TimeoutError) as exc:
        raise click.ClickException(f"could not reach {url}: {exc}") from exc
    click.echo(f"> POST {exchange.url}")
    for name, value in exchange.request.headers.items():
        click.echo(f"> {name}: {value}")
    click.echo(">")
    click.echo(exchange.request.body.decode("utf-8", "replace"))
    click.echo(f"< {exchange.response.status}")
    for name, value in exchange.response.headers.items():
        click.echo(f"< {name}: {value}")
    click.echo("<")
    click.echo(exchange.response.body.decode("utf-8", "replace"))
    if not 200 <= exchange.response.status < 300:
        click.echo(f"error: the receiver answered {exchange.response.status}", err=True)
        raise SystemExit(1)
