"""The commands over the API: where the server is, with which key, and how a refusal reads.

Every such command takes ``--url`` and ``--api-key`` (or ``RAMPWIRE_URL`` and
``RAMPWIRE_API_KEY``), or ``--profile NAME`` (or ``RAMPWIRE_PROFILE``; profiles.py), and
``--json``. A flag or variable wins over the profile. A problem the server answers prints as
one line, ``Error: 404 Not found: no order ord_...``, and exits 1; so does a server that
cannot be reached. No traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import click
import orjson

from ..client import APIError, Client, ProblemError
from ..client.clients import DEFAULT_URL
from .profiles import pick

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Remote:
    """What a command over the API gets: the client, and whether to print JSON."""

    client: Client
    as_json: bool


def one_line(exc: APIError) -> str:
    if not isinstance(exc, ProblemError):
        return exc.message
    text = f"{exc.status} {exc.title}: {exc.detail}"
    if exc.status == 401:
        text += " (check --api-key, RAMPWIRE_API_KEY or the profile's key)"
    return text


def over_api(command: Callable[Concatenate[Remote, P], T]) -> Callable[..., T]:
    """Give ``command`` the connection options, a :class:`Remote` as its first argument, and
    one-line errors."""

    @click.option(
        "--url",
        "server_url",
        envvar="RAMPWIRE_URL",
        help=f"The server [RAMPWIRE_URL; {DEFAULT_URL}].",
    )
    @click.option("--api-key", envvar="RAMPWIRE_API_KEY", help="An API key [RAMPWIRE_API_KEY].")
    @click.option(
        "--profile", envvar="RAMPWIRE_PROFILE", help="A saved server and key (rampwire profiles)."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print JSON, every field, for scripts.")
    @functools.wraps(command)
    def run(
        server_url: str | None,
        api_key: str | None,
        profile: str | None,
        as_json: bool,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        chosen = pick(profile) if not (server_url and api_key) or profile else None
        url = server_url or (chosen.url if chosen else None) or DEFAULT_URL
        api_key = api_key or (chosen.api_key if chosen else None)
        if not api_key:
            raise click.ClickException(
                "no API key: give --api-key, set RAMPWIRE_API_KEY, or save a profile"
                " (rampwire profiles set NAME --url URL --api-key KEY)"
            )
        try:
            with Client(url, api_key) as client:
                return command(Remote(client, as_json), *args, **kwargs)
        except APIError as exc:
            raise click.ClickException(one_line(exc)) from None

    return run


def json_object(value: str | None, name: str) -> dict[str, Any] | None:
    """A ``--data``-like option: a JSON object, or a clear usage error."""
    if value is None:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=name) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint=name)
    return parsed


def when(value: str | None, name: str) -> datetime | None:
    """A time option: ISO 8601 with a timezone (``2026-01-15T10:30:00Z``)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "not a time: give ISO 8601 with a timezone, like 2026-01-15T10:30:00Z",
            param_hint=name,
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(
            "must carry a timezone, like 2026-01-15T10:30:00Z", param_hint=name
        )
    return moment


LIMIT_OPTION = click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Rows at most."
)

__all__ = ["LIMIT_OPTION", "Remote", "json_object", "one_line", "over_api", "when"]
