"""The CLI over the API, as a user runs it: subprocesses against a real ``rampwire serve``,
tables by default and ``--json`` for scripts, a profile file, and refusals as one line with
exit code 1."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.support.served import Served, served

RAMPWIRE = [sys.executable, "-m", "rampwire"]
TIMEOUT_S = 60.0  # one command
CLI_TEST_TIMEOUT_S = 400  # one test: tens of commands


class Cli:
    def __init__(self, server: Served, home: Path, **env: str) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAMPWIRE_")},
            "RAMPWIRE_CONFIG": str(home / "config.toml"),
            "RAMPWIRE_URL": server.url,
            "RAMPWIRE_API_KEY": server.admin_key,
            **env,
        }

    def __call__(
        self, *args: str, without: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in self.env.items() if k not in without}
        return subprocess.run(
            [*RAMPWIRE, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )

    def ok(self, *args: str, without: tuple[str, ...] = ()) -> str:
        done = self(*args, without=without)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 1, one line on stderr naming the problem, no traceback."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert "Traceback" not in done.stderr
    assert all(word in lines[0] for word in words), lines[0]


def columns(table: str) -> list[list[int]]:
    """Where each column starts, per line: equal for every line of an aligned table."""
    starts = []
    for line in table.splitlines():
        starts.append(
            [i for i in range(len(line)) if line[i] != " " and (i == 0 or line[i - 2 : i] == "  ")]
        )
    return starts


@pytest.mark.timeout(CLI_TEST_TIMEOUT_S)
async def test_orders_endpoints_deliveries_and_events(tmp_path: Path, sqlite_url: str) -> None:
    async with served(tmp_path / "server", sqlite_url) as server:
        cli = Cli(server, tmp_path)
        order = cli.json("orders", "create", "--side", "buy", "--fiat", "EUR:100.00")
        assert order["fiat"] == {"currency": "EUR", "amount": "100.00"}
        cli.ok("orders", "create", "--side", "sell")
        table = cli.ok("orders", "list")
        lines = table.splitlines()
        assert lines[0].split() == [
            "ID",
            "STATUS",
            "SIDE",
            "FIAT.CURRENCY",
            "FIAT.AMOUNT",
            "VERSION",
            "UPDATED_AT",
        ]
        assert len(lines) == 3 and lines[2].startswith(order["id"])
        assert columns(table)[0][:5] == columns(table)[2][:5]  # aligned
        assert [o["id"] for o in cli.json("orders", "list", "--limit", "1")] != [order["id"]]
        assert "status  created" in cli.ok("orders", "get", order["id"]).replace("      ", "  ")

        changed = cli.ok("orders", "change", order["id"], "--status", "completed")
        assert "completed" in changed and "event: evt_" in changed
        refused(cli("orders", "change", order["id"], "--status", "processing"), "409", "completed")
        timeline = cli.json("orders", "timeline", order["id"])
        assert [e["to_status"] for e in timeline] == ["created", "completed"]

        endpoint = cli.json(
            "endpoints", "create", "http://127.0.0.1:9/h", "--event-type", "order.*"
        )
        assert endpoint["secret"].startswith("whsec_")
        assert endpoint["id"] in cli.ok("endpoints", "list")
        updated = cli.json("endpoints", "update", endpoint["id"], "--description", "laptop")
        assert updated["description"] == "laptop"
        secrets = cli.json("endpoints", "rotate-secret", endpoint["id"])
        assert len(secrets) == 2

        cli.ok("orders", "create", "--side", "sell")  # one delivery to the endpoint
        [delivery] = cli.json("deliveries", "list", "--endpoint", endpoint["id"])
        shown = cli.ok("deliveries", "get", delivery["id"])
        assert delivery["id"] in shown and "order.created" in shown
        replay = cli.json("deliveries", "replay", delivery["id"])
        assert replay["event_id"] == delivery["event_id"]
        recovered = cli("deliveries", "recover", "--since", "2020-01-01T00:00:00Z")
        assert recovered.returncode == 0 and "recovering" in recovered.stderr
        assert "replayed on 1 endpoints" in recovered.stdout
        went = cli.json("events", "get", delivery["event_id"])
        assert {d["id"] for d in went} >= {delivery["id"], replay["id"]}
        assert [d["event_id"] for d in cli.json("events", "resend", delivery["event_id"])] == [
            delivery["event_id"]
        ]
        assert "order.completed" in cli.ok("events", "types")
        assert isinstance(cli.json("events", "list", "--endpoint", endpoint["id"]), list)
        assert cli.ok("endpoints", "delete", endpoint["id"]) == f"deleted {endpoint['id']}\n"
        refused(cli("endpoints", "get", endpoint["id"]), "404")


# Each command is a new Python process (about 3 s on a loaded 2-core machine): more than the
# default per-test timeout for these walks.
@pytest.mark.timeout(CLI_TEST_TIMEOUT_S)
async def test_partners_sources_and_inbound(tmp_path: Path, sqlite_url: str) -> None:
    async with served(tmp_path / "server", sqlite_url) as server:
        cli = Cli(server, tmp_path)
        partner = cli.json("partners", "create", "--name", "Acme", "--metadata", '{"a": 1}')
        assert partner["metadata"] == {"a": 1}
        assert cli.json("partners", "suspend", partner["id"])["status"] == "suspended"
        assert (
            cli.ok("partners", "list", "--status", "suspended")
            .splitlines()[1]
            .startswith(partner["id"])
        )
        assert cli.json("partners", "resume", partner["id"])["status"] == "active"
        key = cli.json("partners", "key", partner["id"], "--name", "app")
        assert key["token"].startswith("rw_") and key["scope"] == "write"
        bad_json = cli("partners", "create", "--name", "x", "--metadata", "[1]")
        assert bad_json.returncode == 2 and "JSON object" in bad_json.stderr

        token = "tok_0123456789abcdef"
        source = cli.json(
            "sources", "add", "--provider", "transak", "--name", "Transak prod",
            "--credentials", json.dumps({"access_token": token}),
        )  # fmt: skip
        assert source["credentials"] == ["access_token"]
        assert cli.json("sources", "disable", source["id"])["enabled"] is False
        assert cli.json("sources", "enable", source["id"])["enabled"] is True
        listed = cli.ok("sources", "list")
        assert source["id"] in listed and token not in listed
        refused(
            cli(
                "sources",
                "add",
                "--provider",
                "revolut",
                "--name",
                "r",
                "--credentials",
                '{"secrets": []}',
            ),
            "422",
            "credentials.secrets",
        )
        assert cli.ok("sources", "delete", source["id"]) == f"deleted {source['id']}\n"
        assert cli.ok("sources", "list") == "no sources\n"
        assert cli.ok("inbound", "list") == "nothing received\n"


@pytest.mark.timeout(CLI_TEST_TIMEOUT_S)
async def test_a_profile_file_and_a_bad_key(tmp_path: Path, sqlite_url: str) -> None:
    async with served(tmp_path / "server", sqlite_url) as server:
        cli = Cli(server, tmp_path)
        anonymous = ("RAMPWIRE_URL", "RAMPWIRE_API_KEY")
        refused(cli("orders", "list", without=anonymous), "no API key", "profiles set")
        refused(cli("orders", "list", "--profile", "work", without=anonymous), "no profile 'work'")

        cli.ok("profiles", "set", "work", "--url", server.url, "--api-key", server.admin_key)
        config = tmp_path / "config.toml"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert server.admin_key not in cli.ok("profiles", "list")  # shortened
        assert cli.ok("orders", "list", "--profile", "work", without=anonymous) == "no orders\n"
        refused(cli("orders", "list", without=anonymous), "no API key")  # no default profile
        cli.ok("profiles", "set", "default", "--url", server.url, "--api-key", server.admin_key)
        assert cli.ok("orders", "list", without=anonymous) == "no orders\n"

        refused(cli("orders", "list", "--api-key", "rw_not_a_key"), "401", "--api-key")
        cli.ok("profiles", "set", "stale", "--url", server.url, "--api-key", "rw_revoked")
        refused(cli("orders", "list", "--profile", "stale", without=anonymous), "401")
        cli.ok("profiles", "remove", "stale")
        refused(cli("orders", "list", "--url", "http://127.0.0.1:1"), "127.0.0.1:1")
