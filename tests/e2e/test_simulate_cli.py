"""`rampwire simulate` as a user runs it: the grade, JSON and JUnit, and the exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.support.receivers import receiver


async def run_simulate(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rampwire", "simulate", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_naive_receiver_fails_the_grade_with_exit_1(tmp_path: Path) -> None:
    report = tmp_path / "grade.xml"
    log = tmp_path / "requests.jsonl"
    async with receiver() as hooks:
        code, out, err = await run_simulate(
            "all", "--to", hooks.url, "--secret", "whsec_c2ltdWxhdGVkLXNlY3JldC0wMTIzNDU2Nzg5",
            "--orders", "4", "--seed", "1", "--fault", "all=0.5", "--json", "--junit", str(report),
            "--log", str(log),
        )  # fmt: skip
        received = len(hooks.requests)
    assert code == 1, err
    grades = json.loads(out)
    assert [g["dialect"] for g in grades] == ["revolut", "saber", "fireblocks", "koywe", "transak"]
    for grade in grades:
        assert grade["summary"]["security"] > 0
        assert {row["fault"] for row in grade["table"]} >= {"none", "wrong_key", "tampered"}
    assert "<failure" in report.read_text()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == received == sum(g["requests"] for g in grades)
    assert {r["fault"] for r in records} >= {"none", "alg_none", "unknown_kid", "python_json"}


async def test_a_good_receiver_passes_and_reliability_findings_need_strict() -> None:
    async with receiver() as hooks:
        hooks.answer = lambda got: (
            401 if got.headers.get("Content-Type") != "application/json" else 200
        )
        code, out, _ = await run_simulate(
            "koywe", "--to", hooks.url, "--secret", "k", "--orders", "3", "--quiet",
            "--fault", "duplicate=1", "--fault", "content_type=1",
        )  # fmt: skip
        assert code == 0
        assert "findings: none" in out
        assert "seed " in out

        hooks.answer = lambda _: 503
        code, out, _ = await run_simulate(
            "revolut", "--to", hooks.url, "--secret", "s", "--orders", "1", "--quiet",
            "--speed", "100000",
        )  # fmt: skip
        assert code == 0
        assert "reliability" in out
        code, _, _ = await run_simulate(
            "revolut", "--to", hooks.url, "--secret", "s", "--orders", "1", "--quiet",
            "--speed", "100000", "--strict",
        )  # fmt: skip
        assert code == 2


async def test_bad_options_are_clear_errors() -> None:
    code, _, err = await run_simulate(
        "revolut", "--to", "http://127.0.0.1:9/", "--secret", "s", "--fault", "gremlins"
    )
    assert code == 2
    assert "no fault is called 'gremlins'" in err
    code, _, err = await run_simulate(
        "revolut", "--to", "http://127.0.0.1:9/", "--secret", "s", "--paths", "expired"
    )
    assert code == 2
    assert "revolut plays none of: expired" in err
    code, _, err = await run_simulate("saber", "--to", "http://127.0.0.1:9/")
    assert code == 2
    assert "saber needs --secret" in err
    code, _, err = await run_simulate("saber", "--to", "127.0.0.1:9/hooks", "--secret", "s")
    assert code == 2
    assert "is not an http:// or https:// URL" in err
    code, _, err = await run_simulate("saber", "--to", "http://127.0.0.1:9/", "--speed", "0")
    assert code == 2
    assert "--speed" in err
    code, _, err = await run_simulate(
        "revolut", "--scenario", "/nonexistent.toml", "--to", "http://x/"
    )
    assert code == 2
    assert "does not exist" in err
