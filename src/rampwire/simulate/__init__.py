"""The simulator: a provider's whole lifecycles played against a receiver, with faults, graded.

``paths`` (the lifecycles), ``faults`` (what is injected and what a safe receiver answers),
``plan`` (everything random, drawn from one seed), ``runner`` (pacing, retries, sending),
``grade`` (the table and findings), ``simulation`` (the three together). It uses the dialects to
speak each provider byte for byte and an HTTP client to send; it needs no SQL. ``docs/simulate.md``.
"""

from __future__ import annotations

from .faults import Expect, Fault, parse_faults
from .grade import Finding, Grade, Severity, grade, junit, table
from .paths import PATHS, lifecycles
from .plan import Plan, build_plan
from .runner import Clock, Outcome, Send, http_sender, play, run_digest
from .simulation import Options, Result, prepare, simulate

__all__ = [
    "PATHS",
    "Clock",
    "Expect",
    "Fault",
    "Finding",
    "Grade",
    "Options",
    "Outcome",
    "Plan",
    "Result",
    "Send",
    "Severity",
    "build_plan",
    "grade",
    "http_sender",
    "junit",
    "lifecycles",
    "parse_faults",
    "play",
    "prepare",
    "run_digest",
    "simulate",
    "table",
]
