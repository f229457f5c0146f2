"""The worker process's CPU per delivery over drains, this tree's code against another commit's,
alternating in the same run: what a change to the send path saves, with the machine's other
load spread over both sides (issue 23's drain is bound by the worker's core).

Each drain is a child process with the code under test first on its path (``PYTHONPATH``: this
tree's ``src`` or ``git archive`` of ``--base``): a fresh database, one ``standard`` endpoint on
the fast receiver, ``--events`` orders queued, then one worker (metrics on, as
``delivery.py``'s drain) drains them while :class:`~harness.cpu.CpuMeter` counts this process's
CPU. Rounds alternate which side goes first; the saving is the median of the rounds' ratios.
``--profile DIR`` also records each drain with py-spy (raw collapsed stacks, for
``harness/stacks.py``), ``--cprofile DIR`` with cProfile (call counts; slows the drain);
``--callgrind DIR`` counts the drain's instructions under valgrind instead of its CPU time.

    cd bench && ../.venv/bin/python drain_ab.py --base HEAD~1 --events 15000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import uvloop
from harness.cpu import CpuMeter
from harness.databases import PG_ADMIN_URL, fresh_database
from harness.receiver import ReceiverProcess
from harness.report import loadavg
from harness.workload import count_succeeded, make_endpoint, queue_orders

from rampwire import heap
from rampwire.crypto import SecretBox
from rampwire.metrics import Metrics
from rampwire.repository import OrderRepository
from rampwire.repository.endpoints import EndpointRepository
from rampwire.services.worker import Worker, WorkerOptions
from rampwire.ssrf import TargetPolicy

HERE = Path(__file__).resolve().parent
CONCURRENCY = 256  # as delivery.py's drain: worker concurrency = endpoint max_in_flight
DRAIN_DEADLINE_S = 60.0
PY_SPY = os.environ.get("PY_SPY", "/tmp/pyspy/bin/py-spy")


async def drain(
    backend: str, events: int, spy: str | None, profile: str | None, callgrind: bool
) -> dict[str, object]:
    """One drain in this process: the figures as a dict (printed as JSON by the child). Under
    callgrind, instructions are counted over the middle of the drain (:func:`_counted`), and the
    CPU meter's sampler (a query every 0.25 s, many more in the slowed run) is not run."""
    receiver = ReceiverProcess(0.0)
    receiver.start()
    try:
        async with fresh_database(backend, PG_ADMIN_URL) as db:
            box = SecretBox(os.urandom(32))
            endpoint = await make_endpoint(EndpointRepository(db, box), receiver.url, CONCURRENCY)
            await queue_orders(OrderRepository(db), events)
            worker = Worker(
                db,
                box,
                policy=TargetPolicy(allow_private=True),
                options=WorkerOptions(concurrency=CONCURRENCY),
                metrics=Metrics(enabled=True),
            )
            stop = asyncio.Event()
            spying = None
            if spy:
                spying = subprocess.Popen(
                    [
                        PY_SPY,
                        "record",
                        "--pid",
                        str(os.getpid()),
                        "-r",
                        "250",
                        "-f",
                        "raw",
                        "-o",
                        spy,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                await asyncio.sleep(1.0)  # py-spy attaches
            profiler = cProfile.Profile() if profile else None
            meter = CpuMeter(db, [receiver.proc.pid] if receiver.proc else [])
            counted = (0, 0)  # under callgrind: worker.sent when counting started and stopped
            async with contextlib.nullcontext(meter) if callgrind else meter as cpu:
                if profiler is not None:
                    profiler.enable()
                started = time.perf_counter()
                task = asyncio.create_task(worker.run(stop))
                deadline = started + DRAIN_DEADLINE_S
                if callgrind:
                    counted = await _counted(worker, events, deadline)
                while worker.sent < events and time.perf_counter() < deadline:
                    await asyncio.sleep(0.01)
                while time.perf_counter() < deadline:
                    if await count_succeeded(db, endpoint.id) >= events:
                        break
                    await asyncio.sleep(0.02)
                elapsed = time.perf_counter() - started
                if profiler is not None:
                    profiler.disable()
                stop.set()
                await task
            if spying is not None:
                spying.send_signal(signal.SIGINT)
                spying.wait(timeout=30)
            if profiler is not None and profile:
                profiler.dump_stats(profile)
            done = await count_succeeded(db, endpoint.id)
            if callgrind:
                return {"done": done, "counted": counted[1] - counted[0], "load": loadavg()}
            return {
                "done": done,
                "rate": done / elapsed,
                "cpu_us": cpu.own / max(done, 1) * 1e6,
                "postgres_us": cpu.postgres / max(done, 1) * 1e6,
                "claims": worker.claims,
                "records": worker.record_batches,
                "note": cpu.note(),
                "load": loadavg(),
            }
    finally:
        receiver.stop()


async def _counted(worker: Worker, events: int, deadline: float) -> tuple[int, int]:
    """Count instructions while the drain is in its steady state, from 20 % to 80 % of the
    sends (the connections' set-up, the start and the stop left out); the sends made meanwhile.
    The loop blocks while callgrind_control runs, so nothing is sent between a toggle and
    reading the count."""
    counted = []
    for share, state in ((0.2, "on"), (0.8, "off")):
        while worker.sent < events * share and time.perf_counter() < deadline:
            await asyncio.sleep(0.002)
        subprocess.run(
            ["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True
        )
        counted.append(worker.sent)
    return counted[0], counted[1]


def child(args: argparse.Namespace) -> None:
    with heap.settled():  # as in `rampwire worker`
        figures = uvloop.run(
            drain(args.backend, args.events, args.spy, args.cprofile, args.callgrind is not None)
        )
    print("RESULT " + json.dumps(figures), flush=True)


def run_side(src: Path, args: argparse.Namespace, tag: str) -> tuple[float, str]:
    """One drain in a child process with ``src`` first on its path: (the figure, a line)."""
    command = [sys.executable, str(HERE / "drain_ab.py"), "--child", "--backend", args.backend]
    command += ["--events", str(args.events)]
    if args.profile:
        command += ["--spy", str(Path(args.profile) / f"{tag}.txt")]
    if args.cprofile:
        command += ["--cprofile", str(Path(args.cprofile) / f"{tag}.prof")]
    counted = Path(args.callgrind) / f"{tag}.out" if args.callgrind else None
    if counted is not None:
        command += ["--callgrind", str(counted)]  # the child knows it is counted
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        command = [*valgrind, f"--callgrind-out-file={counted}", *command]
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(command, env=env, cwd=HERE, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"the drain failed:\n{out.stderr[-3000:]}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    got = json.loads(line.removeprefix("RESULT "))
    if counted is not None:
        instructions = _instructions(counted)
        per = instructions / max(got["counted"], 1)
        return per, (
            f"{per:,.0f} instructions per send over {got['counted']:,} sends"
            f" ({got['done']:,} delivered); load {got['load']}"
        )
    return float(got["cpu_us"]), (
        f"{got['cpu_us']:,.1f} us worker CPU per delivery, {got['rate']:,.0f}/s, PostgreSQL"
        f" {got['postgres_us']:,.1f} us; {got['claims']} claims, {got['records']} records;"
        f" load {got['load']}; {got['note']}"
    )


def _instructions(path: Path) -> int:
    """The instructions callgrind counted (its ``totals:`` line)."""
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no instruction count in {path}")


def parent(args: argparse.Namespace) -> None:
    root = Path(subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip())
    head = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    base = subprocess.check_output(["git", "rev-parse", "--short", args.base], text=True).strip()
    dirty = subprocess.check_output(["git", "status", "--porcelain", "src"], text=True).strip()
    folder = Path(tempfile.mkdtemp(prefix="rampwire_ab_"))
    try:
        archive = subprocess.run(
            ["git", "archive", base, "src"], cwd=root, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
        shutil.copytree(root / "src", folder / "new" / "src")  # edits meanwhile do not count
        new = f"new {head}{'+' if dirty else ''}"
        sides = {f"base {base}": folder / "src", new: folder / "new" / "src"}
        print(f"{args.backend}, {args.events:,} events a drain; load average {loadavg()}")
        names = list(sides)
        unit = "instructions" if args.callgrind else "us"
        figures: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for index, name in enumerate(names if round_ % 2 == 0 else names[::-1]):
                tag = f"{round_}-{'base' if name.startswith('base') else 'new'}"
                figure, line = run_side(sides[name], args, tag)
                figures[name].append(figure)
                print(f"  round {round_ + 1}.{index + 1} {name}: {line}", flush=True)
        base_name, new_name = names
        pairs = zip(figures[base_name], figures[new_name], strict=True)
        ratios = [(n / b - 1) * 100 for b, n in pairs]
        for name in names:
            listed = ", ".join(f"{c:,.1f}" for c in figures[name])
            print(f"{name}: median {median(figures[name]):,.1f} {unit} ({listed})")
        print(
            f"new against base: median {median(ratios):+.1f} %"
            f" (rounds {', '.join(f'{r:+.1f}' for r in ratios)}); load average {loadavg()}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="the commit to compare this tree against")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--events", type=int, default=15_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", help="a folder for py-spy's raw stacks of each drain")
    parser.add_argument("--cprofile", help="a folder for cProfile's stats of each drain")
    parser.add_argument(
        "--callgrind",
        help="a folder for callgrind's counts: instructions per delivery instead of CPU time"
        " (repeatable whatever the load; a drain runs ~50 times slower: use a few thousand)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        for folder in (args.profile, args.cprofile, args.callgrind):
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)
        parent(args)


if __name__ == "__main__":
    main()
