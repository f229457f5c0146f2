"""The grade of a run: per fault class, what the receiver answered, and the findings.

- **security**: a forged, tampered, stale or replayed request answered 2xx;
- **reliability**: an authentic request still not answered 2xx after the provider's retries (or
  not answered in time); a duplicate answered differently from its first copy; a malformed
  request answered 5xx;
- **state** (when checked): an order whose final status differs from the in-order one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .faults import Expect, Fault
from .plan import Plan
from .runner import Outcome, run_digest


class Severity(StrEnum):
    SECURITY = "security"
    RELIABILITY = "reliability"
    STATE = "state"


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    severity: Severity
    fault: Fault
    order: int
    step: int
    status: int | None
    message: str
    order_id: str = ""  # the provider's order id


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    fault: Fault
    expect: Expect
    requests: int
    answers: Mapping[str, int]  # "2xx", "4xx", "5xx", "none" -> count
    retried: int  # requests that needed more than one attempt


@dataclass(frozen=True, kw_only=True, slots=True)
class Grade:
    dialect: str
    seed: int
    digest: str
    rows: tuple[Row, ...]
    findings: tuple[Finding, ...]
    orders: int
    requests: int  # attempts sent, retries included
    finals: Mapping[str, str] = field(default_factory=dict)  # provider order id -> status

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def exit_code(self, *, strict: bool = False) -> int:
        """1 on a security finding; 2 on a reliability or state finding when ``strict``."""
        if self.count(Severity.SECURITY):
            return 1
        if strict and (self.count(Severity.RELIABILITY) or self.count(Severity.STATE)):
            return 2
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "seed": self.seed,
            "digest": self.digest,
            "orders": self.orders,
            "requests": self.requests,
            "table": [
                {
                    "fault": r.fault.value,
                    "expect": r.expect.value,
                    "requests": r.requests,
                    "answers": dict(r.answers),
                    "retried": r.retried,
                }
                for r in self.rows
            ],
            "findings": [
                {
                    "severity": f.severity.value,
                    "fault": f.fault.value,
                    "order": f.order,
                    "order_id": f.order_id,
                    "step": f.step,
                    "status": f.status,
                    "message": f.message,
                }
                for f in self.findings
            ],
            "summary": {s.value: self.count(s) for s in Severity},
        }


def _bucket(status: int | None) -> str:
    return "none" if status is None else f"{status // 100}xx"


def grade(
    plan: Plan, outcomes: Iterable[Outcome], *, finals: Mapping[int, str] | None = None
) -> Grade:
    """Grade ``outcomes``; ``finals`` (order index -> the receiver's status) checks state."""
    done = list(outcomes)
    ids = {script.index: script.provider_order_id for script in plan.orders}
    by_seq = {o.shot.seq: o for o in done}
    answers: dict[Fault, Counter[str]] = {}
    retried: Counter[Fault] = Counter()
    findings: list[Finding] = []
    for outcome in done:
        shot = outcome.shot
        answers.setdefault(shot.fault, Counter())[_bucket(outcome.status)] += 1
        if len(outcome.attempts) > 1:
            retried[shot.fault] += 1
        status = outcome.status

        def found(severity: Severity, message: str, shot: Any = shot, status: Any = status) -> None:
            findings.append(
                Finding(
                    severity=severity,
                    fault=shot.fault,
                    order=shot.order,
                    step=shot.step,
                    status=status,
                    message=message,
                    order_id=ids.get(shot.order, ""),
                )
            )

        expect = shot.expect
        if expect is Expect.REFUSE and outcome.ok:
            found(Severity.SECURITY, f"{shot.fault.value} request answered {status}")
        elif expect is Expect.REJECT and (status is None or status >= 500):
            found(Severity.RELIABILITY, f"malformed ({shot.fault.value}) answered {status}")
        elif expect is Expect.ACCEPT and not outcome.ok and shot.copy_of is None:
            tries = len(outcome.attempts)
            found(
                Severity.RELIABILITY,
                f"authentic request answered {status or 'nothing'} after {tries} attempt(s)",
            )
        if shot.copy_of is not None:
            first = by_seq.get(shot.copy_of)
            if first is not None and first.ok != outcome.ok:
                found(
                    Severity.RELIABILITY,
                    f"duplicate answered {status}, its first copy {first.status}",
                )
    shown: dict[str, str] = {}
    for script in plan.orders:
        if finals is None or script.index not in finals:
            continue
        seen = finals[script.index]
        shown[script.provider_order_id] = seen
        if seen != script.final.value:
            findings.append(
                Finding(
                    severity=Severity.STATE,
                    fault=Fault.NONE,
                    order=script.index,
                    step=len(script.lifecycle.steps) - 1,
                    status=None,
                    message=f"ended {seen}, expected {script.final.value}",
                    order_id=script.provider_order_id,
                )
            )
    rows = tuple(
        Row(
            fault=fault,
            expect=Expect.ACCEPT if fault is Fault.NONE else _expect(done, fault),
            requests=sum(counts.values()),
            answers=dict(sorted(counts.items())),
            retried=retried[fault],
        )
        for fault, counts in sorted(answers.items(), key=lambda item: list(Fault).index(item[0]))
    )
    return Grade(
        dialect=plan.dialect.name.value,
        seed=plan.seed,
        digest=run_digest(done),
        rows=rows,
        findings=tuple(findings),
        orders=len(plan.orders),
        requests=sum(len(o.attempts) for o in done),
        finals=shown,
    )


def _expect(outcomes: list[Outcome], fault: Fault) -> Expect:
    return next(o.shot.expect for o in outcomes if o.shot.fault is fault)


def table(grades: Iterable[Grade]) -> str:
    """The grade as text: one line per dialect and fault class, then the findings."""
    lines = [
        f"{'provider':<11}{'fault':<17}{'expect':<8}{'sent':>6}{'2xx':>6}{'4xx':>6}"
        f"{'5xx':>6}{'none':>6}{'retried':>9}"
    ]
    findings: list[str] = []
    for result in grades:
        for row in result.rows:
            a = row.answers
            lines.append(
                f"{result.dialect:<11}{row.fault.value:<17}{row.expect.value:<8}"
                f"{row.requests:>6}{a.get('2xx', 0):>6}{a.get('4xx', 0):>6}{a.get('5xx', 0):>6}"
                f"{a.get('none', 0):>6}{row.retried:>9}"
            )
        findings.extend(
            f"{f.severity.value:<12}{result.dialect:<11}order {f.order_id or f.order}"
            f" step {f.step}: {f.message}"
            for f in result.findings
        )
    lines.append("")
    lines.append(f"findings: {len(findings)}" if findings else "findings: none")
    lines.extend(findings)
    return "\n".join(lines)


def junit(grades: Iterable[Grade]) -> str:
    """A JUnit XML report: one test case per dialect and fault class, failed by its findings."""
    cases: list[str] = []
    failures = 0
    for result in grades:
        for row in result.rows:
            mine = [f for f in result.findings if f.fault is row.fault]
            name = quoteattr(f"{result.dialect}.{row.fault.value}")
            if mine:
                failures += 1
                text = escape("\n".join(f"{f.severity.value}: {f.message}" for f in mine))
                cases.append(
                    f'<testcase classname="rampwire.simulate" name={name}>'
                    f'<failure message="{len(mine)} finding(s)">{text}</failure></testcase>'
                )
            else:
                cases.append(f'<testcase classname="rampwire.simulate" name={name}/>')
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<testsuite name="rampwire simulate" tests="{len(cases)}" failures="{failures}">\n'
        + "\n".join(cases)
        + "\n</testsuite>\n"
    )
