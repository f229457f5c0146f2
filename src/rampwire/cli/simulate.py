"""``rampwire simulate``: play providers' whole lifecycles against a receiver and grade it."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import click
import orjson

from ..crypto import secret_box
from ..dialects import fireblocks
from ..dialects.errors import DialectError
from ..domain.orders import Provider, Side
from ..repository.sources import SourceRepository
from ..settings import Settings
from ..simulate import (
    Fault,
    Grade,
    Options,
    Outcome,
    Plan,
    grade,
    http_sender,
    junit,
    parse_faults,
    table,
)
from ..simulate.paths import PATHS
from ..simulate.scenario import Scenario, ScenarioError, load_scenario
from ..simulate.simulation import prepare, run
from ..simulate.state import read_by_template, read_from_rampwire
from ..simulate.wire_client import WireClient
from ..storage import Database
from .configured import pass_settings
from .database import run_with_database

PROVIDERS = tuple(p.value for p in Provider)
DEFAULT_FAULT_RATE = 0.1  # a fault named without a rate hits one step in ten


def _source_secrets(settings: Settings, source_id: str) -> tuple[str, tuple[str, ...]]:
    """A rampwire ingest source's provider and the secrets its provider signs with."""

    async def work(db: Database) -> Any:
        return await SourceRepository(db, secret_box(settings)).get(source_id)

    source = run_with_database(work, settings)
    found: Mapping[str, Any] = source.credentials
    secrets: list[str] = []
    if source.provider is Provider.SABER and found.get("mode", "hmac") != "hmac":
        raise click.UsageError("simulate signs Saber requests: the source must use the hmac mode")
    for name in ("secrets", "secret", "access_token"):
        value = found.get(name)
        secrets.extend(value if isinstance(value, list) else [] if value is None else [value])
    return source.provider.value, tuple(str(s) for s in secrets)


def _fireblocks_key(key_file: str | None, quiet: bool) -> str:
    if key_file is not None:
        return Path(key_file).read_text()
    key = fireblocks.generate_signing_key()
    if not quiet:
        click.echo("# fireblocks: a fresh signing key; verify with this JWKS:", err=True)
        click.echo(orjson.dumps(fireblocks.jwks([key])).decode(), err=True)
    return fireblocks.private_key_pem(key).decode("ascii")


@click.command("simulate")
@click.argument("provider", type=click.Choice([*PROVIDERS, "standard", "all"]), required=False)
@click.option("--to", "url", required=True, help="The receiver's URL (with --source: its base).")
@click.option("--orders", type=click.IntRange(1, 1_000_000), default=5, show_default=True)
@click.option("--paths", default="", help=f"Comma-separated, of: {', '.join(PATHS)} [all].")
@click.option(
    "--side",
    "sides",
    type=click.Choice(["buy", "sell"]),
    multiple=True,
    help="Only on-ramp (buy) or off-ramp (sell) orders [both].",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=math.inf,
    help="Compress pacing by this [no waits].",
)
@click.option("--seed", type=int, default=None, help="Reproduce a run (printed after each run).")
@click.option(
    "--start", type=click.DateTime(), default=None, help="Sign with a fixed clock (UTC) from here."
)
@click.option("--secret", "secrets", multiple=True, help="As for `rampwire trigger`.")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False), help="fireblocks PEM.")
@click.option("--source", "source_id", default=None, help="A rampwire source id: its secrets.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help=f"NAME[=RATE] or all (repeat); rate {DEFAULT_FAULT_RATE} by default. "
    f"Names: {', '.join(f.value for f in Fault if f is not Fault.NONE)}.",
)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False),
    help="A TOML scenario file: fixed orders, steps, amounts and faults.",
)
@click.option("--reorder-window", type=click.IntRange(2, 100), default=3, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=8, show_default=True)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True
)
@click.option(
    "--check-state",
    default=None,
    help="Compare each order's final status with the receiver's: a URL template with {id} "
    "answering JSON with a status, or `rampwire` (its order API, with --api-key).",
)
@click.option("--state-header", multiple=True, help="NAME:VALUE sent with --check-state URLs.")
@click.option("--api-key", envvar="RAMPWIRE_API_KEY", default=None, help="For --check-state.")
@click.option("--json", "as_json", is_flag=True, help="Print the grade as JSON.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), help="Write JUnit XML.")
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    help="Write every request as a JSON line: order, step, fault, attempt, status, digest.",
)
@click.option("--strict", is_flag=True, help="Exit 2 on reliability findings.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@pass_settings
def simulate_command(settings: Settings, /, **given: Any) -> None:
    """Play PROVIDER's whole order lifecycles (or every provider's: all) against a receiver,
    signed its way, with the faults asked for; print a grade. Exit 1 on a security finding."""
    provider: str | None = given["provider"]
    url: str = given["url"]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="--to")
    secrets: tuple[str, ...] = given["secrets"]
    scenario: Scenario | None = None
    if given["scenario"]:
        try:
            scenario = load_scenario(Path(given["scenario"]))
        except ScenarioError as exc:
            raise click.BadParameter(str(exc), param_hint="--scenario") from exc
        if provider not in (None, scenario.provider):
            raise click.UsageError(f"the scenario plays {scenario.provider}, not {provider}")
        provider = scenario.provider
    if provider is None:
        raise click.UsageError("name a PROVIDER (or all), or give --scenario")
    if given["source_id"]:
        if provider == "all":
            raise click.UsageError("--source names one provider's source, not all")
        provider, secrets = _source_secrets(settings, given["source_id"])
        if not urlsplit(url).path.strip("/"):
            url = url.rstrip("/") + f"/ingest/{given['source_id']}"
    try:
        faults = parse_faults(given["faults"], default_rate=DEFAULT_FAULT_RATE)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from exc
    paths = tuple(p.strip() for p in given["paths"].split(",") if p.strip())
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        raise click.BadParameter(
            f"unknown {unknown}; known: {', '.join(PATHS)}", param_hint="--paths"
        )
    start: datetime | None = given["start"]
    chosen = list(PROVIDERS) if provider == "all" else [provider]
    runs: list[Options] = []
    for name in chosen:
        material = secrets
        if name == "fireblocks" and (given["key_file"] or not given["source_id"]):
            material = (_fireblocks_key(given["key_file"], given["quiet"] or given["as_json"]),)
        if not material and name == "fireblocks":
            raise click.UsageError("fireblocks sources hold public keys: give --key-file too")
        if not material:
            raise click.UsageError(f"{name} needs --secret (or --source)")
        options = Options(
            dialect=name,
            secrets=material,
            orders=given["orders"],
            paths=paths,
            sides=tuple(Side(s) for s in given["sides"]),
            faults=faults,
            seed=given["seed"],
            speed=given["speed"],
            start=None if start is None else start.replace(tzinfo=UTC),
            concurrency=given["concurrency"],
            reorder_window=given["reorder_window"],
        )
        if scenario is not None:  # the command line's seed, speed and faults win
            options = replace(
                options,
                specs=scenario.orders,
                seed=options.seed if options.seed is not None else scenario.seed,
                speed=options.speed if given["speed"] != math.inf else scenario.speed,
                faults=options.faults or scenario.faults or {},
            )
        runs.append(options)
    quiet = given["quiet"] or given["as_json"]
    check = _state_check(given)
    log = None if given["log_file"] is None else Path(given["log_file"])
    if log is not None:
        log.write_text("")
    grades = asyncio.run(_run_all(runs, url, given["timeout"], quiet=quiet, check=check, log=log))
    _report(grades, as_json=given["as_json"], junit_file=given["junit_file"])
    codes = [g.exit_code(strict=given["strict"]) for g in grades]
    code = 1 if 1 in codes else max(codes)
    if code:
        raise SystemExit(code)


def _state_check(given: Mapping[str, Any]) -> StateCheck | None:
    target = given["check_state"]
    if target is None:
        return None
    if target == "rampwire":
        if not given["api_key"]:
            raise click.UsageError("--check-state rampwire needs --api-key (a read key)")
        return StateCheck(template=None, headers={}, api_key=given["api_key"])
    if "{id}" not in target:
        raise click.BadParameter(
            "a URL template with {id}, or rampwire", param_hint="--check-state"
        )
    headers: dict[str, str] = {}
    for header in given["state_header"]:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{header!r} is not NAME:VALUE", param_hint="--state-header")
        headers[name.strip()] = value.strip()
    return StateCheck(template=target, headers=headers, api_key=None)


@dataclass(frozen=True, kw_only=True, slots=True)
class StateCheck:
    template: str | None
    headers: dict[str, str]
    api_key: str | None


async def _finals(
    session: aiohttp.ClientSession, plan: Plan, url: str, check: StateCheck
) -> dict[int, str]:
    try:
        if check.template is not None:
            return await read_by_template(session, plan, check.template, check.headers)
        return await read_from_rampwire(session, plan, url, check.api_key or "")
    except (ValueError, aiohttp.ClientError) as exc:
        raise click.ClickException(f"--check-state: {exc}") from exc


async def _run_all(
    runs: list[Options],
    url: str,
    timeout: float,
    *,
    quiet: bool,
    check: StateCheck | None,
    log: Path | None,
) -> list[Grade]:
    grades: list[Grade] = []
    connections = max(r.concurrency for r in runs)
    lean: WireClient | None = None
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        send = http_sender(session, url, timeout=timeout)
        if urlsplit(url).scheme == "http":  # the lean client: as fast as a load generator
            lean = WireClient(url, connections=connections, timeout=timeout)
            send = lean.send
        for options in runs:
            try:
                plan, forger = prepare(options)
            except (ValueError, DialectError) as exc:
                raise click.UsageError(f"{options.dialect}: {exc}") from exc
            if quiet:
                result = await run(plan, forger, options, send)
            else:
                with click.progressbar(
                    length=plan.size, label=f"{options.dialect:<11}", file=sys.stderr
                ) as bar:

                    def advance(_: Outcome, bar: Any = bar) -> None:
                        bar.update(1)

                    result = await run(plan, forger, options, send, on_outcome=advance)
            if log is not None:
                _write_log(log, plan, result.outcomes)
            if check is None:
                grades.append(result.grade)
            else:
                finals = await _finals(session, plan, url, check)
                grades.append(grade(plan, result.outcomes, finals=finals))
    if lean is not None:
        lean.close()
    return grades


def _write_log(log: Path, plan: Plan, outcomes: tuple[Outcome, ...]) -> None:
    ids = {script.index: script.provider_order_id for script in plan.orders}
    with log.open("ab") as out:
        for outcome in outcomes:
            shot = outcome.shot
            for attempt in outcome.attempts:
                record = {
                    "provider": plan.dialect.name.value,
                    "seq": shot.seq,
                    "order_id": ids[shot.order],
                    "step": shot.step,
                    "status_sent": shot.status.value,
                    "fault": shot.fault.value,
                    "expect": shot.expect.value,
                    "attempt": attempt.number,
                    "answer": attempt.status,
                    "digest": attempt.digest,
                }
                out.write(orjson.dumps(record) + b"\n")


def _report(grades: list[Grade], *, as_json: bool, junit_file: str | None) -> None:
    if junit_file:
        Path(junit_file).write_text(junit(grades))
    if as_json:
        click.echo(orjson.dumps([g.to_dict() for g in grades], option=orjson.OPT_INDENT_2))
        return
    click.echo(table(grades))
    for g in grades:
        click.echo(f"{g.dialect}: seed {g.seed}, {g.requests} requests, digest {g.digest[:16]}")
