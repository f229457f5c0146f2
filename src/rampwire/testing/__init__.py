"""``rampwire.testing``: a pytest plugin that plays a simulated provider against the app under
test and returns the grade, so a receiver's own suite can assert that it is safe::

    # conftest.py
    pytest_plugins = ["rampwire.testing"]

    # test_webhooks.py
    async def test_transak_webhooks_are_safe(rampwire_simulate, app):
        grade = await rampwire_simulate(
            app, path="/webhooks/transak", provider="transak", secrets=["ACCESS_TOKEN"],
            faults={"all": 0.3},
        )
        assert grade.count(Severity.SECURITY) == 0

The target is an ASGI app (called in-process, its lifespan run around the simulation unless
``lifespan=False``) or a URL. ``scenario=`` plays a TOML scenario file instead of drawn orders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ..simulate import Fault, Grade, Options, Severity, http_sender, parse_faults, simulate
from ..simulate.scenario import load_scenario
from .asgi import ASGIApp, asgi_sender
from .asgi import lifespan as run_lifespan

DEFAULT_TIMEOUT = 10.0  # seconds per request sent to a URL


class Simulator:
    """What the ``rampwire_simulate`` fixture returns: call it, await the grade."""

    async def __call__(
        self,
        target: str | ASGIApp,
        *,
        secrets: Sequence[str],
        provider: str | None = None,
        path: str = "/",
        scenario: str | Path | None = None,
        faults: Mapping[str, float] | None = None,
        lifespan: bool = True,
        **options: Any,
    ) -> Grade:
        """``options`` are :class:`~rampwire.simulate.Options` fields (orders, seed, sides...)."""
        chosen: dict[Fault, float] = {}
        for fault, rate in (faults or {}).items():
            chosen.update(parse_faults((f"{fault}={rate}",), default_rate=1.0))
        played = None if scenario is None else load_scenario(Path(scenario))
        name = provider or (played.provider if played else None)
        if name is None:
            raise ValueError("give provider= or scenario=")
        settings = Options(dialect=name, secrets=tuple(secrets), faults=chosen, **options)
        if played is not None:
            settings = replace(
                settings,
                specs=played.orders,
                seed=settings.seed if settings.seed is not None else played.seed,
                faults=chosen or played.faults or {},
            )
        if isinstance(target, str):
            async with aiohttp.ClientSession() as session:
                send = http_sender(session, target, timeout=DEFAULT_TIMEOUT)
                return (await simulate(settings, send)).grade
        if not lifespan:
            return (await simulate(settings, asgi_sender(target, path))).grade
        async with run_lifespan(target):
            return (await simulate(settings, asgi_sender(target, path))).grade


@pytest.fixture
def rampwire_simulate() -> Simulator:
    """Play a simulated provider against an ASGI app or a URL; returns the grade."""
    return Simulator()


__all__ = ["Grade", "Severity", "Simulator", "asgi_sender", "rampwire_simulate"]
