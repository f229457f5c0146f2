"""The server's own commands (they open the database): migrate, serve, worker."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Callable

import click
import uvicorn
from starlette.types import ASGIApp

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
from .configured import pass_settings
from .database import run_with_database
from .master_key import seal_clear_values

log = logging.getLogger("rampwire")


@click.command("migrate")
@pass_settings
def migrate_command(settings: Settings) -> None:
    """Apply the database migrations that are missing (on the server: opens the database)."""

    async def work(db: Database) -> list[int]:
        applied = await migrate(db)
        await seal_clear_values(db, settings)
        return applied

    applied = run_with_database(work, settings)
    where = redact(settings.database_url)
    click.echo(f"applied {applied} to {where}" if applied else f"{where} is up to date")


@click.command()
@click.option("--host", default=None, help="Interface to listen on [RAMPWIRE_HOST].")
@click.option("--port", type=int, default=None, help="Port to listen on [RAMPWIRE_PORT].")
@pass_settings
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

    config = server_config(
        create_app(settings, on_fatal=stop_serving),
        host=settings.host,
        port=settings.port,
        access_log=settings.log_level == "DEBUG",
    )
    server = _Announcing(config, announce)
    with listener:
        server.run(sockets=[listener])
    if fatal:
        raise click.ClickException("a background task failed repeatedly; see the log above")


def server_config(app: ASGIApp, *, host: str, port: int, access_log: bool) -> uvicorn.Config:
    """The HTTP server ``serve`` runs the app on (``bench/ingest.py`` runs the same)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=access_log,
        server_header=False,
        # the client address is rewritten in one place, from RAMPWIRE_TRUSTED_PROXIES
        # (api.proxies); uvicorn's own rewriting believes X-Forwarded-For from 127.0.0.1
        proxy_headers=False,
    )


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


@click.command()
@click.option("--concurrency", type=int, default=None, help="Sends in flight, at most.")
@pass_settings
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
