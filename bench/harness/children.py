"""The bench's child processes (publishers, workers): stopped by their pid, SIGTERM and then
SIGKILL, and the files they wrote their results to removed."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Sequence
from typing import Any

STOP_WAIT_S = 5.0  # per signal


def stop_children(children: Sequence[tuple[Any, str]]) -> None:
    """``children``: (multiprocessing process, path of its output file) pairs."""
    for proc, out in children:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
            proc.join(STOP_WAIT_S)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join(STOP_WAIT_S)
        with contextlib.suppress(OSError):
            os.unlink(out)
