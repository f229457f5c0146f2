"""Settings for the commands that use them, built when such a command runs (not for every
command: those over the API need none, and stay light)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import click

from ..errors import RampwireError

if TYPE_CHECKING:
    from ..settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


def pass_settings(command: Callable[Concatenate[Settings, P], T]) -> Callable[P, T]:
    """Give ``command`` ``Settings.from_env()`` as its first argument; a bad setting is a
    one-line error and exit status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        from ..settings import Settings

        try:
            settings = Settings.from_env()
        except RampwireError as exc:
            raise click.ClickException(exc.message) from exc
        return command(settings, *args, **kwargs)

    return run
