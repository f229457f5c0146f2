"""What every CLI command that touches the database shares: open it, run, close it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
import uvloop

from ..errors import RampwireError
from ..settings import Settings
from ..storage import Database, open_database

T = TypeVar("T")


def run_with_database(work: Callable[[Database], Awaitable[T]], settings: Settings) -> T:
    """Run ``work`` on uvloop with the settings' database open; a rampwire error becomes a
    one-line message and exit status 1."""

    async def main() -> T:
        db = open_database(settings.database_url)
        await db.open()
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main())
    except RampwireError as exc:
        raise click.ClickException(exc.message) from exc
