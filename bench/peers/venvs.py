"""Each peer's own virtualenv, outside the repository and never in rampwire's dependencies:
``python -m venv`` and ``pip install`` of pinned versions under a cache directory, made once and
reused while its pins stay the same (a stamp file holds them).

The cache is ``$RAMPWIRE_BENCH_PEERS_CACHE`` or ``~/.cache/rampwire-bench-peers``; remove a
peer's directory there to rebuild it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

INSTALL_TIMEOUT_S = 600.0  # pip install of one peer's pins


@dataclass(frozen=True)
class PeerEnv:
    name: str
    pins: tuple[str, ...]  # requirement specifiers, each pinned with ==

    @property
    def folder(self) -> Path:
        root = os.environ.get("RAMPWIRE_BENCH_PEERS_CACHE") or str(
            Path.home() / ".cache" / "rampwire-bench-peers"
        )
        return Path(root) / self.name

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"

    def ensure(self) -> Path:
        """The peer's Python, after creating its virtualenv if its pins changed."""
        stamp = self.folder / "pins.txt"
        wanted = "\n".join(self.pins) + "\n"
        if self.python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return self.python
        print(f"  making the {self.name} virtualenv in {self.folder}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(self.folder)],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        subprocess.run(
            [str(self.python), "-m", "pip", "install", "--quiet", *self.pins],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        stamp.write_text(wanted)
        return self.python

    def versions(self) -> str:
        return ", ".join(pin.replace("==", " ") for pin in self.pins)


PROCRASTINATE = PeerEnv(
    "procrastinate",
    (
        "procrastinate==3.10.0",
        "psycopg[binary,pool]==3.3.9",
        "psycopg-pool==3.3.3",
        "aiohttp==3.14.5",
        "uvloop==0.23.0",
    ),
)

# the same server stack as rampwire's (versions as in its own virtualenv), so the difference
# measured is the handler's
FASTAPI_HANDLER = PeerEnv(
    "fastapi-handler",
    (
        "fastapi==0.165.0",
        "uvicorn==0.55.0",
        "uvloop==0.23.0",
        "httptools==0.9.0",
        "asyncpg==0.32.0",
    ),
)

# django-webhook's own requirements (celery 5, django < 6, requests), a Redis broker client and
# PostgreSQL's driver for Django
DJANGO_WEBHOOK = PeerEnv(
    "django-webhook",
    (
        "django-webhook==0.0.15",
        "django==5.2.19",
        "celery[redis]==5.7.0",
        "psycopg[binary]==3.3.9",
    ),
)
