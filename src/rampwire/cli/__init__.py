"""The `rampwire` command line: one group, its commands in the modules beside this one."""

from .main import main

__all__ = ["main"]
