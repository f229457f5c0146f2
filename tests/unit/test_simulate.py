"""The simulator's pure parts: paths per provider, fault parsing, seeded plans, forged requests
that each provider's own verifier refuses."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rampwire.dialects import get_dialect, jose
from rampwire.dialects.errors import DialectError
from rampwire.domain.orders import OrderStatus, Side
from rampwire.simulate import (
    PATHS,
    Fault,
    Options,
    Outcome,
    Severity,
    grade,
    junit,
    lifecycles,
    parse_faults,
    prepare,
    table,
)
from rampwire.simulate.faults import EXPECT, SEQUENCE, Expect, applies
from rampwire.simulate.plan import build_plan
from rampwire.simulate.runner import Attempt

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
PEM = jose.private_key_pem(jose.generate_signing_key(2048)).decode()
PROVIDERS = ["standard", "revolut", "saber", "fireblocks", "koywe", "transak"]


def secrets_for(name: str) -> tuple[str, ...]:
    if name == "fireblocks":
        return (PEM,)
    if name == "standard":
        return ("whsec_c2ltdWxhdGVkLXNlY3JldC0wMTIzNDU2Nzg5",)
    return ("wsk_unit-secret-0123456789",)


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_provider_plays_a_happy_and_a_failed_path_on_each_side(name: str) -> None:
    dialect = get_dialect(name)
    played = lifecycles(dialect)
    for side in dialect.sides:
        paths = {lc.path for lc in played if lc.side is side}
        assert {"happy", "failed"} <= paths
    for lc in played:
        assert lc.steps[0].pace == 0.0
        events = [step.event for step in lc.steps]
        assert all(a != b or lc.steps[i + 1].status.is_terminal for i, (a, b) in
                   enumerate(itertools.pairwise(events)))  # fmt: skip


def test_paths_can_be_chosen_and_unknown_ones_are_named() -> None:
    transak = get_dialect("transak")
    chosen = lifecycles(transak, ("expired",), (Side.SELL,))
    assert [(lc.path, lc.side) for lc in chosen] == [("expired", Side.SELL)]
    with pytest.raises(KeyError, match="no path is called 'lost'"):
        lifecycles(transak, ("lost",))
    assert set(PATHS) >= {"happy", "refunded", "on_hold", "amount_mismatch"}


def test_fault_specs() -> None:
    assert parse_faults(("stale", "duplicate=0.5"), default_rate=0.1) == {
        Fault.STALE: 0.1,
        Fault.DUPLICATE: 0.5,
    }
    assert len(parse_faults(("all",), default_rate=1)) == len(Fault) - 1
    for bad, message in [("stale=2", "from 0 to 1"), ("stale=x", "a number"), ("x", "no fault")]:
        with pytest.raises(ValueError, match=message):
            parse_faults((bad,), default_rate=0.1)
    assert applies(Fault.ALG_NONE, get_dialect("transak").name)
    assert not applies(Fault.ALG_NONE, get_dialect("koywe").name)
    assert not applies(Fault.STALE, get_dialect("fireblocks").name)


def test_one_seed_makes_one_plan() -> None:
    dialect = get_dialect("saber")
    credentials = dialect.credentials_from_secrets(["s"])
    faults = {f: 0.5 for f in Fault if f is not Fault.NONE}

    def shots(seed: int) -> list[Any]:
        plan = build_plan(dialect, credentials, orders=6, seed=seed, start=NOW, faults=faults)
        return [
            (s.seq, s.order, s.step, s.fault, s.wait, s.encode(NOW, credentials))
            for o in plan.orders
            for s in o.shots
        ]

    assert shots(1) == shots(1)
    assert shots(1) != shots(2)


@pytest.mark.parametrize("name", PROVIDERS)
def test_each_forged_request_is_refused_by_the_providers_own_verifier(name: str) -> None:
    faults = {f: 1.0 for f in Fault if f not in SEQUENCE and f is not Fault.NONE}
    plan, forger = prepare(
        Options(dialect=name, secrets=secrets_for(name), orders=3, seed=4, faults=faults, start=NOW)
    )
    dialect = plan.dialect
    checked = set()
    for shot in (s for o in plan.orders for s in o.shots):
        genuine = shot.encode(NOW, forger.credentials)
        assert dialect.decode(genuine.headers, genuine.body, forger.credentials, now=NOW)
        if shot.expect not in (Expect.REFUSE, Expect.REJECT):
            continue
        forged = forger.forge(shot.fault, shot.encode, NOW, shot.earlier)
        with pytest.raises(DialectError):
            dialect.decode(forged.headers, forged.body, forger.credentials, now=NOW)
        checked.add(shot.fault)
    assert checked == {f for f in faults if applies(f, dialect.name) and EXPECT[f] in
                       (Expect.REFUSE, Expect.REJECT)}  # fmt: skip


def test_final_status_is_what_the_last_event_reads_back_as() -> None:
    koywe = get_dialect("koywe")
    plan = build_plan(
        koywe, koywe.credentials_from_secrets(["k"]), orders=8, seed=1, start=NOW,
        paths=("refunded", "happy"),
    )  # fmt: skip
    finals = {(o.lifecycle.path, o.final) for o in plan.orders}
    assert finals == {("refunded", OrderStatus.FAILED), ("happy", OrderStatus.COMPLETED)}


@pytest.mark.parametrize("name", [p for p in PROVIDERS if p != "standard"])
def test_docs_list_the_paths_each_provider_plays(name: str) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulate.md").read_text()
    section = doc.split(f"\n### {name}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    expected = [
        f"| {lc.side.value} | `{lc.path}` | {' → '.join(str(s.event) for s in lc.steps)} |"
        for lc in lifecycles(get_dialect(name))
    ]
    assert rows == expected


def test_the_grade_of_made_up_answers() -> None:
    dialect = get_dialect("revolut")
    credentials = dialect.credentials_from_secrets(["s"])
    faults = {Fault.TAMPERED: 1.0, Fault.DUPLICATE: 1.0, Fault.TRUNCATED: 1.0}
    plan = build_plan(dialect, credentials, orders=1, seed=1, start=NOW, faults=faults)
    shots = [s for o in plan.orders for s in o.shots]
    answers = {Fault.NONE: 200, Fault.TAMPERED: 200, Fault.DUPLICATE: 409, Fault.TRUNCATED: 500}
    outcomes = [
        Outcome(
            shot=s,
            attempts=(Attempt(number=1, status=answers[s.fault], error=None, digest="d"),),
        )
        for s in shots
    ]
    script = plan.orders[0]
    result = grade(plan, outcomes, finals={0: "processing"})
    kinds = Counter((f.severity, f.fault) for f in result.findings)
    steps = len(script.lifecycle.steps)
    assert kinds == {
        (Severity.SECURITY, Fault.TAMPERED): steps,
        (Severity.RELIABILITY, Fault.DUPLICATE): steps,  # answered unlike its first copy
        (Severity.RELIABILITY, Fault.TRUNCATED): steps,  # a 5xx for bad input
        (Severity.STATE, Fault.NONE): 1,
    }
    state = next(f for f in result.findings if f.severity is Severity.STATE)
    assert state.order_id == script.provider_order_id
    assert state.message == f"ended processing, expected {script.final.value}"
    assert result.exit_code() == 1
    assert "security" in table([result])
    assert 'failures="4"' in junit([result])  # the none row fails too: the state finding
    assert result.to_dict()["summary"] == {"security": steps, "reliability": 2 * steps, "state": 1}
