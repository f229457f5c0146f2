"""The bounded subset of the chaos suite (tests/chaos/scenarios.py) that ``make test`` runs:
real ``serve`` and ``rampwire worker`` processes, a real receiver, PostgreSQL through a proxy
the test controls. ``make chaos`` runs the full set (SIGKILLs of ``rampwire worker`` and of
``serve`` on PostgreSQL too, both topologies for the outage and the restart), longer, and
prints the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.chaos.scenarios import HEADER, Report, hanging, held_by_the_dead, kills, outage, row


def passed(report: Report) -> bool:
    print(f"\n{HEADER}\n{row(report)}")  # shown with -s, and on failure
    return not report.failures


@pytest.mark.timeout(90)
async def test_sigkill_of_serve_on_sqlite_loses_no_acknowledged_change(tmp_path: Path) -> None:
    report = await kills("sqlite", tmp_path, target="serve", count=3)
    assert passed(report), report


@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_a_10_s_postgresql_outage_is_a_503_and_the_worker_recovers(
    tmp_path: Path, postgres_url: str
) -> None:
    report = await outage(postgres_url, tmp_path, down_s=10, in_process_worker=False)
    assert passed(report), report


@pytest.mark.postgres
@pytest.mark.timeout(90)
async def test_a_postgresql_restart_leaves_serve_delivering(
    tmp_path: Path, postgres_url: str
) -> None:
    report = await outage(postgres_url, tmp_path, down_s=1, in_process_worker=True)
    assert passed(report), report


@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_a_hanging_endpoint_with_a_backlog_does_not_hold_up_a_healthy_one(
    tmp_path: Path, postgres_url: str
) -> None:
    report = await hanging(postgres_url, tmp_path, backlog=2000, bound_s=20.0)
    assert passed(report), report


@pytest.mark.timeout(90)
async def test_deliveries_held_by_a_killed_serve_go_out_within_20_s(tmp_path: Path) -> None:
    report = await held_by_the_dead("sqlite", tmp_path)
    assert passed(report), report
