"""The ``rampwire`` command. Sync at this edge, async inside.

Two kinds of commands: those that open the database, for the server's own machine (serve,
worker, migrate, keys, authorization, signing-key, master-key), and those over the API, for
anywhere (orders, endpoints, deliveries, events, inbound, sources, partners; cli/remote.py).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson
import uvicorn

from .. import heap, logs
from ..crypto import master_key_path, secret_box
from ..domain.apikeys import Scope
from ..errors import RampwireError
from ..repository import KeyRepository
from ..services import background, telemetry
from ..services.worker import WorkerOptions
from ..settings import Settings
from ..storage import Database, migrate
from ..storage.database import redact
from ..tracing import Tracing
from ..types import utcnow
from .database import run_with_database
from .listen import listen_command
from .master_key import master_key_group, seal_clear_values
from .orders import orders_group
from .partners import partners_group
from .profiles import profiles_group
from .signing import signing_key_group
from .simulate import simulate_command
from .sources import inbound_group, sources_group
from .webhooks import deliveries_group, endpoints_group, events_group

T = TypeVar("T")
log = logging.getLogger("rampwire")


@click.group()
@click.version_option(package_name="rampwire")
@click.pass_context
def main(ctx: click.Context) -> None:
    """rampwire: order lifecycle and webhooks for crypto on/off-ramps.

    \b
    Over the API, from anywhere (--url/--api-key, RAMPWIRE_URL/RAMPWIRE_API_KEY or --profile):
      orders, endpoints, deliveries, events, inbound, sources, partners, profiles
    On the server (they open the database: RAMPWIRE_DATABASE_URL):
      serve, worker, migrate, keys, authorization, signing-key, master-key
    """
    try:
        ctx.obj = Settings.from_env()
    except RampwireError as exc:
        raise click.ClickException(exc.message) from exc


@main.command("migrate")
@click.pass_obj
def migrate_command(settings: Settings) -> None:
    """Apply the database migrations that are missing (on the server: opens the database)."""

    async def work(db: Database) -> list[int]:
        applied = await migrate(db)
        await seal_clear_values(db, settings)
        return applied

    applied = run_with_database(work, settings)
    where = redact(settings.database_url)
    click.echo(f"applied {applied} to {where}" if applied else f"{where} is up to date")


@main.command()
@click.option("--host", default=None, help="Interface to listen on [RAMPWIRE_HOST].")
@click.option("--port", type=int, default=None, help="Port to listen on [RAMPWIRE_PORT].")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Migrate, then serve the API, the dashboard and a worker (opens the database)."""
    settings = settings.replace(host=host or settings.host, port=port or settings.port)
    logs.configure(settings.log_format, settings.log_level, log_sql=settings.log_sql)

    async def prepare(db: Database) -> str | None:
        await migrate(db)
        await seal_clear_values(db, settings)
        keys = KeyRepository(db)
        if not await keys.all():  # first start: no key was ever made
            _, token = await keys.create("admin (first start)", Scope.ADMIN)
            return token
        return None

    listener = _bind(settings.host, settings.port)  # a port in use is said before any work
    token = run_with_database(prepare, settings)
    from ..api import create_app

    def announce() -> None:  # once the server accepts connections
        url = f"http://{settings.host}:{settings.port}"
        click.echo(f"rampwire listening on {url} (database {redact(settings.database_url)})")
        click.echo(f"API docs: {url}/docs")
        click.echo(f"dashboard: {url}/ui (log in with an API key)")
        if settings.target_policy.allow_private:
            click.echo(
                "private targets allowed (RAMPWIRE_ALLOW_PRIVATE_TARGETS): webhooks may go to"
                " loopback and private addresses; for development only"
            )
        if settings.master_key is None:
            click.echo(
                f"master key: {master_key_path(settings)}, beside the database; in production"
                " keep it in a secret store and pass it as RAMPWIRE_MASTER_KEY (docs/security.md)"
            )
        if token is not None:
            click.echo(f"admin API key (shown once, keep it): {token}")

    fatal: list[bool] = []

    def stop_serving() -> None:  # a background task cannot recover: stop, exit non-zero
        fatal.append(True)
        server.should_exit = True

    config = uvicorn.Config(
        create_app(settings, on_fatal=stop_serving),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=settings.log_level == "DEBUG",
        server_header=False,
        # the client address is rewritten in one place, from RAMPWIRE_TRUSTED_PROXIES
        # (api.proxies); uvicorn's own rewriting believes X-Forwarded-For from 127.0.0.1
        proxy_headers=False,
    )
    server = _Announcing(config, announce)
    with listener:
        server.run(sockets=[listener])
    if fatal:
        raise click.ClickException("a background task failed repeatedly; see the log above")


class _Announcing(uvicorn.Server):
    """A server that says it listens only once it does."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._announce()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed; a clear one-line error if not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as exc:
        raise click.ClickException(f"cannot listen on {host!r}: {exc}") from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart at once
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"port {port} on {host} is already in use; choose another with --port"
                " or RAMPWIRE_PORT"
            ) from exc
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another with --host/--port"
            " or RAMPWIRE_HOST/RAMPWIRE_PORT"
        ) from exc
    return sock


@main.command()
@click.option("--concurrency", type=int, default=None, help="Sends in flight, at most.")
@click.pass_obj
def worker(settings: Settings, concurrency: int | None) -> None:
    """Run only a delivery worker and the stuck-order sweeper (scale out: several, on one
    PostgreSQL; opens the database)."""
    logs.configure(settings.log_format, settings.log_level, log_sql=settings.log_sql)

    async def work(db: Database) -> None:
        await migrate(db)
        options = WorkerOptions() if concurrency is None else WorkerOptions(concurrency=concurrency)
        log.info("worker started on %s", redact(settings.database_url))
        spans = Tracing.from_settings(settings.tracing_sample)
        measured = telemetry.build(db, settings, tracing=spans)
        await telemetry.rank_partners(db, measured.metrics)
        with heap.settled():
            running = background.start(
                db,
                secret_box(settings),
                settings,
                deliver=True,
                worker_options=options,
                telemetry=measured,
            )
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, running.stop.set)
            supervisor = running.supervisor
            await supervisor.wait()
        spans.shutdown()
        if supervisor.failed.is_set():
            raise RampwireError("a background task failed repeatedly; see the log above")
        log.info("worker stopped")

    run_with_database(work, settings)


@main.command()
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


@main.group("authorization")
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
@click.pass_obj
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
@click.pass_obj
def authorization_show(settings: Settings) -> None:
    """Show the callback's settings (never its secrets)."""
    from ..repository.authorization import AuthorizationRepository

    async def work(db: Database) -> Any:
        config = await AuthorizationRepository(db, secret_box(settings)).get()
        return None if config is None else config.to_public_dict()

    shown = run_with_database(work, settings)
    click.echo("no authorization callback" if shown is None else orjson.dumps(shown).decode())


@authorization_group.command("clear")
@click.pass_obj
def authorization_clear(settings: Settings) -> None:
    """Remove the callback: operations go ahead unchecked."""
    from ..repository.authorization import AuthorizationRepository

    async def work(db: Database) -> bool:
        return await AuthorizationRepository(db, secret_box(settings)).delete()

    click.echo("cleared" if run_with_database(work, settings) else "no authorization callback")


@main.group()
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
@click.pass_obj
def keys_create(settings: Settings, name: str, scope: str) -> None:
    """Create a key and print its token (shown once)."""

    async def work(db: Database) -> Any:
        await migrate(db)
        return await KeyRepository(db).create(name, Scope(scope))

    key, token = run_with_database(work, settings)
    click.echo(f"{key.id}\t{key.scope.value}\t{token}")


@keys.command("list")
@click.pass_obj
def keys_list(settings: Settings) -> None:
    """List keys (never their tokens)."""

    async def work(db: Database) -> Any:
        return await KeyRepository(db).all()

    for key in run_with_database(work, settings):
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
        click.echo(f"{key.id}\t{key.scope.value}\t{key.token_prefix}...\t{state}\t{key.name}")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_obj
def keys_revoke(settings: Settings, key_id: str) -> None:
    """Revoke a key: it stops working at once."""

    async def work(db: Database) -> Any:
        return await KeyRepository(db).revoke(key_id)

    key = run_with_database(work, settings)
    click.echo(f"revoked {key.id}")


main.add_command(sources_group)
main.add_command(signing_key_group)
main.add_command(master_key_group)
main.add_command(simulate_command)
main.add_command(partners_group)
main.add_command(listen_command)
# over the API (--url/--api-key/--profile): cli/remote.py
for _group in (orders_group, endpoints_group, deliveries_group, events_group, inbound_group):
    main.add_command(_group)
main.add_command(profiles_group)
