"""The ``rampwire`` command. Sync at this edge, async inside.

Two kinds of commands: those that open the database, for the server's own machine (serve,
worker, migrate, keys, authorization, signing-key, master-key), and those over the API, for
anywhere (orders, endpoints, deliveries, events, inbound, sources, partners; cli/remote.py).

Each command's module is imported only when that command runs (or ``rampwire --help`` lists
them all): a command over the API never loads the server (uvicorn, storage, repositories,
metrics), and starts in a fraction of the time.
"""

from __future__ import annotations

from importlib import import_module

import click

# name -> (module in rampwire.cli, attribute): every command, one line each
COMMANDS: dict[str, tuple[str, str]] = {
    # on the server: they open the database (RAMPWIRE_DATABASE_URL)
    "migrate": ("server", "migrate_command"),
    "serve": ("server", "serve"),
    "worker": ("server", "worker"),
    "keys": ("keys", "keys"),
    "authorization": ("keys", "authorization_group"),
    "signing-key": ("signing", "signing_key_group"),
    "master-key": ("master_key", "master_key_group"),
    "simulate": ("simulate", "simulate_command"),
    "trigger": ("trigger", "trigger"),
    # over the API (--url/--api-key/--profile): cli/remote.py
    "orders": ("orders", "orders_group"),
    "endpoints": ("webhooks", "endpoints_group"),
    "deliveries": ("webhooks", "deliveries_group"),
    "events": ("webhooks", "events_group"),
    "inbound": ("sources", "inbound_group"),
    "sources": ("sources", "sources_group"),
    "partners": ("partners", "partners_group"),
    "listen": ("listen", "listen_command"),
    "profiles": ("profiles", "profiles_group"),
}


class _Commands(click.Group):
    """A group whose commands are imported from :data:`COMMANDS` when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        command = getattr(import_module(f".{module}", __package__), name)
        assert isinstance(command, click.Command) and command.name == cmd_name, cmd_name
        return command


@click.group(cls=_Commands)
@click.version_option(package_name="rampwire")
def main() -> None:
    """rampwire: order lifecycle and webhooks for crypto on/off-ramps.

    \b
    Over the API, from anywhere (--url/--api-key, RAMPWIRE_URL/RAMPWIRE_API_KEY or --profile):
      orders, endpoints, deliveries, events, inbound, sources, partners, profiles, listen
    On the server (they open the database: RAMPWIRE_DATABASE_URL):
      serve, worker, migrate, keys, authorization, signing-key, master-key
    Against a receiver of yours (provider webhooks, signed their way):
      simulate, trigger
    """
