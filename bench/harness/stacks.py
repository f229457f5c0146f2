"""Where a process's CPU goes, from py-spy's collapsed stacks (``py-spy record --pid PID -d 20
-f raw -o stacks.txt``), as shares by function group: each sample is counted once, under the
first group (in :data:`GROUPS`' order) that any frame of its stack falls in, so the shares add
up to 100 %. Samples taken while the process imported its modules (a worker process profiled
from its start) are left out and counted apart. Also the top self (leaf) functions, and the
rampwire functions with the largest inclusive shares. With ``--threads``, the shares by thread
too; they count samples, and py-spy counts a thread blocked in C (aiosqlite's ``SimpleQueue.get``,
a span exporter's ``Event.wait``) as active: for CPU by thread, ``harness.cpu.CpuMeter.by_thread``.

    .venv/bin/python bench/harness/stacks.py stacks.txt [more.txt ...]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# (group, pattern on a frame "function (file:line)"); the first match in this order wins, so
# the specific groups come before the ones that hold them (a claim runs under the worker)
GROUPS: list[tuple[str, str]] = [
    # a span's context manager is on the stack only while it opens or closes, not around the
    # awaits inside it, so this group holds what the spans themselves cost
    ("tracing (opentelemetry, rampwire/tracing)", r"opentelemetry/|rampwire/tracing/"),
    ("asyncpg (driver), wherever called", r"asyncpg/"),
    ("dialects: verify + decode (ingest), encode + sign (worker)", r"rampwire/dialects/"),
    ("ingest: fold into orders (domain)", r"rampwire/domain/"),
    ("ingest: group commit write (repository)", r"rampwire/repository/(inbound|provider_orders)"),
    ("worker: claim (repository/deliveries)", r"repository/deliveries\.py.*(claim|_claim)"),
    ("worker: record results (repository/deliveries)", r"repository/deliveries\.py"),
    ("worker: sign and send (delivery/sender, aiohttp)", r"delivery/sender|aiohttp/"),
    ("worker: scheduler, limits (delivery/)", r"rampwire/delivery/"),
    ("orders and outbox writes (repository)", r"rampwire/repository/"),
    ("storage layer (rampwire/storage)", r"rampwire/storage/"),
    ("ingest front (api/ingest, services/ingestor)", r"api/ingest|services/ingestor"),
    ("API framework (starlette, fastapi)", r"starlette/|fastapi/"),
    ("HTTP server (uvicorn, httptools)", r"uvicorn/|httptools"),
    ("worker loop (services/worker)", r"services/worker"),
    ("metrics, logging", r"prometheus_client|rampwire/metrics|logging/"),
    ("other rampwire", r"rampwire/"),
    ("event loop and the rest (uvloop, asyncio, idle)", r""),
]
_COMPILED = [(name, re.compile(pattern)) for name, pattern in GROUPS]
_IMPORT = re.compile(r"<frozen importlib\._bootstrap")
_THREAD = re.compile(r"^thread \(\w+\): ?(.*)$")  # the root frame of `py-spy record --threads`


def read(path: Path) -> list[tuple[list[str], int]]:
    """(frames from the root, sample count) per line of py-spy's raw output."""
    found = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            found.append((stack.split(";"), int(count)))
    return found


@dataclass
class Shares:
    groups: Counter[str] = field(default_factory=Counter)
    leaves: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)  # rampwire functions
    threads: Counter[str] = field(default_factory=Counter)  # by name, with --threads
    total: int = 0
    imports: int = 0


def shares(stacks: list[tuple[list[str], int]]) -> Shares:
    found = Shares()
    groups, leaves = found.groups, found.leaves
    for frames, count in stacks:
        if any(_IMPORT.search(frame) for frame in frames):
            found.imports += count
            continue
        found.total += count
        leaves[frames[-1]] += count
        thread = _THREAD.match(frames[0])
        if thread:
            # a thread's name without its number (asyncio_0, Thread-3 (_run)): one line per kind
            found.threads[re.sub(r"[-_]\d+", "", thread[1]) or "unnamed"] += count
        for function in {f.split(" (")[0] for f in frames if "rampwire/" in f}:
            found.inclusive[function] += count
        for name, pattern in _COMPILED:
            if any(pattern.search(frame) for frame in frames):
                groups[name] += count
                break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12, help="self functions shown")
    args = parser.parse_args()
    for path in args.files:
        found = shares(read(path))
        total = max(found.total, 1)
        print(f"{path}: {found.total:,} samples ({found.imports:,} more while importing, left out)")
        for name, count in found.groups.most_common():
            print(f"  {100 * count / total:5.1f} %  {name}")
        if found.threads:
            print("  by thread (recorded with --threads):")
            for name, count in found.threads.most_common():
                print(f"  {100 * count / total:5.1f} %  {name}")
        print("  top self (leaf) functions:")
        for name, count in found.leaves.most_common(args.top):
            print(f"  {100 * count / total:5.1f} %  {name[:110]}")
        print("  rampwire functions, inclusive:")
        for name, count in found.inclusive.most_common(args.top):
            print(f"  {100 * count / total:5.1f} %  {name[:110]}")


if __name__ == "__main__":
    main()
