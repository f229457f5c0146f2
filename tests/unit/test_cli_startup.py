"""The commands over the API start without the server: run in a fresh interpreter, none of
its modules is imported (a module-presence check, not a timing one)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from rampwire.cli.main import COMMANDS, main

REMOTE = [
    "orders",
    "endpoints",
    "deliveries",
    "events",
    "inbound",
    "sources",
    "partners",
    "profiles",
    "listen",
]
SERVER = [
    "uvicorn",
    "asyncpg",
    "aiosqlite",
    "aiohttp",
    "prometheus_client",
    "uvloop",
    "rampwire.api",
    "rampwire.repository",
    "rampwire.services",
    "rampwire.storage",
    "rampwire.settings",
    "rampwire.metrics",
    "rampwire.tracing",
    "rampwire.crypto",
]

RUN = """
import json, sys
import click
from click.testing import CliRunner
from rampwire.cli.main import main
for name in sys.argv[1:]:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, (name, result.output)
    for sub in getattr(main.get_command(None, name), "commands", {}):
        result = CliRunner().invoke(main, [name, sub, "--help"])
        assert result.exit_code == 0, (name, sub, result.output)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_commands_over_the_api_import_nothing_of_the_server() -> None:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *REMOTE], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "rampwire.client" in loaded  # what they do need
    heavy = {m for m in loaded if any(m == s or m.startswith(f"{s}.") for s in SERVER)}
    assert not heavy


def test_help_lists_every_command_and_each_one_loads() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:")[1]
    for name in COMMANDS:
        assert f"  {name} " in listed, name
        assert main.get_command(click.Context(main), name) is not None
    assert set(REMOTE) < set(COMMANDS)


def test_settings_are_read_only_by_the_commands_that_use_them() -> None:
    env = {"RAMPWIRE_PORT": "eighty"}
    assert CliRunner().invoke(main, ["orders", "list", "--help"], env=env).exit_code == 0
    refused = CliRunner().invoke(main, ["keys", "list"], env=env)
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: RAMPWIRE_PORT must be an integer"), refused.output
