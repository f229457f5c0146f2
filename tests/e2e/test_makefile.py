"""The Makefile's first-run targets, read with ``make -n`` (nothing is installed): ``run``
installs the runtime dependencies only, ``test`` the development tools too."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from tests.e2e.test_readme import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned(target: str) -> list[str]:
    """The commands ``make`` would run for ``target`` on a fresh checkout."""
    done = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if "pip install" in line]


def test_run_installs_the_runtime_dependencies_only() -> None:
    installs = planned("run")
    assert any(line.endswith("-e .") for line in installs), installs
    assert not any("[dev]" in line for line in installs), installs


def test_test_installs_the_development_tools() -> None:
    assert any("-e '.[dev]'" in line for line in planned("test"))
