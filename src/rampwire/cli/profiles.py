"""Named connections to rampwire servers, in ``~/.config/rampwire/config.toml``::

    [profiles.staging]
    url = "https://rampwire.staging.example"
    api_key = "rw_..."

``rampwire profiles set`` writes it (the file readable by its owner only, 0600, since it holds
keys); ``--profile NAME`` or ``RAMPWIRE_PROFILE`` picks one, and a profile named ``default`` is
used when no URL, key or profile is given. ``RAMPWIRE_CONFIG`` names another file.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import click

from .tables import table

CONFIG_VARIABLE = "RAMPWIRE_CONFIG"
DEFAULT_PROFILE = "default"
FILE_MODE = 0o600  # owner read/write: the file holds API keys


@dataclass(frozen=True)
class Profile:
    name: str
    url: str | None = None
    api_key: str | None = None


def config_path() -> Path:
    if given := os.environ.get(CONFIG_VARIABLE):
        return Path(given)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rampwire" / "config.toml"


def load(path: Path | None = None) -> dict[str, Profile]:
    """Every profile in the file; none when there is no file. A file that is not TOML, or a
    profile that is not a table of strings, is a clear error."""
    path = path or config_path()
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise click.ClickException(f"{path}: [profiles] must be a table")
    found = {}
    for name, values in profiles.items():
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise click.ClickException(
                f"{path}: [profiles.{name}] must hold url and api_key strings"
            )
        found[name] = Profile(name, values.get("url"), values.get("api_key"))
    return found


def save(profiles: dict[str, Profile], path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# rampwire CLI profiles (rampwire profiles set); holds API keys: keep it 0600", ""]
    for profile in profiles.values():
        lines.append(f"[profiles.{json.dumps(profile.name)}]")
        for key in ("url", "api_key"):
            value = getattr(profile, key)
            if value is not None:
                lines.append(f"{key} = {json.dumps(value)}")  # a JSON string is a TOML string
        lines.append("")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines))
    os.chmod(path, FILE_MODE)  # an older file keeps its mode through O_CREAT: set it
    return path


def pick(name: str | None) -> Profile | None:
    """The profile named, or ``default`` if there is one and none was named."""
    profiles = load()
    if name is None:
        return profiles.get(DEFAULT_PROFILE)
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise click.ClickException(
            f"no profile {name!r} in {config_path()} (profiles: {known});"
            f" add it with: rampwire profiles set {name} --url URL --api-key KEY"
        )
    return profiles[name]


def _masked(key: str | None) -> str:
    return "-" if not key else key[:6] + "…" + key[-4:] if len(key) > 12 else "…"


@click.group("profiles")
def profiles_group() -> None:
    """Named rampwire servers and keys for the commands over the API (a local file, 0600)."""


@profiles_group.command("set")
@click.argument("name")
@click.option("--url", required=True, help="The server, e.g. https://rampwire.example.")
@click.option("--api-key", required=True, help="An API key of that server.")
def profiles_set(name: str, url: str, api_key: str) -> None:
    """Add or replace profile NAME (use it with --profile NAME; 'default' needs no flag)."""
    profiles = load()
    profiles[name] = Profile(name, url.rstrip("/"), api_key)
    click.echo(f"profile {name} saved in {save(profiles)}")


@profiles_group.command("list")
def profiles_list() -> None:
    """The profiles, keys shortened."""
    profiles = load()
    if not profiles:
        click.echo(f"no profiles in {config_path()}")
        return
    rows = [[p.name, p.url or "-", _masked(p.api_key)] for p in profiles.values()]
    click.echo(table(rows, ["name", "url", "api_key"]))


@profiles_group.command("remove")
@click.argument("name")
def profiles_remove(name: str) -> None:
    """Forget profile NAME."""
    profiles = load()
    if profiles.pop(name, None) is None:
        raise click.ClickException(f"no profile {name!r} in {config_path()}")
    save(profiles)
    click.echo(f"profile {name} removed")


__all__ = ["Profile", "config_path", "load", "pick", "profiles_group", "save"]
